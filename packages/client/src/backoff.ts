/** Settings of the exponential reconnect backoff. */
export interface BackoffOptions {
  /** Upper bound of the first delay, in ms. */
  initialDelayMs: number;
  /** Cap of any delay, in ms. */
  maxDelayMs: number;
  /** Growth factor of the upper bound per failed attempt. */
  multiplier: number;
}

/**
 * Delay before reconnect attempt number `attempt` (0 for the first retry), using exponential
 * backoff with FULL jitter: a uniformly random value in `[0, min(maxDelayMs, initialDelayMs ·
 * multiplier^attempt))`.
 *
 * Full jitter (rather than a fixed exponential schedule) matters when a server restarts: its
 * thousands of clients would otherwise all come back at the same instants and knock it over
 * again. The result is never negative and never above the cap, whatever `random` returns.
 *
 * @param attempt - Number of consecutive failures before this retry (0-based).
 * @param options - Backoff settings.
 * @param random - Source of uniform numbers in [0, 1), e.g. `Math.random`.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const exponent = Math.max(0, Math.floor(attempt));
  // `multiplier ** exponent` reaches Infinity for large attempts; `Math.min` then picks the cap.
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * options.multiplier ** exponent);
  const fraction = Math.min(1, Math.max(0, random()));
  const delay = fraction * (Number.isFinite(ceiling) ? ceiling : options.maxDelayMs);
  return Number.isNaN(delay) ? 0 : delay;
}
