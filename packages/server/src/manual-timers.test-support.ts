import type { Timers } from './timers.js';

/** Timers driven by hand: `advance` moves the clock and runs what fell due, in order, including timers set meanwhile. */
export interface ManualTimers extends Timers {
  advance(ms: number): void;
  readonly active: number;
}

export function manualTimers(start = 0): ManualTimers {
  let now = start;
  let nextId = 0;
  const pending = new Map<number, { at: number; callback: () => void }>();
  return {
    now: () => now,
    setTimeout(callback, ms) {
      const id = ++nextId;
      pending.set(id, { at: now + ms, callback });
      return id;
    },
    clearTimeout(handle) {
      pending.delete(handle as number);
    },
    advance(ms) {
      const target = now + ms;
      for (;;) {
        const next = [...pending].filter(([, timer]) => timer.at <= target).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
        if (next === undefined) break;
        const [id, timer] = next;
        now = Math.max(now, timer.at);
        pending.delete(id);
        timer.callback();
      }
      now = target;
    },
    get active() {
      return pending.size;
    },
  };
}
