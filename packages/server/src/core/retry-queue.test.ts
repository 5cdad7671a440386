import { describe, expect, it } from 'vitest';
import { manualTimers } from '../manual-timers.test-support.js';
import { RetryQueue } from './retry-queue.js';

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function setup() {
  const timers = manualTimers();
  const failures: string[] = [];
  const queue = new RetryQueue({ timers, intervalMs: 2_000, onFailure: (key) => failures.push(key) });
  return { timers, failures, queue };
}

/** A write that fails while `down` is true and records what it wrote. */
function backend() {
  const state = { down: true, written: [] as string[] };
  const write = (value: string) => async () => {
    if (state.down) throw new Error('unreachable');
    state.written.push(value);
  };
  return { state, write };
}

describe('RetryQueue', () => {
  it('writes at once when the backend answers, and keeps nothing', async () => {
    const { queue, timers } = setup();
    const { state, write } = backend();
    state.down = false;
    queue.run('a', write('a1'));
    await settle();
    expect(state.written).toEqual(['a1']);
    expect(queue.size).toBe(0);
    expect(timers.active).toBe(0);
  });

  it('retries a failed write every interval until it lands', async () => {
    const { queue, timers, failures } = setup();
    const { state, write } = backend();
    queue.run('a', write('a1'));
    await settle();
    expect(queue.has('a')).toBe(true);
    timers.advance(2_000);
    await settle();
    expect(failures).toEqual(['a', 'a']);
    state.down = false;
    timers.advance(2_000);
    await settle();
    expect(state.written).toEqual(['a1']);
    expect(queue.size).toBe(0);
    expect(timers.active).toBe(0);
  });

  it('a newer write for a key replaces the waiting one; other keys are kept', async () => {
    const { queue } = setup();
    const { state, write } = backend();
    queue.run('a', write('a1'));
    queue.run('b', write('b1'));
    await settle();
    queue.run('a', write('a2'));
    await settle();
    state.down = false;
    queue.retryNow();
    await settle();
    expect(state.written.sort()).toEqual(['a2', 'b1']);
  });

  it('an older attempt that fails after a newer write was made is dropped, so retries never reorder a key', async () => {
    const { queue } = setup();
    let failFirst: (error: Error) => void = () => undefined;
    const written: string[] = [];
    queue.run('a', () => new Promise<void>((_resolve, reject) => (failFirst = reject)));
    queue.run('a', async () => {
      written.push('a2');
    });
    await settle();
    failFirst(new Error('late failure'));
    await settle();
    expect(queue.has('a')).toBe(false);
    queue.retryNow();
    await settle();
    expect(written).toEqual(['a2']);
  });

  it('cancel forgets a waiting write; a write that throws synchronously is retried like one that rejects', async () => {
    const { queue } = setup();
    queue.run('a', () => {
      throw new Error('sync');
    });
    await settle();
    expect(queue.has('a')).toBe(true);
    queue.cancel('a');
    expect(queue.size).toBe(0);
  });

  it('stop drops every waiting write and its timer', async () => {
    const { queue, timers } = setup();
    const { write } = backend();
    queue.run('a', write('a1'));
    await settle();
    expect(timers.active).toBe(1);
    queue.stop();
    expect(timers.active).toBe(0);
    expect(queue.size).toBe(0);
  });
});
