import type { ErrorCode } from './codes.js';

/** Options of {@link NearbyError}. */
export interface NearbyErrorOptions {
  cause?: unknown;
  /** Close code of the connection, when the error comes from a close. */
  closeCode?: number;
  /** `seq` of the location frame the error is about, when there is one. */
  seq?: number;
}

/**
 * The one error class of Nearby, used by client and server. Match on {@link NearbyError.code}
 * (a value of {@link ErrorCode}); the message is for humans and may change.
 */
export class NearbyError extends Error {
  override readonly name = 'NearbyError';
  /**
   * A value of {@link ErrorCode}, or the code of an `error` frame from a newer server that this
   * version does not know (a string of 1 … `Limits.MAX_ENUM_VALUE_LENGTH` characters).
   */
  readonly code: ErrorCode | (string & {});
  readonly closeCode: number | undefined;
  readonly seq: number | undefined;

  constructor(code: ErrorCode | (string & {}), message: string, options: NearbyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.closeCode = options.closeCode;
    this.seq = options.seq;
  }
}

/** True for any {@link NearbyError}, also one thrown by another copy of this package. */
export function isNearbyError(value: unknown): value is NearbyError {
  return (
    value instanceof NearbyError ||
    (value instanceof Error && value.name === 'NearbyError' && typeof (value as { code?: unknown }).code === 'string')
  );
}
