import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createRedisAdapters, RedisLocationCache, RedisPubSub, type RedisAdapters } from '@nearby/server/redis';
import { RedisServerProcess, redisAvailable } from './helpers/redis-server.js';
import { startServer } from './helpers/server-resource.js';
import { RawPeer } from './helpers/raw-peer.js';

/** Adapter contracts checked against a real redis-server on a free loopback port. */
const available = redisAvailable();
let redis: RedisServerProcess;
const opened: RedisAdapters[] = [];

function adapters(): RedisAdapters {
  const created = createRedisAdapters({ url: redis.url, connectTimeoutMs: 2_000 });
  opened.push(created);
  return created;
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

beforeAll(async () => {
  if (available) redis = await RedisServerProcess.start();
}, 30_000);

afterEach(async () => {
  await Promise.all(opened.splice(0).map((a) => a.close()));
});

afterAll(async () => {
  if (available) await redis.stop();
});

describe('RedisLocationCache', () => {
  it('stores and reads positions and withdrawals, reads the older format, and ignores values it did not write', async (ctx) => {
    if (!available) return ctx.skip();
    const { cache, commands } = adapters();
    await cache.connect();
    await cache.set('alice', { lat: 37.5, lon: 127.01, updatedAt: 1_700_000_000_000, epoch: 1_699_000_000_000 }, 60_000);
    await cache.set('bob', { lat: -33.9, lon: 151.2, updatedAt: 1_700_000_000_001 }, 60_000);
    await cache.set('dave', { withdrawn: 'sharing_off', at: 1_700_000_000_002, epoch: 1_700_000_000_002 }, 60_000);
    await cache.set('erin', { withdrawn: 'offline', at: 1_700_000_000_003 }, 60_000);
    await commands.set('nearby:loc:frank', '1.5,2.5,1700000000004');
    await commands.set('nearby:loc:mallory', 'not,a,location');
    await commands.set('nearby:loc:trent', '~teleported,1');
    const found = await cache.getMany(['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'mallory', 'trent']);
    expect(Object.fromEntries(found)).toEqual({
      alice: { lat: 37.5, lon: 127.01, updatedAt: 1_700_000_000_000, epoch: 1_699_000_000_000 },
      bob: { lat: -33.9, lon: 151.2, updatedAt: 1_700_000_000_001, epoch: 0 },
      dave: { withdrawn: 'sharing_off', at: 1_700_000_000_002, epoch: 1_700_000_000_002 },
      erin: { withdrawn: 'offline', at: 1_700_000_000_003 },
      frank: { lat: 1.5, lon: 2.5, updatedAt: 1_700_000_000_004, epoch: 0 },
    });
    expect(await commands.pttl('nearby:loc:dave')).toBeGreaterThan(59_000);
    expect(await cache.getMany([])).toEqual(new Map());
  });

  it('expires entries after their TTL (milliseconds)', async (ctx) => {
    if (!available) return ctx.skip();
    const { cache, commands } = adapters();
    await cache.connect();
    await cache.set('short', { lat: 1, lon: 2, updatedAt: 3 }, 150);
    const ttl = await commands.pttl('nearby:loc:short');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(150);
    await sleep(400);
    expect(await cache.getMany(['short'])).toEqual(new Map());
  });

  it('reads 5000 friends in one MGET', async (ctx) => {
    if (!available) return ctx.skip();
    const { cache } = adapters();
    await cache.connect();
    const ids = Array.from({ length: 5000 }, (_, i) => `friend-${i}`);
    await Promise.all(ids.slice(0, 500).map((id, i) => cache.set(id, { lat: i / 100, lon: 0, updatedAt: i }, 60_000)));
    const before = await redis.commandCalls();
    const found = await cache.getMany(ids);
    const after = await redis.commandCalls();
    expect(found.size).toBe(500);
    expect(found.get('friend-250')).toEqual({ lat: 2.5, lon: 0, updatedAt: 250, epoch: 0 });
    expect((after.mget ?? 0) - (before.mget ?? 0)).toBe(1);
  });
});

describe('RedisLocationCache settings and presence', () => {
  it('saves account settings without expiry', async (ctx) => {
    if (!available) return ctx.skip();
    const { cache, commands } = adapters();
    await cache.connect();
    expect(await cache.getSettings('nobody')).toBeUndefined();
    await cache.setSettings('alice', { radiusKm: 2.5, sharing: false });
    expect(await cache.getSettings('alice')).toEqual({ radiusKm: 2.5, sharing: false, radiusVersion: 0, sharingVersion: 0 });
    expect(await commands.pttl('nearby:set:alice')).toBe(-1);
    await commands.set('nearby:set:broken', 'x,y');
    expect(await cache.getSettings('broken')).toBeUndefined();
  });

  it('merges settings per field by version, so a late write of an older change never undoes a newer one', async (ctx) => {
    if (!available) return ctx.skip();
    const { cache, commands } = adapters();
    await cache.connect();
    // Written by an older server: no versions, so any versioned change wins over it.
    await commands.set('nearby:set:bob', '4,1');
    await cache.setSettings('bob', { radiusKm: 5, radiusVersion: 1_700_000_000_010, sharing: false, sharingVersion: 1_700_000_000_020 });
    expect(await cache.getSettings('bob')).toEqual({
      radiusKm: 5,
      radiusVersion: 1_700_000_000_010,
      sharing: false,
      sharingVersion: 1_700_000_000_020,
    });
    // A radius change made later, with a sharing value from before the sharing change: only the radius moves.
    await cache.setSettings('bob', { radiusKm: 3, radiusVersion: 1_700_000_000_030, sharing: true, sharingVersion: 1_700_000_000_015 });
    expect(await cache.getSettings('bob')).toEqual({
      radiusKm: 3,
      radiusVersion: 1_700_000_000_030,
      sharing: false,
      sharingVersion: 1_700_000_000_020,
    });
    expect(await commands.get('nearby:set:bob')).toBe('3,0,1700000000030,1700000000020');
    // Concurrent writers: whatever order they land in, the newest of each field is kept.
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        cache.setSettings('carol', { radiusKm: 1 + i, radiusVersion: 1000 + i, sharing: i % 2 === 0, sharingVersion: 2000 - i }),
      ),
    );
    expect(await cache.getSettings('carol')).toEqual({ radiusKm: 50, radiusVersion: 1049, sharing: true, sharingVersion: 2000 });
  });

  it('counts the servers holding a user, and the count survives only as long as a server is listed', async (ctx) => {
    if (!available) return ctx.skip();
    const { cache, commands } = adapters();
    await cache.connect();
    await cache.addPresence('alice', 's1');
    await cache.addPresence('alice', 's2');
    await cache.addPresence('alice', 's2');
    expect(await commands.ttl('nearby:on:alice')).toBeGreaterThan(0);
    expect(await cache.removePresence('alice', 's1')).toBe(1);
    expect(await cache.removePresence('alice', 's2')).toBe(0);
    expect(await cache.removePresence('alice', 's3')).toBe(0);
    expect(await commands.exists('nearby:on:alice')).toBe(0);
  });

  it('does not count a server that died without removing its users', async (ctx) => {
    if (!available) return ctx.skip();
    const { cache, commands } = adapters();
    await cache.connect();
    await cache.addPresence('bob', 'alive');
    // A crashed process: listed in the set, but its liveness key is gone.
    await commands.sadd('nearby:on:bob', 'crashed');
    expect(await commands.exists('nearby:srv:alive')).toBe(1);
    expect(await commands.exists('nearby:srv:crashed')).toBe(0);
    await cache.addPresence('bob', 'other');
    expect(await cache.removePresence('bob', 'other')).toBe(1); // only "alive" still counts
    expect(await commands.smembers('nearby:on:bob')).toEqual(['alive']);
    await cache.close();
    expect(await commands.exists('nearby:srv:alive')).toBe(0);
  });
});

describe('RedisLocationCache after Redis lost its data', () => {
  it('registers this process\'s presence again when the connection comes back', async (ctx) => {
    if (!available) return ctx.skip();
    const { cache, commands } = adapters();
    await cache.connect();
    await cache.addPresence('dora', 'proc-1');
    await cache.addPresence('eli', 'proc-1');
    await cache.removePresence('eli', 'proc-1');
    await redis.kill(); // no persistence: every key is gone
    await redis.restart();
    await waitFor(() => commands.status === 'ready', 'the reconnect', 15_000);
    const probe = redis.client();
    try {
      const deadline = performance.now() + 5_000;
      while ((await probe.smembers('nearby:on:dora')).length === 0 && performance.now() < deadline) await sleep(20);
      expect(await probe.smembers('nearby:on:dora')).toEqual(['proc-1']);
      expect(await probe.exists('nearby:on:eli')).toBe(0);
      expect(await probe.exists('nearby:srv:proc-1')).toBe(1);
    } finally {
      probe.disconnect();
    }
  }, 30_000);

  it('a failed startup names the address, and close() ends the reconnect attempts', async (ctx) => {
    if (!available) return ctx.skip();
    const unreachable = createRedisAdapters({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 300 });
    await expect(unreachable.cache.connect()).rejects.toMatchObject({
      code: 'adapter_unavailable',
      message: expect.stringContaining('redis://127.0.0.1:1'),
    });
    await unreachable.close();
    // No attempt after close(): a retry would come within 300 ms (retry strategy: 100 ms × attempt).
    let attempts = 0;
    for (const client of [unreachable.commands, unreachable.subscriber]) client.on('connecting', () => attempts++);
    await sleep(600);
    expect(attempts).toBe(0);
  });
});

describe('RedisPubSub', () => {
  it('subscribes in batches, delivers between processes, and unsubscribes', async (ctx) => {
    if (!available) return ctx.skip();
    const a = adapters();
    const b = adapters();
    const subscriber = new RedisPubSub({ publisher: b.commands, subscriber: b.subscriber, batchSize: 1000 });
    await Promise.all([a.pubsub.connect(), subscriber.connect()]);
    const received: Array<[string, string]> = [];
    subscriber.onMessage((channel, message) => received.push([channel, message]));
    const channels = Array.from({ length: 2500 }, (_, i) => `nearby:u:user-${i}`);
    const before = await redis.commandCalls();
    await subscriber.subscribe(channels);
    const after = await redis.commandCalls();
    expect((after.subscribe ?? 0) - (before.subscribe ?? 0)).toBe(3);
    expect(subscriber.stats).toMatchObject({ subscribeCommands: 3, channels: 2500 });

    await a.pubsub.publish('nearby:u:user-7', 'hello');
    await a.pubsub.publish('nearby:u:not-followed', 'ignored');
    await waitFor(() => received.length === 1, 'the message');
    expect(received).toEqual([['nearby:u:user-7', 'hello']]);
    expect(a.pubsub.stats.published).toBe(2);

    await subscriber.unsubscribe(['nearby:u:user-7']);
    await a.pubsub.publish('nearby:u:user-7', 'after unsubscribe');
    await a.pubsub.publish('nearby:u:user-8', 'still followed');
    await waitFor(() => received.length === 2, 'the second message');
    expect(received[1]).toEqual(['nearby:u:user-8', 'still followed']);
    await subscriber.close();
  });

  it('drops publishes while Redis is down, and resubscribes every channel by itself when it is back', async (ctx) => {
    if (!available) return ctx.skip();
    const a = adapters();
    const b = adapters();
    await Promise.all([a.pubsub.connect(), b.pubsub.connect()]);
    const received: string[] = [];
    b.pubsub.onMessage((_channel, message) => received.push(message));
    const channels = Array.from({ length: 1500 }, (_, i) => `nearby:u:r-${i}`);
    await b.pubsub.subscribe(channels);

    await redis.kill();
    await waitFor(() => a.commands.status !== 'ready' && b.subscriber.status !== 'ready', 'the connections to notice');
    await expect(a.pubsub.publish('nearby:u:r-1', 'lost')).resolves.toBeUndefined();
    expect(a.pubsub.stats.dropped).toBe(1);
    // Channels asked for during the outage are remembered too.
    await b.pubsub.subscribe(['nearby:u:late']);

    await redis.restart();
    await waitFor(() => b.pubsub.stats.resubscribed === 1501, 'resubscription', 15_000);
    await waitFor(() => a.commands.status === 'ready', 'the publisher');
    await a.pubsub.publish('nearby:u:r-1499', 'after');
    await a.pubsub.publish('nearby:u:late', 'late');
    await waitFor(() => received.length === 2, 'messages after the restart');
    expect(received).toEqual(['after', 'late']);
  }, 30_000);

  it('lets hosts wire their own ioredis clients', async (ctx) => {
    if (!available) return ctx.skip();
    const publisher = new Redis(redis.url, { lazyConnect: true });
    const subscriber = new Redis(redis.url, { lazyConnect: true, autoResubscribe: false });
    const cache = new RedisLocationCache({ client: publisher, keyPrefix: 'custom:', ownsClient: true });
    const pubsub = new RedisPubSub({ publisher, subscriber, ownsClients: true });
    await Promise.all([cache.connect(), pubsub.connect()]);
    await cache.set('x', { lat: 1, lon: 1, updatedAt: 1 }, 1_000);
    expect(await publisher.exists('custom:loc:x')).toBe(1);
    await pubsub.close();
    expect(subscriber.status).toBe('end');
    expect(publisher.status).toBe('end');
  });
});

describe('a server on the Redis adapters', () => {
  it('has finished its Redis work when close() resolves, so the host can close Redis right after', async (ctx) => {
    if (!available) return ctx.skip();
    const redisAdapters = adapters();
    const env = await startServer({ cache: redisAdapters.cache, pubsub: redisAdapters.pubsub });
    for (let i = 0; i < 20; i++) env.graph.link(`c${i}`, `c${(i + 1) % 20}`);
    const peers = await Promise.all(Array.from({ length: 20 }, (_, i) => RawPeer.connect(env.urlFor(`c${i}`))));
    await Promise.all(peers.map((peer) => peer.init({ location: { lat: 37.5, lon: 127, timestamp: Date.now() } })));
    await env.close(); // connections close: their channels are unsubscribed, presence removed
    await redisAdapters.close();
    expect(env.errors).toEqual([]);
  });
});
