import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeServerFrame } from '../codec.js';
import { ErrorCode, LeaveReason, StrangerLeftReason, WIRE_ERROR_CODES } from '../codes.js';
import { SERVER_FRAME_TYPES, type NearbyFriend, type NearbyStranger, type ServerFrame } from '../frames.js';
import { Limits } from '../limits.js';
import { ServerFrameSchema } from './schemas.js';

// The lean `decodeServerFrame` of the main entry against the zod `ServerFrameSchema` it
// replaces in clients: for valid frames and for frames broken in every way we can think of,
// both must accept and refuse the same texts and return the same frames.

/** What the zod schema makes of a text, decided the way `decodeServerFrame` is specified. */
function oracle(text: string): { outcome: 'bad_json' | 'unknown_type' | 'invalid_frame' } | { outcome: 'ok'; frame: unknown } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { outcome: 'bad_json' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { outcome: 'bad_json' };
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string' || !(SERVER_FRAME_TYPES as readonly string[]).includes(type)) {
    return { outcome: 'unknown_type' };
  }
  const parsed = ServerFrameSchema.safeParse(value);
  return parsed.success ? { outcome: 'ok', frame: parsed.data } : { outcome: 'invalid_frame' };
}

const tally = { ok: 0, refused: 0 };

function expectAgreement(text: string): void {
  const lean = decodeServerFrame(text);
  const zod = oracle(text);
  if (zod.outcome === 'ok') {
    expect(lean, text).toEqual({ ok: true, frame: zod.frame });
    // Same fields in the same order, so even the re-encoded text is identical.
    if (lean.ok) expect(JSON.stringify(lean.frame)).toBe(JSON.stringify(zod.frame));
    tally.ok++;
  } else {
    expect(lean, text).toMatchObject({ ok: false, code: zod.outcome });
    tally.refused++;
  }
}

// ---------------------------------------------------------------- valid frames, near their bounds

const edgy = (min: number, max: number) =>
  fc.oneof(fc.constantFrom(min, max), fc.double({ min, max, noNaN: true, noDefaultInfinity: true }));
const edgyInt = (min: number, max: number) =>
  fc.oneof(fc.constantFrom(min, max), fc.integer({ min, max: Math.min(max, 2 ** 31 - 1) }), fc.maxSafeNat().filter((n) => n >= min && n <= max));
const userId = fc.oneof(
  fc.string({ minLength: 1, maxLength: 12 }),
  fc.string({ minLength: 1, maxLength: Limits.MAX_USER_ID_LENGTH, unit: 'binary' }),
  fc.constant('x'.repeat(Limits.MAX_USER_ID_LENGTH)),
);
const timestamp = edgyInt(0, Limits.MAX_TIMESTAMP_MS);
const seq = edgyInt(0, Limits.MAX_SEQ);
const count = fc.oneof(fc.nat(), fc.maxSafeNat());
const positive = fc.oneof(fc.constant(Number.MIN_VALUE), fc.double({ min: Number.MIN_VALUE, noNaN: true, noDefaultInfinity: true }));
const friend: fc.Arbitrary<NearbyFriend> = fc.record({
  userId,
  lat: edgy(-90, 90),
  lon: edgy(-180, 180),
  distanceKm: fc.oneof(fc.constant(0), fc.double({ min: 0, noNaN: true, noDefaultInfinity: true })),
  updatedAt: timestamp,
});

const strangerId = fc.oneof(
  fc.string({ minLength: 1, maxLength: 16 }),
  fc.string({ minLength: 1, maxLength: Limits.MAX_STRANGER_ID_LENGTH, unit: 'binary' }),
  fc.constant('s'.repeat(Limits.MAX_STRANGER_ID_LENGTH)),
);
const stranger: fc.Arbitrary<NearbyStranger> = fc.record(
  {
    id: strangerId,
    lat: edgy(-90, 90),
    lon: edgy(-180, 180),
    distanceKm: edgyInt(0, Number.MAX_SAFE_INTEGER),
    updatedAt: timestamp,
    display: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: ['id', 'lat', 'lon', 'distanceKm', 'updatedAt'] },
);

/**
 * A value of an enumeration that may grow within version 1: a known one, or one a newer server
 * might send (any string of 1 … `Limits.MAX_ENUM_VALUE_LENGTH` characters).
 */
