import { globalTimers, unrefTimer, type Timers } from '../timers.js';

export { globalTimers };
export type { Timers };

/**
 * `timers.setTimeout`, for a timer that must not keep the process alive on its own (a retry, a
 * refresh, a cut-off): the handle is unref'd when it has `unref`, as Node's timers do. Manual
 * timers in tests return plain values and are left as they are.
 */
export function backgroundTimeout(timers: Timers, callback: () => void, ms: number): unknown {
  const handle = timers.setTimeout(callback, ms);
  unrefTimer(handle);
  return handle;
}

/**
 * Runs `callback` every `ms` on `timers`, in the background (see {@link backgroundTimeout}),
 * by re-arming a timeout after each run rather than with `setInterval`, so injected timers
 * that only know `setTimeout` drive it. Returns a function that stops it.
 */
export function backgroundEvery(timers: Timers, ms: number, callback: () => void): () => void {
  let stopped = false;
  let handle: unknown;
  const run = () => {
    if (stopped) return;
    // Re-armed before the callback runs, so a callback that throws does not end the repetition.
    handle = backgroundTimeout(timers, run, ms);
    callback();
  };
  handle = backgroundTimeout(timers, run, ms);
  return () => {
    stopped = true;
    timers.clearTimeout(handle);
  };
}

/** Something that emits `ready`, as ioredis connections and clusters do. */
interface ReadyEmitter {
  once(event: 'ready', listener: () => void): unknown;
  off(event: 'ready', listener: () => void): unknown;
}

/**
 * Resolves at `emitter`'s next `ready`, or rejects with `late()` once `ms` have passed on
 * `timers` (a background timer); the listener is removed either way.
 */
export function nextReady(emitter: ReadyEmitter, timers: Timers, ms: number, late: () => Error): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onReady = () => {
      timers.clearTimeout(timer);
      resolve();
    };
    const timer = backgroundTimeout(
      timers,
      () => {
        emitter.off('ready', onReady);
        reject(late());
      },
      Math.max(0, ms),
    );
    emitter.once('ready', onReady);
  });
}
