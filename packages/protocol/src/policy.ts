import { CloseCode, ErrorCode } from './codes.js';

/**
 * What the party that receives an error should do about the thing that failed:
 * - `never`: do not retry; the input is wrong (drop it, fix the caller);
 * - `resend`: keep the data and send it again later, on this connection;
 * - `back_off`: the connection is gone or unusable; reconnect with backoff, then resend.
 */
export type RetryClass = 'never' | 'resend' | 'back_off';

/** One error code's place in the protocol. */
export interface ErrorPolicy {
  /** Whether the code travels in `error` frames (otherwise it is raised locally only). */
  readonly wire: boolean;
  /** The close code that follows the error, when the connection is closed because of it. */
  readonly closeCode?: number;
  readonly retry: RetryClass;
}

/**
 * Every error code with its wire status, the close code that follows it and its retry class:
 * the one table both sides use (protocol.md §16). Written with the codes' values rather than
 * `[ErrorCode.X]` and `CloseCode.X`: a bundler keeps an object built from other modules'
 * properties even when nothing uses it. The type still demands every error code exactly once,
 * and a test checks the close codes.
 */
export const ERROR_POLICY: { readonly [C in ErrorCode]: ErrorPolicy } = {
  bad_json: { wire: true, closeCode: 4000, retry: 'never' }, // PROTOCOL_VIOLATION
  unknown_type: { wire: true, retry: 'never' },
  invalid_frame: { wire: true, retry: 'never' },
  invalid_location: { wire: true, retry: 'never' },
  invalid_radius: { wire: true, retry: 'never' },
  not_initialized: { wire: true, retry: 'resend' },
  unsupported_version: { wire: true, closeCode: 4002, retry: 'never' }, // UNSUPPORTED_VERSION
  rate_limited: { wire: true, retry: 'resend' },
  history_unavailable: { wire: true, retry: 'resend' },
  internal: { wire: true, closeCode: 1011, retry: 'back_off' }, // INTERNAL_ERROR
  not_allowed: { wire: true, retry: 'never' },
  unauthorized: { wire: false, closeCode: 4001, retry: 'never' }, // UNAUTHORIZED
  connection_failed: { wire: false, retry: 'back_off' },
  connection_refused: { wire: false, retry: 'back_off' },
  host_not_found: { wire: false, retry: 'back_off' },
  endpoint_not_found: { wire: false, retry: 'never' },
  server_unavailable: { wire: false, retry: 'back_off' },
  tls_failed: { wire: false, retry: 'back_off' },
  offline: { wire: false, retry: 'back_off' },
  storage_failed: { wire: false, retry: 'never' },
  heartbeat_timeout: { wire: false, closeCode: 4100, retry: 'back_off' }, // CLIENT_RECONNECTING
  buffer_overflow: { wire: false, retry: 'never' },
  invalid_argument: { wire: false, retry: 'never' },
  closed: { wire: false, retry: 'never' },
  adapter_unavailable: { wire: false, retry: 'back_off' },
};

/** The retry class of `code`; an unknown code (from a newer server) is treated as `back_off`. */
export function retryClassOf(code: string): RetryClass {
  return (ERROR_POLICY as Record<string, ErrorPolicy | undefined>)[code]?.retry ?? 'back_off';
}

/** What a close code means for the client that sees it. */
export interface ClosePolicy {
  /** The client must not reconnect on its own. */
  readonly terminal: boolean;
  /** Sent by the client: 1000 signs the user off, 4100 closes only to reconnect. */
  readonly sentBy: 'client' | 'server';
}

/** The close codes of protocol.md §17 that the parties send on purpose (keyed by value, as {@link ERROR_POLICY}). */
export const CLOSE_POLICY: { readonly [C in CloseCode]: ClosePolicy } = {
  1000: { terminal: false, sentBy: 'client' }, // NORMAL
  1001: { terminal: false, sentBy: 'server' }, // GOING_AWAY
  1009: { terminal: false, sentBy: 'server' }, // MESSAGE_TOO_BIG
  1011: { terminal: false, sentBy: 'server' }, // INTERNAL_ERROR
  1012: { terminal: false, sentBy: 'server' }, // SERVICE_RESTART
  4000: { terminal: true, sentBy: 'server' }, // PROTOCOL_VIOLATION
  4001: { terminal: true, sentBy: 'server' }, // UNAUTHORIZED
  4002: { terminal: true, sentBy: 'server' }, // UNSUPPORTED_VERSION
  4008: { terminal: false, sentBy: 'server' }, // IDLE_TIMEOUT
  4029: { terminal: false, sentBy: 'server' }, // RATE_LIMITED
  4100: { terminal: false, sentBy: 'client' }, // CLIENT_RECONNECTING
};

// What a client checks, as small sets: a client bundle needs neither table above for them. A
// test holds each set to its table.

/** Error codes of retry class `never`: resending or reconnecting cannot help. */
export const NEVER_RETRY_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  ErrorCode.BAD_JSON,
  ErrorCode.UNKNOWN_TYPE,
  ErrorCode.INVALID_FRAME,
  ErrorCode.INVALID_LOCATION,
  ErrorCode.INVALID_RADIUS,
  ErrorCode.NOT_ALLOWED,
  ErrorCode.UNSUPPORTED_VERSION,
  ErrorCode.UNAUTHORIZED,
  ErrorCode.ENDPOINT_NOT_FOUND,
  ErrorCode.STORAGE_FAILED,
  ErrorCode.BUFFER_OVERFLOW,
  ErrorCode.INVALID_ARGUMENT,
  ErrorCode.CLOSED,
]);

/** Close codes after which a client must not reconnect on its own. */
export const TERMINAL_CLOSE_CODES: ReadonlySet<number> = new Set<number>([
  CloseCode.PROTOCOL_VIOLATION,
  CloseCode.UNAUTHORIZED,
  CloseCode.UNSUPPORTED_VERSION,
]);
