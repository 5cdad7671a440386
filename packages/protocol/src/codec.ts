import { ErrorCode, type WireErrorCode } from './codes.js';
import { SERVER_FRAME_TYPES, type ClientFrame, type ServerFrame, type ServerFrameType } from './frames.js';
import { Limits } from './limits.js';

/** Outcome of decoding one inbound frame: the frame, or why it was refused. */
export type DecodeResult<F> =
  | { ok: true; frame: F }
  | {
      ok: false;
      code: WireErrorCode;
      message: string;
      /** True when the connection must be closed (the peer does not speak the protocol). */
      fatal: boolean;
      /** The frame's `type`, when it could be read. */
      frameType?: string;
      /** The frame's `seq`, when it had one within the protocol's bounds. */
      seq?: number;
    };

/** Serialises a frame. Frames are JSON text, one frame per WebSocket text message. */
export function encodeFrame(frame: ClientFrame | ServerFrame): string {
  return JSON.stringify(frame);
}

/** The frame as a JSON object, or undefined when the text is not JSON or not an object. */
export function parseObject(text: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

// ---------------------------------------------------------------- the server-frame decoder
//
// A small table of field readers instead of a schema library, so that a client bundle stays
// small. It refuses exactly what the zod `ServerFrameSchema` of `@nearby/protocol/schemas`
// refuses and returns the same objects (unknown fields dropped); a test holds the two to that.

/** Why a value was refused; `path` is filled in by the objects and arrays it sits in. */
class Refusal {
  readonly path: (string | number)[] = [];
  constructor(
    readonly expected: string,
    readonly value: unknown,
  ) {}
}

/** Reads one value: returns it (objects: a copy holding only the known fields) or throws a {@link Refusal}. */
type Reader = ((value: unknown) => unknown) & { optional?: boolean };

function number(min: number, max: number, integer: boolean, aboveMin = false): Reader {
  const expected =
    (integer ? 'an integer' : 'a number') +
    (aboveMin ? ` > ${min}` : min > -Infinity ? (max < Infinity ? ` in [${min}, ${max}]` : ` >= ${min}`) : '');
  return (value) => {
    if (
      typeof value !== 'number' ||
      !(integer ? Number.isSafeInteger(value) : Number.isFinite(value)) ||
      (aboveMin ? value <= min : value < min) ||
      value > max
    ) {
      throw new Refusal(expected, value);
    }
    return value;
  };
}

function string(min = 0, max = Infinity): Reader {
  const expected = max < Infinity ? `a string of ${min} to ${max} characters` : 'a string';
  return (value) => {
    if (typeof value !== 'string' || value.length < min || value.length > max) throw new Refusal(expected, value);
    return value;
  };
}

const boolean: Reader = (value) => {
  if (typeof value !== 'boolean') throw new Refusal('a boolean', value);
  return value;
};

function oneOf(values: readonly string[]): Reader {
  const expected = `one of ${values.join(', ')}`;
  return (value) => {
    if (!values.includes(value as string)) throw new Refusal(expected, value);
    return value;
  };
}

function optional(reader: Reader): Reader {
  const read: Reader = (value) => reader(value);
  read.optional = true;
  return read;
}

function array(item: Reader, min = 0, max = Infinity): Reader {
  const expected = max < Infinity ? `an array of ${min} to ${max} items` : `an array of at least ${min} items`;
  return (value) => {
    if (!Array.isArray(value) || value.length < min || value.length > max) throw new Refusal(expected, value);
    const out: unknown[] = [];
    let index = 0;
    try {
      for (; index < value.length; index++) out.push(item(value[index]));
    } catch (refusal) {
      (refusal as Refusal).path.unshift(index);
      throw refusal;
    }
    return out;
  };
}

function object(shape: Record<string, Reader>): Reader {
  const keys = Object.keys(shape);
  return (value) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Refusal('an object', value);
    const out: Record<string, unknown> = {};
    let key = '';
    try {
      for (key of keys) {
        const field = (value as Record<string, unknown>)[key];
        const read = shape[key] as Reader;
        if (field !== undefined || !read.optional) out[key] = read(field);
      }
    } catch (refusal) {
      (refusal as Refusal).path.unshift(key);
      throw refusal;
    }
    return out;
  };
}