const growable = <T extends string>(known: readonly T[]): fc.Arbitrary<T | (string & {})> =>
  fc.oneof(
    fc.constantFrom(...known),
    fc.string({ minLength: 1, maxLength: 16 }),
    fc.string({ minLength: 1, maxLength: Limits.MAX_ENUM_VALUE_LENGTH, unit: 'binary' }),
    fc.constant('r'.repeat(Limits.MAX_ENUM_VALUE_LENGTH)),
  );

const validFrame: fc.Arbitrary<ServerFrame> = fc.oneof(
  fc.record({
    type: fc.constant('snapshot' as const),
    userId,
    radiusKm: positive,
    maxRadiusKm: positive,
    sharing: fc.boolean(),
    inactiveAfterMs: fc.oneof(fc.constant(1), fc.integer({ min: 1 }), fc.maxSafeNat().filter((n) => n > 0)),
    serverTime: timestamp,
    friends: fc.array(friend, { maxLength: 4 }),
    discoverable: fc.boolean(),
    seeStrangers: fc.boolean(),
  }, { requiredKeys: ['type', 'userId', 'radiusKm', 'maxRadiusKm', 'sharing', 'inactiveAfterMs', 'serverTime', 'friends'] }),
  fc.record({ type: fc.constant('friend_update' as const), friends: fc.array(friend, { minLength: 1, maxLength: 4 }) }),
  fc.record({
    type: fc.constant('friend_left' as const),
    userId,
    reason: growable(Object.values(LeaveReason)),
  }),
  fc.record({ type: fc.constant('friend_added' as const), userId }),
  fc.record({ type: fc.constant('friend_removed' as const), userId }),
  fc.record({ type: fc.constant('ack' as const), seq, count }),
  fc.record(
    {
      type: fc.constant('error' as const),
      code: growable(WIRE_ERROR_CODES),
      message: fc.string({ maxLength: 30 }),
      seq,
      frameType: fc.string({ maxLength: 12 }),
    },
    { requiredKeys: ['type', 'code', 'message'] },
  ),
  fc.record({ type: fc.constant('pong' as const), id: seq, serverTime: timestamp }, { requiredKeys: ['type', 'serverTime'] }),
  fc.record({ type: fc.constant('reconnect' as const), reason: growable(['draining']), delayMs: count }),
  fc.record({ type: fc.constant('discovery_state' as const), discoverable: fc.boolean(), seeStrangers: fc.boolean() }),
  fc.record({
    type: fc.constant('stranger_update' as const),
    strangers: fc.oneof(
      fc.array(stranger, { minLength: 1, maxLength: 4 }),
      fc.array(stranger, { minLength: Limits.MAX_STRANGERS_PER_FRAME, maxLength: Limits.MAX_STRANGERS_PER_FRAME }),
    ),
  }),
  fc.record({
    type: fc.constant('stranger_left' as const),
    id: strangerId,
    reason: growable(Object.values(StrangerLeftReason)),
  }),
);

// ---------------------------------------------------------------- mutations

const INFINITY = '\u0000+inf';
const NEG_INFINITY = '\u0000-inf';

/** Values that sit just inside or outside some field's bounds, of a wrong type, or of another enum. */
const odd: readonly unknown[] = [
  null, true, false, '', 'x', '1', 'NaN', [], {}, [1], { lat: 1 },
  0, -0, 1, -1, 0.5, -0.5, 1.5, Number.MIN_VALUE, -Number.MIN_VALUE, 1e308, -1e308, INFINITY, NEG_INFINITY,
  90, 90.000001, -90.000001, 180, 180.000001, -180.000001,
  Limits.MAX_SEQ, Limits.MAX_SEQ + 1, Limits.MAX_TIMESTAMP_MS, Limits.MAX_TIMESTAMP_MS + 1, Limits.MAX_TIMESTAMP_MS + 0.5,
  2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2,
  'x'.repeat(Limits.MAX_USER_ID_LENGTH), 'x'.repeat(Limits.MAX_USER_ID_LENGTH + 1),
  's'.repeat(Limits.MAX_STRANGER_ID_LENGTH), 's'.repeat(Limits.MAX_STRANGER_ID_LENGTH + 1),
  'r'.repeat(Limits.MAX_ENUM_VALUE_LENGTH), 'r'.repeat(Limits.MAX_ENUM_VALUE_LENGTH + 1),
  ...Object.values(LeaveReason), ...Object.values(StrangerLeftReason), 'HIDDEN', 'OUT_OF_RANGE', ...WIRE_ERROR_CODES, 'unauthorized', 'draining', 'Draining',
  ...SERVER_FRAME_TYPES, 'init', 'constructor', '__proto__',
];
const extraKeys = [
  'extra', 'seq', 'id', 'friends', 'type', 'userId', 'reason', '__proto__', 'constructor', 'lat', '',
  'strangers', 'display', 'discoverable', 'seeStrangers',
];

