import { afterEach, describe, expect, it, vi } from 'vitest';
import { manualTimers } from '../manual-timers.test-support.js';
import { backgroundEvery, backgroundTimeout, globalTimers } from './timers.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('backgroundTimeout', () => {
  it('unrefs a Node timer, so it does not keep the process alive', () => {
    const handle = backgroundTimeout(globalTimers, () => {}, 60_000) as NodeJS.Timeout;
    expect(handle.hasRef()).toBe(false);
    globalTimers.clearTimeout(handle);
  });

  it('leaves handles without unref as they are, and runs on the timers it is given', () => {
    const timers = manualTimers();
    const runs: number[] = [];
    backgroundTimeout(timers, () => runs.push(timers.now()), 500);
    timers.advance(499);
    expect(runs).toEqual([]);
    timers.advance(1);
    expect(runs).toEqual([500]);
  });

  it('looks the global timers up at call time, so fake timers installed later take effect', () => {
    vi.useFakeTimers();
    let ran = false;
    backgroundTimeout(globalTimers, () => (ran = true), 1_000);
    vi.advanceTimersByTime(1_000);
    expect(ran).toBe(true);
  });
});

describe('backgroundEvery', () => {
  it('repeats by re-arming a timeout, and stops when told', () => {
    const timers = manualTimers(1_000);
    const runs: number[] = [];
    const stop = backgroundEvery(timers, 300, () => runs.push(timers.now()));
    timers.advance(1_000);
    expect(runs).toEqual([1_300, 1_600, 1_900]);
    expect(timers.active).toBe(1);
    stop();
    expect(timers.active).toBe(0);
    timers.advance(1_000);
    expect(runs).toHaveLength(3);
  });

  it('keeps repeating after a run that throws', () => {
    const timers = manualTimers();
    let runs = 0;
    backgroundEvery(timers, 100, () => {
      runs++;
      if (runs === 1) throw new Error('refresh failed');
    });
    expect(() => timers.advance(100)).toThrow('refresh failed');
    timers.advance(200);
    expect(runs).toBe(3);
  });
});