const latitude = number(-90, 90, false);
const longitude = number(-180, 180, false);
const timestampMs = number(0, Limits.MAX_TIMESTAMP_MS, true);
const userId = string(1, Limits.MAX_USER_ID_LENGTH);
const seq = number(0, Limits.MAX_SEQ, true);
const count = number(0, Infinity, true);
const positive = number(0, Infinity, false, true);
const friends = object({
  userId,
  lat: latitude,
  lon: longitude,
  distanceKm: number(0, Infinity, false),
  updatedAt: timestampMs,
});

/** Any value: `display` is whatever JSON the host chose (its size is the server's bound). */
const anything: Reader = (value) => value;
const strangerId = string(1, Limits.MAX_STRANGER_ID_LENGTH);
const strangers = object({
  id: strangerId,
  lat: latitude,
  lon: longitude,
  distanceKm: count,
  updatedAt: timestampMs,
  display: optional(anything),
});

/**
 * A value of an enumeration that may grow within version 1 (protocol.md §4): the known values are
 * types only, so that a newer server's reason or code is passed on rather than refused.
 */
const growable = string(1, Limits.MAX_ENUM_VALUE_LENGTH);

const serverFrames: Record<ServerFrameType, Record<string, Reader>> = {
  snapshot: {
    userId,
    radiusKm: positive,
    maxRadiusKm: positive,
    sharing: boolean,
    inactiveAfterMs: number(0, Infinity, true, true),
    serverTime: timestampMs,
    friends: array(friends),
    discoverable: optional(boolean),
    seeStrangers: optional(boolean),
  },
  friend_update: { friends: array(friends, 1) },
  friend_left: { userId, reason: growable },
  friend_added: { userId },
  friend_removed: { userId },
  ack: { seq, count },
  error: { code: growable, message: string(), seq: optional(seq), frameType: optional(string()) },
  pong: { id: optional(seq), serverTime: timestampMs },
  reconnect: { reason: growable, delayMs: count },
  discovery_state: { discoverable: boolean, seeStrangers: boolean },
  stranger_update: { strangers: array(strangers, 1, Limits.MAX_STRANGERS_PER_FRAME) },
  stranger_left: { id: strangerId, reason: growable },
};

const serverReaders = new Map<string, Reader>(
  SERVER_FRAME_TYPES.map((type) => [type, object({ type: oneOf([type]), ...serverFrames[type] })]),
);

function describe(value: unknown): string {
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return value === undefined ? 'nothing' : `a ${typeof value}`;
}

/**
 * Decodes a frame sent by a server. Unknown frame types are reported as `unknown_type` so a
 * client can ignore frames added by newer servers.
 */
export function decodeServerFrame(text: string): DecodeResult<ServerFrame> {
  const object = parseObject(text);
  if (object === undefined) {
    return { ok: false, code: ErrorCode.BAD_JSON, message: 'frame is not a JSON object', fatal: true };
  }
  const type = object.type;
  const read = typeof type === 'string' ? serverReaders.get(type) : undefined;
  if (read === undefined) {
    return { ok: false, code: ErrorCode.UNKNOWN_TYPE, message: 'unknown server frame type', fatal: false };
  }
  try {
    return { ok: true, frame: read(object) as ServerFrame };
  } catch (refusal) {
    if (!(refusal instanceof Refusal)) throw refusal;
    const path = refusal.path.length > 0 ? refusal.path.join('.') : 'frame';
    return {
      ok: false,
      code: ErrorCode.INVALID_FRAME,
      message: `${path}: expected ${refusal.expected}, got ${describe(refusal.value)}`,
      fatal: false,
      frameType: type as string,
    };
  }
}
