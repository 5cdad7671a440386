import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { manualTimers } from '../../manual-timers.test-support.js';
import { RedisPubSub } from './pubsub.js';

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A subscriber connection that refuses SUBSCRIBE while `refusing` is set. */
function fakeSubscriber() {
  const state = { refusing: false, subscribed: [] as string[][] };
  const client = Object.assign(new EventEmitter(), {
    status: 'wait',
    subscribe: async (...channels: string[]) => {
      if (state.refusing) throw new Error('OOM command not allowed');
      state.subscribed.push(channels);
      return channels.length;
    },
  });
  return { client: client as unknown as Redis & { status: string }, state };
}

describe('RedisPubSub resubscription', () => {
  it('retries a refused resubscription after 1 s on the injected timers, while the connection stays up', async () => {
    const timers = manualTimers();
    const { client, state } = fakeSubscriber();
    const pubsub = new RedisPubSub({ publisher: client, subscriber: client, timers });
    await pubsub.subscribe(['nearby:u:a', 'nearby:u:b']); // not ready: remembered
    client.status = 'ready';
    client.emit('ready');
    await settle();
    expect(state.subscribed).toEqual([['nearby:u:a', 'nearby:u:b']]);

    // The connection comes back, and Redis refuses the first attempt.
    state.refusing = true;
    client.emit('ready');
    await settle();
    expect(timers.active).toBe(1);
    state.refusing = false;
    timers.advance(999);
    await settle();
    expect(state.subscribed).toHaveLength(1);
    timers.advance(1);
    await settle();
    expect(state.subscribed).toEqual([
      ['nearby:u:a', 'nearby:u:b'],
      ['nearby:u:a', 'nearby:u:b'],
    ]);
    expect(pubsub.stats.resubscribed).toBe(2);
    expect(timers.active).toBe(0);
  });
});
