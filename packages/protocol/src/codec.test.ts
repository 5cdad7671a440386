import { describe, expect, it } from 'vitest';
import { decodeServerFrame, encodeFrame } from './codec.js';
import { ErrorCode } from './codes.js';
import type { ServerFrame } from './frames.js';
import { Limits } from './limits.js';

describe('decodeServerFrame', () => {
  it('accepts a snapshot and a friend update', () => {
    const friend = { userId: 'b' as string, lat: 1, lon: 2, distanceKm: 0.5, updatedAt: 5 };
    const snapshot: ServerFrame = {
      type: 'snapshot',
      userId: 'a',
      radiusKm: 8,
      maxRadiusKm: 50,
      sharing: true,
      inactiveAfterMs: 600_000,
      serverTime: 10,
      friends: [friend],
    };
    expect(decodeServerFrame(encodeFrame(snapshot))).toEqual({ ok: true, frame: snapshot });
    expect(decodeServerFrame(encodeFrame({ type: 'friend_update', friends: [friend] }))).toMatchObject({ ok: true });
  });

  it('treats a frame type from a newer server as unknown, not fatal', () => {
    expect(decodeServerFrame('{"type":"future_thing"}')).toMatchObject({ ok: false, code: 'unknown_type', fatal: false });
  });

  it('passes on a reason or code from a newer server, within the bound of such values', () => {
    const long = 'r'.repeat(Limits.MAX_ENUM_VALUE_LENGTH);
    const frames: ServerFrame[] = [
      { type: 'friend_left', userId: 'b', reason: 'teleported' },
      { type: 'stranger_left', id: 's', reason: long },
      { type: 'error', code: 'too_far_away', message: 'x', frameType: 'radius' },
      { type: 'reconnect', reason: 'rebalancing', delayMs: 5 },
    ];
    for (const frame of frames) expect(decodeServerFrame(encodeFrame(frame))).toEqual({ ok: true, frame });
    expect(decodeServerFrame(`{"type":"friend_left","userId":"b","reason":"${long}x"}`)).toMatchObject({
      ok: false,
      code: ErrorCode.INVALID_FRAME,
      message: `reason: expected a string of 1 to ${Limits.MAX_ENUM_VALUE_LENGTH} characters, got "${'r'.repeat(40)}…"`,
    });
    for (const text of [
      '{"type":"stranger_left","id":"s","reason":""}',
      '{"type":"error","code":7,"message":"x"}',
      '{"type":"reconnect","delayMs":1}',
    ]) {
      expect(decodeServerFrame(text), text).toMatchObject({ ok: false, code: ErrorCode.INVALID_FRAME });
    }
  });
});

describe('decodeServerFrame field checks', () => {
  const friend = { userId: 'b', lat: 1, lon: 2, distanceKm: 0.5, updatedAt: 5 };

  it('accepts every server frame type and drops unknown fields, also inside friends', () => {
    const frames: ServerFrame[] = [
      { type: 'friend_update', friends: [friend] },
      { type: 'friend_left', userId: 'b', reason: 'sharing_off' },
      { type: 'friend_added', userId: 'b' },
      { type: 'friend_removed', userId: 'b' },
      { type: 'ack', seq: 2_147_483_647, count: 0 },
      { type: 'error', code: 'rate_limited', message: '', seq: 0, frameType: 'location' },
      { type: 'error', code: 'internal', message: 'x' },
      { type: 'pong', id: 4, serverTime: 9_999_999_999_999 },
      { type: 'pong', serverTime: 0 },
      { type: 'reconnect', reason: 'draining', delayMs: 0 },
      { type: 'discovery_state', discoverable: true, seeStrangers: false },
      { type: 'stranger_update', strangers: [{ id: 'Zk3v9x0aQm1bT7cE', lat: 52.5199, lon: 13.4033, distanceKm: 2, updatedAt: 1_700_000_010_000 }] },
      { type: 'stranger_update', strangers: [{ id: 'x', lat: 0, lon: 0, distanceKm: 0, updatedAt: 0, display: { name: 'Ana' } }] },
      { type: 'stranger_left', id: 'Zk3v9x0aQm1bT7cE', reason: 'displaced' },
      { type: 'error', code: 'not_allowed', message: 'not allowed', frameType: 'discovery' },
    ];
    for (const frame of frames) expect(decodeServerFrame(encodeFrame(frame))).toEqual({ ok: true, frame });
    const extra = { type: 'friend_update', future: 1, friends: [{ ...friend, heading: 90 }] };
    expect(decodeServerFrame(JSON.stringify(extra))).toEqual({
      ok: true,
      frame: { type: 'friend_update', friends: [friend] },
    });
    const stranger = { id: 's', lat: 1, lon: 2, distanceKm: 3, updatedAt: 30_000 };
    const extraStranger = { type: 'stranger_update', strangers: [{ ...stranger, userId: 'real', heading: 90 }] };
    expect(decodeServerFrame(JSON.stringify(extraStranger))).toEqual({
      ok: true,
      frame: { type: 'stranger_update', strangers: [stranger] },
    });
  });

  it('does not mistake an inherited property name for a frame type', () => {
    for (const type of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(decodeServerFrame(JSON.stringify({ type }))).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_TYPE });
    }
  });

  it('names the path, the expectation and the value it refused', () => {
    const frame = { type: 'friend_update', friends: [friend, { ...friend, lat: 91 }] };
    expect(decodeServerFrame(JSON.stringify(frame))).toEqual({
      ok: false,
      code: ErrorCode.INVALID_FRAME,
      message: 'friends.1.lat: expected a number in [-90, 90], got 91',
      fatal: false,
      frameType: 'friend_update',
    });
    expect(decodeServerFrame('{"type":"ack","seq":1}')).toMatchObject({
      message: 'count: expected an integer >= 0, got nothing',
    });
    expect(decodeServerFrame('{"type":"friend_added","userId":""}')).toMatchObject({
      message: 'userId: expected a string of 1 to 256 characters, got ""',
    });
    expect(decodeServerFrame('{"type":"friend_update","friends":[]}')).toMatchObject({
      message: 'friends: expected an array of at least 1 items, got an array of 0',
    });
    expect(decodeServerFrame('{"type":"reconnect","reason":"","delayMs":1}')).toMatchObject({
      message: `reason: expected a string of 1 to ${Limits.MAX_ENUM_VALUE_LENGTH} characters, got ""`,
    });
  });

  it('refuses a number too large for a double (1e309 parses as Infinity)', () => {
    expect(decodeServerFrame('{"type":"friend_update","friends":[{"userId":"b","lat":1,"lon":2,"distanceKm":1e309,"updatedAt":5}]}')).toMatchObject({
      ok: false,
      code: ErrorCode.INVALID_FRAME,
      message: 'friends.0.distanceKm: expected a number >= 0, got Infinity',
    });
  });

  it('refuses integers beyond 2^53, where they stop being exact', () => {
    expect(decodeServerFrame('{"type":"ack","seq":1,"count":9007199254740992}')).toMatchObject({ ok: false });
    expect(decodeServerFrame('{"type":"ack","seq":1,"count":9007199254740991}')).toMatchObject({ ok: true });
  });
});
