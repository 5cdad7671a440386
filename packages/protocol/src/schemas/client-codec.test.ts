import { describe, expect, it } from 'vitest';
import { decodeServerFrame, encodeFrame } from '../codec.js';
import { ErrorCode } from '../codes.js';
import type { ClientFrame } from '../frames.js';
import { Limits, PROTOCOL_VERSION } from '../limits.js';
import { decodeClientFrame } from './client-codec.js';

const sample = { lat: 37.5665, lon: 126.978, timestamp: 1_700_000_000_000 };

describe('decodeClientFrame', () => {
  it('accepts every well-formed client frame and round-trips through encodeFrame', () => {
    const frames: ClientFrame[] = [
      { type: 'init', v: PROTOCOL_VERSION, location: sample, radiusKm: 5, sharing: true },
      { type: 'init', v: PROTOCOL_VERSION },
      { type: 'location', seq: 7, samples: [sample, { ...sample, accuracy: 12, timestamp: sample.timestamp + 1 }] },
      { type: 'radius', radiusKm: 3.5 },
      { type: 'sharing', enabled: false },
      { type: 'ping', id: 3 },
      { type: 'ping' },
      { type: 'init', v: PROTOCOL_VERSION, discoverable: true, seeStrangers: false },
      { type: 'discovery', discoverable: true },
      { type: 'discovery', seeStrangers: false },
      { type: 'discovery', discoverable: false, seeStrangers: true },
    ];
    for (const frame of frames) {
      const result = decodeClientFrame(encodeFrame(frame));
      expect(result).toEqual({ ok: true, frame });
    }
  });

  it('drops unknown fields instead of failing, so newer clients can add optional ones', () => {
    const result = decodeClientFrame(JSON.stringify({ type: 'ping', id: 1, extra: 'x' }));
    expect(result).toEqual({ ok: true, frame: { type: 'ping', id: 1 } });
  });

  it.each([
    ['not JSON', '{nope'],
    ['a JSON array', '[1,2]'],
    ['a JSON string', '"init"'],
    ['null', 'null'],
    ['a NaN literal', '{"type":"radius","radiusKm":NaN}'],
    ['empty', ''],
  ])('refuses %s as fatal bad_json', (_name, text) => {
    expect(decodeClientFrame(text)).toMatchObject({ ok: false, code: ErrorCode.BAD_JSON, fatal: true });
  });

  it('reports an unknown or missing type without being fatal', () => {
    expect(decodeClientFrame('{"type":"teleport"}')).toMatchObject({
      ok: false,
      code: ErrorCode.UNKNOWN_TYPE,
      fatal: false,
      frameType: 'teleport',
    });
    expect(decodeClientFrame('{"radiusKm":2}')).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_TYPE });
    expect(decodeClientFrame('{"type":42}')).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_TYPE });
  });

  it.each([
    ['a discovery frame naming neither opt-in', { type: 'discovery' }],
    ['a discovery frame with a string discoverable', { type: 'discovery', discoverable: 'true' }],
    ['a discovery frame with a numeric seeStrangers', { type: 'discovery', seeStrangers: 1 }],
    ['an init with a null discoverable', { type: 'init', v: PROTOCOL_VERSION, discoverable: null }],
  ])('refuses %s as invalid_frame, naming the frame type', (_name, frame) => {
    expect(decodeClientFrame(JSON.stringify(frame))).toMatchObject({
      ok: false,
      code: ErrorCode.INVALID_FRAME,
      fatal: false,
      frameType: frame.type,
    });
  });

  it.each([
    ['a string latitude', { type: 'location', seq: 1, samples: [{ ...sample, lat: '37.5' }] }],
    ['a missing timestamp', { type: 'location', seq: 1, samples: [{ lat: 1, lon: 2 }] }],
    ['a missing seq', { type: 'location', samples: [sample] }],
    ['no samples', { type: 'location', seq: 1, samples: [] }],
    ['too many samples', { type: 'location', seq: 1, samples: Array(Limits.MAX_SAMPLES_PER_FRAME + 1).fill(sample) }],
    ['a fractional timestamp', { type: 'location', seq: 1, samples: [{ ...sample, timestamp: 1.5 }] }],
    ['a string radius', { type: 'radius', radiusKm: '5' }],
    ['a numeric sharing flag', { type: 'sharing', enabled: 1 }],
    ['init without version', { type: 'init' }],
    ['a negative seq', { type: 'location', seq: -1, samples: [sample] }],
  ])('refuses %s as invalid_frame', (_name, frame) => {
    const result = decodeClientFrame(JSON.stringify(frame));
    expect(result).toMatchObject({ ok: false, code: ErrorCode.INVALID_FRAME, fatal: false, frameType: frame.type });
    if (!result.ok) expect(result.message.length).toBeGreaterThan(0);
  });

  it.each([
    ['latitude above 90', { lat: 90.0001, lon: 0 }],
    ['latitude below -90', { lat: -91, lon: 0 }],
    ['longitude above 180', { lat: 0, lon: 180.5 }],
    ['longitude below -180', { lat: 0, lon: -200 }],
    ['negative accuracy', { lat: 0, lon: 0, accuracy: -1 }],
    ['a negative timestamp', { lat: 0, lon: 0, timestamp: -5 }],
  ])('refuses %s as invalid_location and names the seq', (_name, patch) => {
    const frame = { type: 'location', seq: 9, samples: [{ ...sample, ...patch }] };
    expect(decodeClientFrame(JSON.stringify(frame))).toMatchObject({
      ok: false,
      code: ErrorCode.INVALID_LOCATION,
      seq: 9,
      fatal: false,
    });
  });

  it.each([
    ['a latitude too large for a double', '{"type":"location","seq":9,"samples":[{"lat":1e309,"lon":0,"timestamp":1}]}'],
    ['a longitude too small for a double', '{"type":"location","seq":9,"samples":[{"lat":0,"lon":-1e309,"timestamp":1}]}'],
    ['an accuracy too large for a double', '{"type":"location","seq":9,"samples":[{"lat":0,"lon":0,"accuracy":1e400,"timestamp":1}]}'],
    ['a timestamp too large for a double', '{"type":"location","seq":9,"samples":[{"lat":0,"lon":0,"timestamp":2e308}]}'],
  ])('refuses %s as invalid_location: it is out of range, not of the wrong type', (_name, text) => {
    expect(decodeClientFrame(text)).toMatchObject({ ok: false, code: ErrorCode.INVALID_LOCATION, seq: 9, fatal: false });
  });

  it.each([
    ['2³¹', '2147483648'],
    ['1e308', '1e308'],
    ['a fraction', '1.5'],
    ['a negative', '-1'],
  ])('does not echo a seq out of its bounds (%s), so the error frame stays valid', (_name, seqText) => {
    const result = decodeClientFrame(`{"type":"location","seq":${seqText},"samples":[]}`);
    expect(result).toMatchObject({ ok: false, code: ErrorCode.INVALID_FRAME });
    expect(result).not.toHaveProperty('seq');
    if (!result.ok) {
      const error = { type: 'error', code: result.code, message: result.message, frameType: result.frameType };
      expect(decodeServerFrame(JSON.stringify(error))).toMatchObject({ ok: true });
    }
  });

  it('echoes the largest seq the protocol allows', () => {
    expect(decodeClientFrame('{"type":"location","seq":2147483647,"samples":[]}')).toMatchObject({ seq: 2_147_483_647 });
  });

  it('refuses an init location out of range as invalid_location', () => {
    const frame = { type: 'init', v: PROTOCOL_VERSION, location: { ...sample, lat: 100 } };
    expect(decodeClientFrame(JSON.stringify(frame))).toMatchObject({ ok: false, code: ErrorCode.INVALID_LOCATION });
  });

  it('refuses another protocol version as fatal', () => {
    expect(decodeClientFrame(JSON.stringify({ type: 'init', v: PROTOCOL_VERSION + 1 }))).toMatchObject({
      ok: false,
      code: ErrorCode.UNSUPPORTED_VERSION,
      fatal: true,
    });
  });
});
