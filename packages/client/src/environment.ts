/**
 * Opaque handle returned by {@link Timers.setTimeout}. Browsers return a number, Node an
 * object; the client only ever hands it back to {@link Timers.clearTimeout}.
 */
export type TimerHandle = unknown;

/**
 * The clock and timer functions the client uses. Injected rather than grabbed from the global
 * scope so that tests (and unusual runtimes) can drive time themselves.
 */
export interface Timers {
  /** Runs `callback` once after `ms` milliseconds; returns a handle for {@link Timers.clearTimeout}. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancels a timer created by {@link Timers.setTimeout}. Unknown or fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
  /** Current wall-clock time in milliseconds since the epoch. */
  now(): number;
}

/**
 * Default timers. Each function looks the global up when it is CALLED, not when this module
 * is imported or a client is constructed: vitest/jest fake timers replace the globals after
 * import, and a captured reference would keep using the real clock.
 */
export const defaultTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]),
  now: () => Date.now(),
};

/** Default random source, looked up lazily for the same reason as {@link defaultTimers}. */
export const defaultRandom = (): number => Math.random();

/**
 * Default handling of an exception thrown by an application listener: rethrow it from a
 * fresh microtask. The client's own call stack (frame handling, timers) is never unwound by
 * a buggy listener, yet the error still reaches the platform's global handler (`window.onerror`,
 * React Native's red box, Node's `uncaughtException`) instead of vanishing.
 */
export function rethrowAsync(error: unknown): void {
  if (typeof globalThis.queueMicrotask === 'function') {
    globalThis.queueMicrotask(() => {
      throw error;
    });
  } else {
    void Promise.reject(error);
  }
}

/**
 * Largest delay `setTimeout` honours (2^31 − 1 ms, about 24.8 days). Longer delays overflow and
 * fire at once in every runtime, which would turn a long wait into a busy loop.
 */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

/** Merges injected timer functions over the lazy defaults. */
export function resolveTimers(timers: Partial<Timers> | undefined): Timers {
  return {
    setTimeout: timers?.setTimeout ?? defaultTimers.setTimeout,
    clearTimeout: timers?.clearTimeout ?? defaultTimers.clearTimeout,
    now: timers?.now ?? defaultTimers.now,
  };
}

/**
 * One timer with a fixed callback, of which at most one run is pending: starting it again
 * replaces the pending run. The delay is clamped to what timers support, since a longer one
 * would overflow and fire at once.
 */
export class Timer {
  private handle: TimerHandle | undefined;

  constructor(
    private readonly timers: Timers,
    private readonly run: () => void,
  ) {}

  /** True while a run is pending. */
  get pending(): boolean {
    return this.handle !== undefined;
  }

  /** Runs the callback once after `ms`, replacing a pending run. */
  start(ms: number): void {
    this.stop();
    this.handle = this.timers.setTimeout(
      () => {
        this.handle = undefined;
        this.run();
      },
      Math.min(Math.max(0, ms), MAX_TIMER_DELAY_MS),
    );
  }

  /** Cancels the pending run, if any. */
  stop(): void {
    if (this.handle !== undefined) this.timers.clearTimeout(this.handle);
    this.handle = undefined;
  }
}
