/**
 * The wall clock shared by every process of a benchmark on one machine, in ms since the epoch
 * with sub-millisecond resolution: each process's `performance.timeOrigin` (taken from the
 * realtime clock at start) plus its monotonic `performance.now()`. Two processes agree to a
 * few microseconds, so a time taken in one can be compared with a time taken in another.
 */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
