import { describe, expect, it } from 'vitest';
import { LeaveReason, decodeServerFrame } from '@nearby/protocol';
import {
  encodeAck,
  encodeError,
  encodeFriendAdded,
  encodeFriendRemoved,
  encodePong,
  encodeReconnect,
  encodeSnapshot,
  friendEntryParts,
  friendLeftFrame,
  friendUpdateFrame,
} from './frames.js';

/** Decodes with the protocol's server-frame schema and expects a valid frame equal to `expected`. */
function expectValid(text: string, expected?: object): void {
  const decoded = decodeServerFrame(text);
  expect(decoded, text).toMatchObject({ ok: true });
  if (expected !== undefined && decoded.ok) expect(decoded.frame).toEqual(expected);
}

const awkwardIds = ['bob', 'ünïcødé 🚀', 'quote"and\\backslash', 'x'.repeat(256)];

describe('server frames match the protocol schema', () => {
  it.each(awkwardIds)('the hot-path friend entry, friend_update and friend_left for user id %s', (userId) => {
    const idJson = JSON.stringify(userId);
    const parts = friendEntryParts(idJson, -89.999999, 179.123456789, 1_767_225_600_000);
    const entries = [parts.head + 0 + parts.tail, parts.head + 12.345678 + parts.tail];
    expectValid(friendUpdateFrame(entries.slice(0, 1)), {
      type: 'friend_update',
      friends: [{ userId, lat: -89.999999, lon: 179.123456789, distanceKm: 0, updatedAt: 1_767_225_600_000 }],
    });
    for (const reason of Object.values(LeaveReason)) expectValid(friendLeftFrame(idJson, reason), { type: 'friend_left', userId, reason });
  });

  it('the typed encoders', () => {
    expectValid(
      encodeSnapshot({ userId: 'a', radiusKm: 8, maxRadiusKm: 50, sharing: true, inactiveAfterMs: 600_000, serverTime: 1, friends: [] }),
    );
    expectValid(encodeAck(2_147_483_647, 100), { type: 'ack', seq: 2_147_483_647, count: 100 });
    expectValid(encodeError('history_unavailable', 'store down', { seq: 3, frameType: 'location' }));
    expectValid(encodePong(undefined, 5), { type: 'pong', serverTime: 5 });
    expectValid(encodePong(7, 5), { type: 'pong', id: 7, serverTime: 5 });
    expectValid(encodeFriendAdded('b'), { type: 'friend_added', userId: 'b' });
    expectValid(encodeFriendRemoved('b'), { type: 'friend_removed', userId: 'b' });
    expectValid(encodeReconnect(2417), { type: 'reconnect', reason: 'draining', delayMs: 2417 });
  });
});
