import { afterEach, describe, expect, it, vi } from 'vitest';
import { manualTimers } from '../../manual-timers.test-support.js';
import { StaticDiscovery } from '../../sharding/static-discovery.js';
import { FakeRedis } from './fake-ioredis.test-support.js';
import { ShardedRedisPubSub } from './sharded-pubsub.js';

vi.mock('ioredis', async () => ({ Redis: (await import('./fake-ioredis.test-support.js')).FakeRedis }));

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};
const node = (i: number) => ({ id: `shard-${i}`, url: `redis://10.0.0.${i}:6379` });
const address = (i: number) => `10.0.0.${i}:6379`;
const channels = Array.from({ length: 200 }, (_, i) => `nearby:u:user-${i}`);
const subscribedOn = (i: number) => new Set(FakeRedis.open(address(i)).flatMap((redis) => [...redis.channels]));
const publishedOn = (i: number) => FakeRedis.all.filter((redis) => redis.address === address(i)).flatMap((redis) => redis.published);

afterEach(() => {
  FakeRedis.reset();
});

describe('ShardedRedisPubSub on injected timers', () => {
  it('publishes to the previous node too and stays subscribed there for transitionMs after a ring change', async () => {
    const timers = manualTimers();
    const discovery = new StaticDiscovery([node(1), node(2)]);
    const pubsub = new ShardedRedisPubSub({ discovery, timers, transitionMs: 5_000 });
    await pubsub.connect();
    await pubsub.subscribe(channels);

    discovery.setNodes([node(1), node(2), node(3)]);
    await pubsub.settled();
    const moved = channels.filter((channel) => pubsub.nodeFor(channel).id === 'shard-3');
    expect(moved.length).toBeGreaterThan(30);
    expect(pubsub.stats.moved).toBe(moved.length);
    const channel = moved[0]!;
    const from = subscribedOn(1).has(channel) ? 1 : 2;
    expect(subscribedOn(3).has(channel)).toBe(true); // subscribed on the new node at once
    expect(subscribedOn(from).has(channel)).toBe(true); // and kept on the old one

    await pubsub.publish(channel, 'during');
    expect(publishedOn(3)).toContainEqual([channel, 'during']);
    expect(publishedOn(from)).toContainEqual([channel, 'during']);

    timers.advance(4_999);
    await settle();
    expect(subscribedOn(from).has(channel)).toBe(true);
    timers.advance(1);
    await settle();
    expect(subscribedOn(from).has(channel)).toBe(false);
    for (const other of moved) expect(subscribedOn(1).has(other) || subscribedOn(2).has(other)).toBe(false);

    await pubsub.publish(channel, 'after');
    expect(publishedOn(3)).toContainEqual([channel, 'after']);
    expect(publishedOn(from)).not.toContainEqual([channel, 'after']);
    await pubsub.close();
  });
});
