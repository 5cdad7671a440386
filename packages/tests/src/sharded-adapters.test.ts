import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StaticDiscovery } from '@nearby/server';
import { createShardedRedisAdapters, type ShardedRedisAdapters } from '@nearby/server/redis';
import { RedisServerProcess, redisAvailable } from './helpers/redis-server.js';

/** The location cache and Pub/Sub sharded together over independent redis-servers. */
const available = redisAvailable();
const nodes: RedisServerProcess[] = [];
let primary: RedisServerProcess;
const adapters: ShardedRedisAdapters[] = [];

beforeAll(async () => {
  if (!available) return;
  for (let i = 0; i < 4; i++) nodes.push(await RedisServerProcess.start());
  primary = await RedisServerProcess.start();
}, 60_000);

afterAll(async () => {
  await Promise.all(adapters.map((a) => a.close()));
  await Promise.all([...nodes, primary].filter(Boolean).map((s) => s.stop()));
});

const node = (i: number) => ({ id: `shard-${i}`, url: nodes[i]!.url });
const users = Array.from({ length: 300 }, (_, i) => `user-${i}`);
const TTL = 60_000;
const at = (i: number) => ({ lat: 37.5 + i / 1000, lon: 127 + i / 1000, updatedAt: 1_700_000_000_000 + i, epoch: 0 });

/** Which node holds each user's location key. */
async function holders(): Promise<Map<string, number[]>> {
  const found = new Map<string, number[]>();
  await Promise.all(
    nodes.map(async (server, i) => {
      const client = server.client();
      try {
        for (const key of (await client.keys('nearby:loc:*')) as string[]) {
          const id = key.slice('nearby:loc:'.length);
          found.set(id, [...(found.get(id) ?? []), i].sort());
        }
      } finally {
        client.disconnect();
      }
    }),
  );
  return found;
}

