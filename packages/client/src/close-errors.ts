import { CloseCode, ErrorCode, NEVER_RETRY_CODES, NearbyError, TERMINAL_CLOSE_CODES } from '@nearby/protocol';

/** What a close the client did not ask for means: the error to report, and whether to stop for good. */
export interface CloseOutcome {
  /** The error to report, with the close code and the socket's error event as `cause`. */
  error: NearbyError;
  /** A terminal close code (protocol §17) or failure (HTTP 404): the client must not reconnect on its own. */
  terminal: boolean;
}

/**
 * What the platforms say when a socket cannot reach the server, matched against the text of
 * the error event (`ws` in Node: error `code` and message; React Native: `message`, from OkHttp
 * on Android and SocketRocket on iOS). First match wins; an HTTP status is read before these.
 */
const RULES: [RegExp, ErrorCode, string][] = [
  [/CERT|SSL|TLS|ertificat|rust anchor/, ErrorCode.TLS_FAILED, 'TLS failed, certificate not trusted?'],
  [/ENOTFOUND|EAI_AGAIN|resolve host|hostname/i, ErrorCode.HOST_NOT_FOUND, 'unknown host'],
  [/refused|connect to/i, ErrorCode.CONNECTION_REFUSED, 'connection refused, server down?'],
];

/** The text of an error event: `ws`'s carries the Error (with Node's `code`) in `error`; React Native's a `message`. */
function textOf(event: unknown): string {
  const { message, error } = (event ?? {}) as { message?: unknown; error?: { code?: unknown } };
  return [error?.code, message].filter((part) => typeof part === 'string' && part).join(' ');
}

/**
 * Classifies a failure from the socket's error event before the close (its text, when the
 * platform gives one). Without text (browsers), the message says that the browser does not
 * expose why.
 */
function classify(cause: unknown, opened: boolean, offline: boolean, detail: string): [ErrorCode, string] {
  const text = textOf(cause);
  const status = /response\D{0,30}(\d{3})/i.exec(text)?.[1];
  const found = offline
    ? ([, ErrorCode.OFFLINE, 'offline'] as const)
    : status
      ? ([, status === '404' ? ErrorCode.ENDPOINT_NOT_FOUND : status[0] === '5' ? ErrorCode.SERVER_UNAVAILABLE : ErrorCode.CONNECTION_FAILED, `HTTP ${status} to the upgrade`] as const)
      : RULES.find(([pattern]) => pattern.test(text));
  if (found) return [found[1], `${found[2]} (${detail}${text && `: ${text}`})`];
  return [
    ErrorCode.CONNECTION_FAILED,
    cause !== undefined && !text && !opened
      ? `could not connect (${detail}); the browser does not expose why: server down, unknown host, wrong path, TLS failure and a refused upgrade look the same here`
      : `connection lost (${detail}${text && `: ${text}`})`,
  ];
}

/**
 * The outcome of a server (or network) close with `code` and `reason`. Terminal codes come from
 * the protocol's close table, so the client cannot drift from what the server means by them.
 *
 * @param cause - The socket's error event before the close, if any (kept as the error's `cause`).
 * @param opened - Whether the socket had opened.
 * @param offline - Whether the device is known to be offline.
 */
export function closeOutcome(code: number, reason: string, cause: unknown, opened: boolean, offline: boolean): CloseOutcome {
  const detail = `close code ${code}${reason ? `: ${reason}` : ''}`;
  // NearbyError leaves out a `cause` that is undefined.
  const options = { closeCode: code, cause };
  if (TERMINAL_CLOSE_CODES.has(code)) {
    const error =
      code === CloseCode.UNAUTHORIZED
        ? new NearbyError(ErrorCode.UNAUTHORIZED, `the server rejected the credentials (${detail})`, options)
        : new NearbyError(ErrorCode.CONNECTION_FAILED, `the server refused this client for good (${detail})`, options);
    return { terminal: true, error };
  }
  const [errorCode, message] = classify(cause, opened, offline, detail);
  return { terminal: NEVER_RETRY_CODES.has(errorCode), error: new NearbyError(errorCode, message, options) };
}

/** What `whenConnected()` rejects with after `error` closed the client. */
export function rejectionFor(error: NearbyError): NearbyError {
  if (error.code === ErrorCode.UNAUTHORIZED) return error;
  return new NearbyError(ErrorCode.CLOSED, `the client closed: ${error.message}`, { cause: error, closeCode: error.closeCode });
}
