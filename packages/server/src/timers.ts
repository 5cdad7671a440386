/** Timer functions the server uses, injectable so tests can drive time. */
export interface Timers {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /**
   * Optional: runs `callback` once the current I/O phase is over (Node's `setImmediate`), where
   * the outbound frames of one phase are written together. Without it, `setTimeout(…, 0)`.
   */
  setImmediate?(callback: () => void): void;
}

/**
 * The default timers. Each call looks the global up at call time, never at import, so fake
 * timers installed after this module loaded still take effect.
 */
export const globalTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
  setImmediate: (callback) => {
    globalThis.setImmediate(callback);
  },
};

/** Runs `callback` after the current I/O phase on `timers`. */
export function runAfterIoPhase(timers: Timers, callback: () => void): void {
  if (timers.setImmediate !== undefined) timers.setImmediate(callback);
  else timers.setTimeout(callback, 0);
}

/** Lets a timer handle not keep the process alive, when the runtime supports it. */
export function unrefTimer(handle: unknown): void {
  (handle as { unref?: () => void } | undefined)?.unref?.();
}
