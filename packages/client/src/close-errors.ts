import { CloseCode, ErrorCode, NearbyError, TERMINAL_CLOSE_CODES } from '@nearby/protocol';

/** What a close the client did not ask for means: the error to report, and whether to stop for good. */
export interface CloseOutcome {
  /** The error to report (`unauthorized` for 4001, else `connection_failed`), with the close code. */
  error: NearbyError;
  /** A terminal close code (protocol §17): the client must not reconnect on its own. */
  terminal: boolean;
}

/**
 * The outcome of a server (or network) close with `code` and `reason`. Terminal codes come from
 * the protocol's close table, so the client cannot drift from what the server means by them.
 *
 * @param cause - The socket's error event before the close, if any (kept for a lost connection).
 */
export function closeOutcome(code: number, reason: string, cause: unknown): CloseOutcome {
  const detail = `close code ${code}${reason ? `: ${reason}` : ''}`;
  if (!TERMINAL_CLOSE_CODES.has(code)) {
    return {
      terminal: false,
      error: new NearbyError(ErrorCode.CONNECTION_FAILED, `connection lost (${detail})`, {
        closeCode: code,
        ...(cause === undefined ? {} : { cause }),
      }),
    };
  }
  const error =
    code === CloseCode.UNAUTHORIZED
      ? new NearbyError(ErrorCode.UNAUTHORIZED, `the server rejected the credentials (${detail})`, { closeCode: code })
      : new NearbyError(ErrorCode.CONNECTION_FAILED, `the server refused this client for good (${detail})`, {
          closeCode: code,
        });
  return { terminal: true, error };
}

/** What `whenConnected()` rejects with after `error` closed the client. */
export function rejectionFor(error: NearbyError): NearbyError {
  if (error.code === ErrorCode.UNAUTHORIZED) return error;
  return new NearbyError(ErrorCode.CLOSED, `the client closed: ${error.message}`, {
    cause: error,
    ...(error.closeCode === undefined ? {} : { closeCode: error.closeCode }),
  });
}
