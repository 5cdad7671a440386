/** Timer functions the server uses, injectable so tests can drive time. */
export interface Timers {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * The default timers. Each call looks the global up at call time, never at import, so fake
 * timers installed after this module loaded still take effect.
 */
export const globalTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

/** Runs `callback` after the current I/O phase (setImmediate), looked up at call time. */
export function runSoon(callback: () => void): void {
  globalThis.setImmediate(callback);
}
