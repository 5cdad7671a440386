import { describe, expect, it } from 'vitest';
import { FlushScheduler, type Backlog } from './flush-scheduler.js';
import { manualTimers } from '../manual-timers.test-support.js';
import type { Timers } from '../timers.js';

/** Manual timers with a check phase run by hand: `turn()` runs the immediates queued before it. */
function loop() {
  const timers = manualTimers(0);
  let immediates: Array<() => void> = [];
  const withImmediate: Timers & { turn(): number; advance(ms: number): void; readonly queued: number } = {
    now: timers.now,
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    advance: timers.advance,
    setImmediate(callback) {
      immediates.push(callback);
    },
    turn() {
      const batch = immediates;
      immediates = [];
      for (const callback of batch) callback();
      return batch.length;
    },
    get queued() {
      return immediates.length;
    },
  };
  return withImmediate;
}

/** A backlog of `count` units that records how many it was asked to do each time. */
function backlog(count: number, log: number[] = []): Backlog & { left: number; log: number[] } {
  return {
    left: count,
    log,
    drain(max) {
      const done = Math.min(max, this.left);
      this.left -= done;
      this.log.push(done);
      return done;
    },
    get parked() {
      return this.left > 0;
    },
  };
}

describe('FlushScheduler', () => {
  it('runs every flush queued in one phase together, once, in order, and rearms for the next phase', async () => {
    const scheduler = new FlushScheduler();
    const ran: string[] = [];
    scheduler.schedule(() => ran.push('a'));
    scheduler.schedule(() => ran.push('b'));
    expect(ran).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['a', 'b']);
    scheduler.schedule(() => ran.push('c'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['a', 'b', 'c']);
  });

  it('keeps flushing the others when one throws', async () => {
    const scheduler = new FlushScheduler();
    const ran: string[] = [];
    scheduler.schedule(() => {
      throw new Error('socket gone');
    });
    scheduler.schedule(() => ran.push('after'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['after']);
  });

  it('lets a turn handle only a slice of a flood inline, and the rest a slice per check phase, each followed by the flushes', () => {
    const timers = loop();
    const scheduler = new FlushScheduler({ timers, sliceSize: 4 });
    // One I/O callback delivering 100 frames: 4 handled, 96 parked.
    let inline = 0;
    for (let i = 0; i < 100; i++) if (scheduler.take()) inline++;
    expect(inline).toBe(4);
    const parked = backlog(96);
    scheduler.defer(parked);
    let flushes = 0;
    scheduler.schedule(() => flushes++);
    expect(timers.queued).toBe(1); // one check-phase pass armed, however many calls

    let turns = 0;
    const timerRuns: number[] = [];
    while (timers.queued > 0) {
      timers.turn();
      turns++;
      if (turns === 1) expect(flushes).toBe(1); // the flush did not wait for the backlog
      // A timer due now fires between two slices: the loop is never held for the whole flood.
      timers.setTimeout(() => timerRuns.push(turns), 0);
      timers.advance(0);
    }
    expect(parked.log.every((done) => done <= 4)).toBe(true);
    expect(parked.log.reduce((sum, done) => sum + done, 0)).toBe(96);
    expect(turns).toBe(24);
    expect(timerRuns).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    // Every new turn may again handle a slice inline.
    expect(scheduler.take()).toBe(true);
  });

  it('drains parked connections round robin, the ones not reached first in the next slice', () => {
    const timers = loop();
    const scheduler = new FlushScheduler({ timers, sliceSize: 3 });
    const order: string[] = [];
    const named = (name: string, count: number): Backlog & { left: number } => {
      const inner = backlog(count);
      return {
        get left() {
          return inner.left;
        },
        drain(max) {
          const done = inner.drain(max);
          for (let i = 0; i < done; i++) order.push(name);
          return done;
        },
        get parked() {
          return inner.parked;
        },
      };
    };
    const a = named('a', 5);
    const b = named('b', 1);
    const c = named('c', 1);
    scheduler.defer(a);
    scheduler.defer(b);
    scheduler.defer(c);
    timers.turn();
    expect(order).toEqual(['a', 'a', 'a']);
    timers.turn();
    // b and c were not reached: they go before a's rest.
    expect(order).toEqual(['a', 'a', 'a', 'b', 'c', 'a']);
    timers.turn();
    expect(order).toEqual(['a', 'a', 'a', 'b', 'c', 'a', 'a']);
    expect(timers.queued).toBe(0);
    expect(scheduler.parkedBacklogs).toBe(0);
  });

  it('a backlog that throws is dropped from the slice without stopping the others or the flushes', () => {
    const timers = loop();
    const scheduler = new FlushScheduler({ timers, sliceSize: 8 });
    const good = backlog(2);
    scheduler.defer({
      drain() {
        throw new Error('broken');
      },
      parked: false,
    });
    scheduler.defer(good);
    let flushed = false;
    scheduler.schedule(() => (flushed = true));
    timers.turn();
    expect(good.left).toBe(0);
    expect(flushed).toBe(true);
  });
  it('while work stays parked, flushes every backlogFlushMs instead of every turn; with nothing parked, every turn', () => {
    const timers = loop();
    const scheduler = new FlushScheduler({ timers, sliceSize: 1, backlogFlushMs: 50 });
    let flushes = 0;
    const flush = () => flushes++;
    scheduler.schedule(flush);
    timers.turn();
    expect(flushes).toBe(1); // nothing parked: at once
    const parked = backlog(5);
    scheduler.defer(parked);
    scheduler.schedule(flush);
    timers.advance(20);
    timers.turn(); // 20 ms since the last flush, work still parked: held
    expect(flushes).toBe(1);
    timers.advance(30);
    timers.turn(); // 50 ms: flushed
    expect(flushes).toBe(2);
    scheduler.schedule(flush);
    timers.turn();
    timers.turn();
    expect(flushes).toBe(2);
    expect(parked.left).toBe(1);
    timers.turn(); // the last parked unit: nothing left parked, so the flush goes out
    expect(parked.left).toBe(0);
    expect(flushes).toBe(3);
    expect(timers.queued).toBe(0);
  });
});