describe('createShardedRedisAdapters', () => {
  it('keeps a user’s location and channel on one node, and finds every location across a ring change', async (ctx) => {
    if (!available) return ctx.skip();
    const discovery = new StaticDiscovery([node(0), node(1), node(2)]);
    const redis = createShardedRedisAdapters({ discovery, primaryUrl: primary.url, transitionMs: 200, handoverMs: 1_500 });
    adapters.push(redis);
    await Promise.all([redis.cache.connect(), redis.pubsub.connect(), redis.settings.connect(), redis.presence.connect()]);
    await Promise.all(users.map((id, i) => redis.cache.set(id, at(i), TTL)));

    // Spread over three nodes, one copy each, on the node of the user's channel.
    const spread = await holders();
    expect(spread.size).toBe(users.length);
    for (const id of users) {
      expect(spread.get(id)).toHaveLength(1);
      expect(`shard-${spread.get(id)![0]}`).toBe(redis.pubsub.nodeFor(`nearby:u:${id}`).id);
    }
    const perNode = [0, 1, 2].map((n) => users.filter((id) => spread.get(id)![0] === n).length);
    expect(Math.min(...perNode)).toBeGreaterThan(50);
    const all = await redis.cache.getMany(users);
    expect(all.size).toBe(users.length);
    expect(all.get('user-7')).toEqual(at(7));

    // Settings and presence live on the primary, untouched by ring changes.
    await redis.settings.set('user-1', { radiusKm: 3, sharing: false });
    await redis.presence.add('user-1', 'server-a');
    expect(await redis.primary.exists('nearby:set:user-1', 'nearby:on:user-1', 'nearby:srv:server-a')).toBe(3);

    // A fourth node: about a quarter of the users now belong to it but have not written there yet.
    discovery.setNodes([node(0), node(1), node(2), node(3)]);
    await redis.pool.settled();
    const moved = users.filter((id) => redis.pool.owner(id).node.id === 'shard-3');
    expect(moved.length).toBeGreaterThan(40);
    const during = await redis.cache.getMany(users);
    expect(during.size).toBe(users.length); // the previous owners answer for the handover
    expect(during.get(moved[0]!)).toEqual(at(users.indexOf(moved[0]!)));

    // A write goes to the new owner; a withdrawal replaces both copies at once.
    const rewritten = moved[0]!;
    const withdrawn = moved[1]!;
    const withdrawal = { withdrawn: 'sharing_off', at: 4, epoch: 4 } as const;
    await redis.cache.set(rewritten, { lat: 1, lon: 2, updatedAt: 3 }, TTL);
    await redis.cache.set(withdrawn, withdrawal, TTL);
    expect((await holders()).get(rewritten)).toEqual([spread.get(rewritten)![0], 3].sort());
    expect((await holders()).get(withdrawn)).toEqual([spread.get(withdrawn)![0], 3].sort());
    const afterWithdrawal = await redis.cache.getMany([rewritten, withdrawn]);
    expect(afterWithdrawal.get(rewritten)).toEqual({ lat: 1, lon: 2, updatedAt: 3, epoch: 0 });
    expect(afterWithdrawal.get(withdrawn)).toEqual(withdrawal);

    // After the handover, only the new owners are read: users who never wrote again are gone
    // from view until their next update, as after an expiry.
    await sleep(1_700);
    const later = await redis.cache.getMany(users);
    expect(later.get(rewritten)).toEqual({ lat: 1, lon: 2, updatedAt: 3, epoch: 0 });
    expect(later.get(withdrawn)).toEqual(withdrawal);
    expect(later.size).toBe(users.length - moved.length + 2);
    expect(await redis.settings.get('user-1')).toEqual({ radiusKm: 3, sharing: false, radiusVersion: 0, sharingVersion: 0 });
    expect(await redis.presence.remove('user-1', 'server-b')).toBe(1);
  });

  it('refuses a handover shorter than the transition, and names an unreachable node at connect', async (ctx) => {
    if (!available) return ctx.skip();
    const discovery = new StaticDiscovery([node(0)]);
    expect(() => createShardedRedisAdapters({ discovery, primaryUrl: primary.url, transitionMs: 5_000, handoverMs: 1_000 })).toThrow(
      expect.objectContaining({ code: 'invalid_argument' }),
    );
    const down = await RedisServerProcess.start();
    const url = down.url;
    await down.stop();
    const redis = createShardedRedisAdapters({
      discovery: new StaticDiscovery([node(0), { id: 'shard-down', url }]),
      primaryUrl: primary.url,
      connectTimeoutMs: 500,
    });
    adapters.push(redis);
    await expect(redis.pubsub.connect()).rejects.toMatchObject({ code: 'adapter_unavailable', message: expect.stringContaining(url) });
  });

  it('never applies an empty list, and keeps retrying a change whose new node is down until it can be applied', async (ctx) => {
    if (!available) return ctx.skip();
    const empty = createShardedRedisAdapters({ discovery: new StaticDiscovery([]), primaryUrl: primary.url });
    adapters.push(empty);
    await expect(empty.pubsub.connect()).rejects.toMatchObject({ code: 'adapter_unavailable', message: expect.stringContaining('no Redis nodes') });

    const errors: string[] = [];
    const discovery = new StaticDiscovery([node(0)]);
    const redis = createShardedRedisAdapters({
      discovery,
      primaryUrl: primary.url,
      connectTimeoutMs: 300,
      onError: (error) => errors.push(error instanceof Error ? error.message : String(error)),
    });
    adapters.push(redis);
    await redis.pubsub.connect();
    discovery.setNodes([]);
    await redis.pool.settled();
    expect(redis.pool.ring.nodes.map((n) => n.id)).toEqual(['shard-0']);
    expect(errors.some((e) => e.includes('keeping the current ring'))).toBe(true);

    // A node listed while its redis-server is down: the change waits, retried, until it is up.
    const late = await RedisServerProcess.start();
    await late.kill();
    discovery.setNodes([node(0), { id: 'shard-late', url: late.url }]);
    await sleep(1_000);
    expect(redis.pool.ring.nodes.map((n) => n.id)).toEqual(['shard-0']);
    expect(errors.some((e) => e.includes(late.url))).toBe(true);
    await late.restart();
    const deadline = performance.now() + 10_000;
    while (redis.pool.ring.size !== 2 && performance.now() < deadline) await sleep(50);
    expect(redis.pool.ring.nodes.map((n) => n.id)).toEqual(['shard-0', 'shard-late']);
    await redis.close();
    await late.stop();
  });
});
