import type { TimerHandle, Timers } from '../environment.js';

interface Entry {
  id: number;
  due: number;
  callback: () => void;
}

/**
 * A hand-driven clock implementing {@link Timers}, to show that injected timers replace the
 * globals entirely (no real or vitest-faked timer is involved).
 */
export class ManualTimers implements Timers {
  private time: number;
  private nextId = 1;
  private entries: Entry[] = [];

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now = (): number => this.time;

  setTimeout = (callback: () => void, ms: number): TimerHandle => {
    const entry = { id: this.nextId++, due: this.time + ms, callback };
    this.entries.push(entry);
    return entry.id;
  };

  clearTimeout = (handle: TimerHandle): void => {
    this.entries = this.entries.filter((entry) => entry.id !== handle);
  };

  /** Number of pending timers. */
  get pending(): number {
    return this.entries.length;
  }

  /** Advances the clock by `ms`, firing due timers in order (including ones they schedule). */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      const next = [...this.entries].sort((a, b) => a.due - b.due || a.id - b.id)[0];
      if (next === undefined || next.due > target) break;
      this.entries = this.entries.filter((entry) => entry !== next);
      this.time = next.due;
      next.callback();
    }
    this.time = target;
  }
}
