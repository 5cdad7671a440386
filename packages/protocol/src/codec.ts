import type { z } from 'zod';
import { ErrorCode, type WireErrorCode } from './codes.js';
import {
  CLIENT_FRAME_TYPES,
  ClientFrameSchema,
  SERVER_FRAME_TYPES,
  ServerFrameSchema,
  type ClientFrame,
  type ServerFrame,
} from './schemas.js';
import { PROTOCOL_VERSION } from './limits.js';

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
      /** The frame's `seq`, when it had a readable one. */
      seq?: number;
    };

/** Serialises a frame. Frames are JSON text, one frame per WebSocket text message. */
export function encodeFrame(frame: ClientFrame | ServerFrame): string {
  return JSON.stringify(frame);
}

const LOCATION_FIELDS = new Set(['lat', 'lon', 'accuracy', 'timestamp']);
const clientTypes: ReadonlySet<string> = new Set(CLIENT_FRAME_TYPES);
const serverTypes: ReadonlySet<string> = new Set(SERVER_FRAME_TYPES);

function parseObject(text: string): Record<string, unknown> | undefined {
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

function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'frame'}: ${issue.message}`)
    .join('; ');
}

/** A value out of range on a location field is `invalid_location`; any other schema failure is `invalid_frame`. */
function classifyIssues(issues: readonly z.core.$ZodIssue[]): WireErrorCode {
  const outOfRange = issues.some(
    (issue) =>
      (issue.code === 'too_big' || issue.code === 'too_small') &&
      issue.path.some((segment) => typeof segment === 'string' && LOCATION_FIELDS.has(segment)),
  );
  return outOfRange ? ErrorCode.INVALID_LOCATION : ErrorCode.INVALID_FRAME;
}

function readSeq(object: Record<string, unknown>): number | undefined {
  const seq = object.seq;
  return typeof seq === 'number' && Number.isInteger(seq) && seq >= 0 ? seq : undefined;
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
      code: classifyIssues(parsed.error.issues),
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
  if (typeof type !== 'string' || !serverTypes.has(type)) {
    return { ok: false, code: ErrorCode.UNKNOWN_TYPE, message: 'unknown server frame type', fatal: false };
  }
  const parsed = ServerFrameSchema.safeParse(object);
  if (!parsed.success) {
    return {
      ok: false,
      code: ErrorCode.INVALID_FRAME,
      message: describeIssues(parsed.error.issues),
      fatal: false,
      frameType: type,
    };
  }
  return { ok: true, frame: parsed.data };
}