type Path = (string | number)[];

function paths(value: unknown, prefix: Path = []): Path[] {
  if (typeof value !== 'object' || value === null) return [];
  const out: Path[] = [];
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((item, index) => [index, item])
    : Object.entries(value);
  for (const [key, child] of entries) {
    out.push([...prefix, key], ...paths(child, [...prefix, key]));
  }
  return out;
}

function containerOf(root: unknown, path: Path): Record<string | number, unknown> {
  let value = root;
  for (const key of path.slice(0, -1)) value = (value as Record<string | number, unknown>)[key];
  return value as Record<string | number, unknown>;
}

/** Applies one mutation (chosen by `pick`) to a copy of `frame`. */
function mutate(frame: unknown, pick: number, choice: number): unknown {
  const copy: unknown = JSON.parse(JSON.stringify(frame));
  const all = [[], ...paths(copy)];
  const path = all[pick % all.length] as Path;
  const key = path.at(-1);
  const parent = path.length === 0 ? undefined : containerOf(copy, path);
  const current = parent === undefined ? copy : parent[key as string | number];
  switch (choice % 7) {
    case 0: // remove the field or the array item
      if (parent === undefined) return copy;
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key as string];
      return copy;
    case 1: // another value, odd for some field
      if (parent === undefined) return odd[choice % odd.length];
      parent[key as string | number] = odd[Math.floor(choice / 7) % odd.length];
      return copy;
    case 2: {
      // a number nudged across an edge: by one, by half, by one ulp-ish step
      if (typeof current !== 'number' || parent === undefined) return copy;
      const steps = [1, -1, 0.5, -0.5, current * 1e-15 || Number.MIN_VALUE, -(current * 1e-15 || Number.MIN_VALUE)];
      parent[key as string | number] = current + (steps[Math.floor(choice / 7) % steps.length] as number);
      return copy;
    }
    case 3: // an extra field on the nearest object
      if (typeof current === 'object' && current !== null && !Array.isArray(current)) {
        (current as Record<string, unknown>)[extraKeys[choice % extraKeys.length] as string] = odd[choice % odd.length];
      } else if (parent !== undefined && !Array.isArray(parent)) {
        parent[extraKeys[choice % extraKeys.length] as string] = odd[Math.floor(choice / 7) % odd.length];
      }
      return copy;
    case 4: // an array emptied, or grown past any likely bound
      if (Array.isArray(current)) {
        if (choice % 2 === 0) current.length = 0;
        else while (current.length > 0 && current.length <= Limits.MAX_SAMPLES_PER_FRAME) current.push(current[0]);
      } else if (parent !== undefined) {
        parent[key as string | number] = choice % 2 === 0 ? [] : [current];
      }
      return copy;
    case 5: // another frame type with the same fields
      if (typeof copy === 'object' && copy !== null) {
        (copy as { type: unknown }).type = SERVER_FRAME_TYPES[choice % SERVER_FRAME_TYPES.length];
      }
      return copy;
    default: // a string made longer or emptied
      if (typeof current === 'string' && parent !== undefined) {
        parent[key as string | number] = choice % 2 === 0 ? '' : current + 'x'.repeat(Limits.MAX_USER_ID_LENGTH);
      }
      return copy;
  }
}

function toText(value: unknown): string {
  return JSON.stringify(value)
    .replaceAll(`"${INFINITY}"`, '1e309')
    .replaceAll(`"${NEG_INFINITY}"`, '-1e309');
}

