import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import {
  createRedisAdapters,
  RedisLocationCache,
  RedisPresenceRegistry,
  RedisPubSub,
  RedisSettingsStore,
  type RedisAdapters,
} from '@nearby/server/redis';
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

// Behaviour shared with every store is checked by the contracts (adapter-contracts.test.ts); these check the keys.
describe('RedisSettingsStore keys', () => {
  it('keeps `radiusKm,sharing,radiusVersion,sharingVersion` without expiry, reads the older format, and ignores values it did not write', async (ctx) => {
    if (!available) return ctx.skip();
    const { settings, commands } = adapters();
    await settings.connect();
    await settings.set('alice', { radiusKm: 2.5, sharing: false });
    expect(await commands.get('nearby:set:alice')).toBe('2.5,0,0,0');
    expect(await commands.pttl('nearby:set:alice')).toBe(-1);
    // Written by an older server: no versions, so any versioned change wins over it.
    await commands.set('nearby:set:bob', '4,1');
    expect(await settings.get('bob')).toEqual({ radiusKm: 4, sharing: true, radiusVersion: 0, sharingVersion: 0 });
    await settings.set('bob', { radiusKm: 3, radiusVersion: 1_700_000_000_030, sharing: false, sharingVersion: 1_700_000_000_015 });
    expect(await commands.get('nearby:set:bob')).toBe('3,0,1700000000030,1700000000015');
    await settings.set('bob', { radiusKm: 9, radiusVersion: 1_700_000_000_010, sharing: true, sharingVersion: 1_700_000_000_020 });
    expect(await commands.get('nearby:set:bob')).toBe('3,1,1700000000030,1700000000020');
    await commands.set('nearby:set:broken', 'x,y');
    expect(await settings.get('broken')).toBeUndefined();
  });
});

describe('RedisPresenceRegistry keys', () => {
  it('keeps a set of server ids per user, counts only servers whose liveness key exists, and forgets the dead ones', async (ctx) => {
    if (!available) return ctx.skip();
    const { presence, commands } = adapters();
    await presence.connect();
    await presence.add('bob', 'alive');
    expect(await commands.ttl('nearby:on:bob')).toBeGreaterThan(86_000);
    expect(await commands.pttl('nearby:srv:alive')).toBeGreaterThan(29_000);
    // A crashed process: listed in the set, but its liveness key is gone.
    await commands.sadd('nearby:on:bob', 'crashed');
    expect(await commands.exists('nearby:srv:crashed')).toBe(0);
    await presence.add('bob', 'other');
    expect(await presence.remove('bob', 'other')).toBe(1); // only "alive" still counts
    expect(await commands.smembers('nearby:on:bob')).toEqual(['alive']);
    expect(await presence.remove('bob', 'alive')).toBe(0);
    expect(await commands.exists('nearby:on:bob')).toBe(0);
    await presence.close();
    expect(await commands.exists('nearby:srv:alive')).toBe(0);
    expect(await commands.exists('nearby:srv:other')).toBe(0);
  });
});

describe('the Redis adapters when Redis is unreachable', () => {
  it('a failed startup names the address, and close() ends the reconnect attempts', async (ctx) => {
    if (!available) return ctx.skip();
    const unreachable = createRedisAdapters({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 300 });
    for (const adapter of [unreachable.cache, unreachable.settings, unreachable.presence]) {
      await expect(adapter.connect()).rejects.toMatchObject({
        code: 'adapter_unavailable',
        message: expect.stringContaining('redis://127.0.0.1:1'),
      });
    }
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
    // Cache, settings and presence share the command connection; the Pub/Sub owns both.
    const cache = new RedisLocationCache({ client: publisher, keyPrefix: 'custom:' });
    const settings = new RedisSettingsStore({ client: publisher, keyPrefix: 'custom:' });
    const presence = new RedisPresenceRegistry({ client: publisher, keyPrefix: 'custom:' });
    const pubsub = new RedisPubSub({ publisher, subscriber, ownsClients: true });
    await Promise.all([cache.connect(), settings.connect(), presence.connect(), pubsub.connect()]);
    await cache.set('x', { lat: 1, lon: 1, updatedAt: 1 }, 1_000);
    await settings.set('x', { radiusKm: 2, sharing: true });
    await presence.add('x', 'proc-x');
    expect(await publisher.exists('custom:loc:x', 'custom:set:x', 'custom:on:x', 'custom:srv:proc-x')).toBe(4);
    await Promise.all([cache.close(), settings.close(), presence.close()]);
    expect(publisher.status).toBe('ready'); // not theirs to close
    await pubsub.close();
    expect(subscriber.status).toBe('end');
    expect(publisher.status).toBe('end');
  });
});

describe('a server on the Redis adapters', () => {
  it('has finished its Redis work when close() resolves, so the host can close Redis right after', async (ctx) => {
    if (!available) return ctx.skip();
    const redisAdapters = adapters();
    const { cache, pubsub, settings, presence } = redisAdapters;
    const env = await startServer({ cache, pubsub, settings, presence });
    for (let i = 0; i < 20; i++) env.graph.link(`c${i}`, `c${(i + 1) % 20}`);
    const peers = await Promise.all(Array.from({ length: 20 }, (_, i) => RawPeer.connect(env.urlFor(`c${i}`))));
    await Promise.all(peers.map((peer) => peer.init({ location: { lat: 37.5, lon: 127, timestamp: Date.now() } })));
    await env.close(); // connections close: their channels are unsubscribed, presence removed
    await redisAdapters.close();
    expect(env.errors).toEqual([]);
  });
});
