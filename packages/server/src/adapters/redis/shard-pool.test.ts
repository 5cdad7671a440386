import { afterEach, describe, expect, it, vi } from 'vitest';
import { manualTimers } from '../../manual-timers.test-support.js';
import { StaticDiscovery } from '../../sharding/static-discovery.js';
import { FakeRedis } from './fake-ioredis.test-support.js';
import { RedisShardPool } from './shard-pool.js';

vi.mock('ioredis', async () => ({ Redis: (await import('./fake-ioredis.test-support.js')).FakeRedis }));

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};
const node = (i: number) => ({ id: `shard-${i}`, url: `redis://10.0.0.${i}:6379` });
const keys = Array.from({ length: 200 }, (_, i) => `user-${i}`);

afterEach(() => {
  FakeRedis.reset();
});

describe('RedisShardPool on injected timers', () => {
  it('consults the previous owner for handoverMs after a ring change, then closes the node that left', async () => {
    const timers = manualTimers(1_000_000);
    const discovery = new StaticDiscovery([node(1), node(2)]);
    const pool = new RedisShardPool({ discovery, timers, handoverMs: 60_000 });
    await pool.connect();
    const onTwo = keys.filter((key) => pool.owner(key).node.id === 'shard-2');
    expect(onTwo.length).toBeGreaterThan(50);

    discovery.setNodes([node(1)]);
    await pool.settled();
    expect(pool.owner(onTwo[0]!).node.id).toBe('shard-1');
    expect(pool.previousOwner(onTwo[0]!, pool.handoverMs)?.node.id).toBe('shard-2');
    expect(pool.previousOwner(onTwo[0]!, 1_000)?.node.id).toBe('shard-2');
    timers.advance(1_000);
    expect(pool.previousOwner(onTwo[0]!, 1_000)).toBeUndefined(); // a shorter window has ended
    expect(FakeRedis.open('10.0.0.2:6379')).toHaveLength(2); // still connected through the handover
    timers.advance(58_999);
    expect(pool.previousOwner(onTwo[0]!, pool.handoverMs)?.node.id).toBe('shard-2');
    timers.advance(1);
    expect(pool.previousOwner(onTwo[0]!, pool.handoverMs)).toBeUndefined();
    await settle();
    expect(FakeRedis.open('10.0.0.2:6379')).toEqual([]);
    await pool.close();
  });

  it('retries a ring change whose new node does not answer, backing off on the injected timers until it can be applied', async () => {
    const timers = manualTimers();
    const errors: number[] = [];
    const discovery = new StaticDiscovery([node(1)]);
    const pool = new RedisShardPool({ discovery, timers, connectTimeoutMs: 1_000, onError: () => errors.push(timers.now()) });
    await pool.connect();
    FakeRedis.down.add('10.0.0.3:6379');
    discovery.setNodes([node(1), node(3)]);
    // Each attempt waits connectTimeoutMs for the node; the retries wait 100 ms, 200 ms, … before it.
    await settle();
    timers.advance(1_000);
    await settle();
    for (let retry = 1; retry <= 5; retry++) {
      timers.advance(100 * 2 ** (retry - 1));
      await settle();
      timers.advance(1_000);
      await settle();
    }
    expect(errors).toEqual([1_000, 2_100, 3_300, 4_700, 6_500, 9_100]);
    expect(pool.ring.nodes.map((n) => n.id)).toEqual(['shard-1']);
    expect(FakeRedis.open('10.0.0.3:6379')).toEqual([]); // every failed attempt closed its connections

    FakeRedis.down.clear();
    timers.advance(2_000); // the next retry, after the longest pause
    await settle();
    expect(pool.ring.nodes.map((n) => n.id)).toEqual(['shard-1', 'shard-3']);
    expect(errors).toHaveLength(6);
    await pool.close();
    expect(timers.active).toBe(0);
  });
});