describe('decodeServerFrame agrees with ServerFrameSchema', () => {
  it('on valid frames: both accept them and return them unchanged', () => {
    fc.assert(
      fc.property(validFrame, (frame) => {
        const text = toText(frame);
        expectAgreement(text);
        // (Through JSON: -0 is written as 0.)
        expect(decodeServerFrame(text)).toEqual({ ok: true, frame: JSON.parse(text) });
      }),
      { seed: 20_261_202, numRuns: 3_000 },
    );
  });

  it('on mutated frames: the same texts accepted, the same refused, the same frames returned', () => {
    tally.ok = 0;
    tally.refused = 0;
    const mutations = fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 3 });
    fc.assert(
      fc.property(validFrame, mutations, (frame, steps) => {
        const mutated = steps.reduce<unknown>((value, [pick, choice]) => mutate(value, pick, choice), frame);
        expectAgreement(toText(mutated));
      }),
      { seed: 4_100, numRuns: 30_000 },
    );
    // The mutations must exercise both sides, or agreement would prove little.
    expect(tally.refused).toBeGreaterThan(10_000);
    expect(tally.ok).toBeGreaterThan(3_000);
  });

  it.each([
    ['not JSON', '{"type":'],
    ['an array', '[{"type":"ack","seq":1,"count":1}]'],
    ['a number', '1e309'],
    ['a type that is not a string', '{"type":["ack"],"seq":1,"count":1}'],
    ['a type from a newer server', '{"type":"friend_moved","userId":"b"}'],
    ['a type named after an Object property', '{"type":"hasOwnProperty"}'],
    ['an infinite distance', '{"type":"friend_update","friends":[{"userId":"b","lat":1,"lon":2,"distanceKm":1e309,"updatedAt":5}]}'],
    ['a negative infinite delay', '{"type":"reconnect","reason":"draining","delayMs":-1e309}'],
    ['a __proto__ field', '{"type":"friend_added","userId":"b","__proto__":{"userId":7}}'],
    ['a duplicated key, the last one invalid', '{"type":"friend_added","userId":"b","userId":""}'],
    ['a stranger at a fractional distance', '{"type":"stranger_update","strangers":[{"id":"s","lat":1,"lon":2,"distanceKm":1.5,"updatedAt":30000}]}'],
    ['a stranger with a null display', '{"type":"stranger_update","strangers":[{"id":"s","lat":1,"lon":2,"distanceKm":1,"updatedAt":0,"display":null}]}'],
    ['a stranger with a nested display', '{"type":"stranger_update","strangers":[{"id":"s","lat":1,"lon":2,"distanceKm":1,"updatedAt":0,"display":{"name":"Ana","tags":[1,"x"]}}]}'],
    ['an empty stranger update', '{"type":"stranger_update","strangers":[]}'],
    ['a stranger update one entry too long', `{"type":"stranger_update","strangers":[${Array.from({ length: Limits.MAX_STRANGERS_PER_FRAME + 1 }, (_, i) => `{"id":"s${i}","lat":1,"lon":2,"distanceKm":1,"updatedAt":0}`).join(',')}]}`],
    ['a stranger_left with a friend_left reason', '{"type":"stranger_left","id":"s","reason":"sharing_off"}'],
    ['a friend_left reason from a newer server', '{"type":"friend_left","userId":"b","reason":"teleported"}'],
    ['an error code from a newer server', '{"type":"error","code":"too_far_away","message":"x"}'],
    ['a reconnect reason from a newer server', '{"type":"reconnect","reason":"rebalancing","delayMs":1}'],
    ['an empty stranger_left reason', '{"type":"stranger_left","id":"s","reason":""}'],
    ['an error code one character too long', `{"type":"error","code":"${'c'.repeat(Limits.MAX_ENUM_VALUE_LENGTH + 1)}","message":"x"}`],
    ['an error code that is not a string', '{"type":"error","code":400,"message":"x"}'],
    ['a discovery_state without seeStrangers', '{"type":"discovery_state","discoverable":true}'],
    ['a snapshot from a server older than nearby people', '{"type":"snapshot","userId":"a","radiusKm":8,"maxRadiusKm":50,"sharing":true,"inactiveAfterMs":1,"serverTime":0,"friends":[]}'],
    ['a snapshot with a string discoverable', '{"type":"snapshot","userId":"a","radiusKm":8,"maxRadiusKm":50,"sharing":true,"inactiveAfterMs":1,"serverTime":0,"friends":[],"discoverable":"yes"}'],
  ])('on %s', (_name, text) => {
    expectAgreement(text);
  });

  it('and a refusal is never fatal unless the text is not a JSON object', () => {
    expect(decodeServerFrame('{"type":"ack","seq":-1,"count":0}')).toMatchObject({
      ok: false,
      code: ErrorCode.INVALID_FRAME,
      fatal: false,
      frameType: 'ack',
    });
  });
});
