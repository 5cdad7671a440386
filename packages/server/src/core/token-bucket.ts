const TOLERANCE = 1e-9;

/** Capacity and refill rate of a token bucket (a rate limit that allows bursts of `capacity`). */
export interface TokenBucketOptions {
  /** Most tokens held: the burst size. */
  capacity: number;
  /** Tokens added per second. */
  refillPerSecond: number;
}

/**
 * A token bucket: each `take` spends one token; tokens refill continuously up to `capacity`.
 * Time comes from the injected `now`, so it is deterministic under test.
 */
export class TokenBucket {
  #tokens: number;
  #updatedAt: number;

  constructor(
    private readonly options: TokenBucketOptions,
    private readonly now: () => number,
  ) {
    if (!(options.capacity >= 1) || !(options.refillPerSecond > 0)) {
      throw new RangeError('token bucket needs capacity >= 1 and refillPerSecond > 0');
    }
    this.#tokens = options.capacity;
    this.#updatedAt = now();
  }

  /** Spends one token if there is one; false means the caller is over its rate. */
  take(): boolean {
    this.#refill();
    // Refills add fractions (0.1 + 0.1 + … falls just short of 1), so compare with a tolerance.
    if (this.#tokens < 1 - TOLERANCE) return false;
    this.#tokens = Math.max(0, this.#tokens - 1);
    return true;
  }

  /** Tokens available now (fractional). */
  get available(): number {
    this.#refill();
    return this.#tokens;
  }

  #refill(): void {
    const now = this.now();
    const elapsedMs = now - this.#updatedAt;
    if (elapsedMs <= 0) return;
    this.#updatedAt = now;
    this.#tokens = Math.min(this.options.capacity, this.#tokens + (elapsedMs / 1000) * this.options.refillPerSecond);
  }
}
