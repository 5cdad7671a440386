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
 * the one table both sides use (protocol.md §16).
 */
export const ERROR_POLICY: { readonly [C in ErrorCode]: ErrorPolicy } = {
  [ErrorCode.BAD_JSON]: { wire: true, closeCode: CloseCode.PROTOCOL_VIOLATION, retry: 'never' },
  [ErrorCode.UNKNOWN_TYPE]: { wire: true, retry: 'never' },
  [ErrorCode.INVALID_FRAME]: { wire: true, retry: 'never' },
  [ErrorCode.INVALID_LOCATION]: { wire: true, retry: 'never' },
  [ErrorCode.INVALID_RADIUS]: { wire: true, retry: 'never' },
  [ErrorCode.NOT_INITIALIZED]: { wire: true, retry: 'resend' },
  [ErrorCode.UNSUPPORTED_VERSION]: { wire: true, closeCode: CloseCode.UNSUPPORTED_VERSION, retry: 'never' },
  [ErrorCode.RATE_LIMITED]: { wire: true, retry: 'resend' },
  [ErrorCode.HISTORY_UNAVAILABLE]: { wire: true, retry: 'resend' },
  [ErrorCode.INTERNAL]: { wire: true, closeCode: CloseCode.INTERNAL_ERROR, retry: 'back_off' },
  [ErrorCode.UNAUTHORIZED]: { wire: false, closeCode: CloseCode.UNAUTHORIZED, retry: 'never' },
  [ErrorCode.CONNECTION_FAILED]: { wire: false, retry: 'back_off' },
  [ErrorCode.CONNECTION_REFUSED]: { wire: false, retry: 'back_off' },
  [ErrorCode.HOST_NOT_FOUND]: { wire: false, retry: 'back_off' },
  [ErrorCode.ENDPOINT_NOT_FOUND]: { wire: false, retry: 'never' },
  [ErrorCode.SERVER_UNAVAILABLE]: { wire: false, retry: 'back_off' },
  [ErrorCode.TLS_FAILED]: { wire: false, retry: 'back_off' },
  [ErrorCode.OFFLINE]: { wire: false, retry: 'back_off' },
  [ErrorCode.STORAGE_FAILED]: { wire: false, retry: 'never' },
  [ErrorCode.HEARTBEAT_TIMEOUT]: { wire: false, closeCode: CloseCode.CLIENT_RECONNECTING, retry: 'back_off' },
  [ErrorCode.BUFFER_OVERFLOW]: { wire: false, retry: 'never' },
  [ErrorCode.INVALID_ARGUMENT]: { wire: false, retry: 'never' },
  [ErrorCode.CLOSED]: { wire: false, retry: 'never' },
  [ErrorCode.ADAPTER_UNAVAILABLE]: { wire: false, retry: 'back_off' },
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

/** The close codes of protocol.md §17 that the parties send on purpose. */
export const CLOSE_POLICY: { readonly [C in CloseCode]: ClosePolicy } = {
  [CloseCode.NORMAL]: { terminal: false, sentBy: 'client' },
  [CloseCode.GOING_AWAY]: { terminal: false, sentBy: 'server' },
  [CloseCode.MESSAGE_TOO_BIG]: { terminal: false, sentBy: 'server' },
  [CloseCode.INTERNAL_ERROR]: { terminal: false, sentBy: 'server' },
  [CloseCode.SERVICE_RESTART]: { terminal: false, sentBy: 'server' },
  [CloseCode.PROTOCOL_VIOLATION]: { terminal: true, sentBy: 'server' },
  [CloseCode.UNAUTHORIZED]: { terminal: true, sentBy: 'server' },
  [CloseCode.UNSUPPORTED_VERSION]: { terminal: true, sentBy: 'server' },
  [CloseCode.IDLE_TIMEOUT]: { terminal: false, sentBy: 'server' },
  [CloseCode.RATE_LIMITED]: { terminal: false, sentBy: 'server' },
  [CloseCode.CLIENT_RECONNECTING]: { terminal: false, sentBy: 'client' },
};


/** Close codes after which a client must not reconnect on its own. */
export const TERMINAL_CLOSE_CODES: ReadonlySet<number> = new Set(
  Object.entries(CLOSE_POLICY)
    .filter(([, policy]) => policy.terminal)
    .map(([code]) => Number(code)),
);
