import type { z } from 'zod';
import { parseObject, type DecodeResult } from '../codec.js';
import { ErrorCode, type WireErrorCode } from '../codes.js';
import { CLIENT_FRAME_TYPES, type ClientFrame } from '../frames.js';
import { Limits, PROTOCOL_VERSION } from '../limits.js';
import { ClientFrameSchema } from './schemas.js';

const LOCATION_FIELDS = new Set(['lat', 'lon', 'accuracy', 'timestamp']);
const clientTypes: ReadonlySet<string> = new Set(CLIENT_FRAME_TYPES);

function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'frame'}: ${issue.message}`)
    .join('; ');
}

/** The value at `path` inside `root`, or undefined. */
function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const segment of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[segment];
  }
  return value;
}

/**
 * A value out of range on a location field is `invalid_location`; any other schema failure is
 * `invalid_frame`. A number too large for a double (`1e309`) parses as ±Infinity: out of range
 * too, not a wrong type.
 */
function classifyIssues(issues: readonly z.core.$ZodIssue[], object: Record<string, unknown>): WireErrorCode {
  const outOfRange = issues.some((issue) => {
    const field = issue.path.at(-1);
    if (typeof field !== 'string' || !LOCATION_FIELDS.has(field)) return false;
    if (issue.code === 'too_big' || issue.code === 'too_small') return true;
    const value = valueAt(object, issue.path);
    return value === Number.POSITIVE_INFINITY || value === Number.NEGATIVE_INFINITY;
  });
  return outOfRange ? ErrorCode.INVALID_LOCATION : ErrorCode.INVALID_FRAME;
}

/** The frame's `seq` when it is one the protocol allows (an integer in 0 … 2³¹ − 1), so an error frame can echo it. */
function readSeq(object: Record<string, unknown>): number | undefined {
  const seq = object.seq;
  return typeof seq === 'number' && Number.isInteger(seq) && seq >= 0 && seq <= Limits.MAX_SEQ ? seq : undefined;
}

/**
 * Decodes and validates a frame sent by a client. Never throws: every way a frame can be
 * wrong maps to a {@link WireErrorCode}, and only frames that are not JSON objects are fatal.
 */
export function decodeClientFrame(text: string): DecodeResult<ClientFrame> {
  const object = parseObject(text);
  if (object === undefined) {
    return { ok: false, code: ErrorCode.BAD_JSON, message: 'frame is not a JSON object', fatal: true };
  }
  const type = object.type;
  if (typeof type !== 'string' || !clientTypes.has(type)) {
    return {
      ok: false,
      code: ErrorCode.UNKNOWN_TYPE,
      message: typeof type === 'string' ? `unknown frame type "${type.slice(0, 40)}"` : 'frame has no string "type"',
      fatal: false,
      ...(typeof type === 'string' ? { frameType: type.slice(0, 40) } : {}),
    };
  }
  const seq = readSeq(object);
  const parsed = ClientFrameSchema.safeParse(object);
  if (!parsed.success) {
    return {
      ok: false,
      code: classifyIssues(parsed.error.issues, object),
      message: describeIssues(parsed.error.issues),
      fatal: false,
      frameType: type,
      ...(seq === undefined ? {} : { seq }),
    };
  }
  const frame = parsed.data;
  if (frame.type === 'init' && frame.v !== PROTOCOL_VERSION) {
    return {
      ok: false,
      code: ErrorCode.UNSUPPORTED_VERSION,
      message: `protocol version ${frame.v} is not supported (this server speaks ${PROTOCOL_VERSION})`,
      fatal: true,
      frameType: type,
    };
  }
  return { ok: true, frame };
}
