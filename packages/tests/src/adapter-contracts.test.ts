import { afterAll, afterEach, beforeAll } from 'vitest';
import { StaticDiscovery, type PresenceRegistry, type PubSubTransport } from '@nearby/server';
import { createRedisAdapters, createShardedRedisAdapters, RedisClusterPubSub, type RedisAdapters } from '@nearby/server/redis';
import {
  describeLocationCacheContract,
  describePresenceRegistryContract,
  describePubSubContract,
  describeSettingsStoreContract,
} from '@nearby/server/testing';
import { RedisServerProcess, redisAvailable } from './helpers/redis-server.js';
import { RedisClusterProcess, redisClusterAvailable } from './helpers/redis-cluster.js';

/**
 * The adapter contracts of `@nearby/server/testing`, run against every Redis adapter this
 * repository ships, on real servers: one redis-server, three independent ones on a hash ring,
 * and a three-master Redis Cluster. (The in-memory adapters run them in their own package;
 * the history stores in history-stores.test.ts.)
 */

const available = redisAvailable();
const clusterAvailable = redisClusterAvailable();
let single: RedisServerProcess | undefined;
const nodes: RedisServerProcess[] = [];
let cluster: RedisClusterProcess | undefined;
const closers: Array<() => Promise<void>> = [];
let prefix = 0;

beforeAll(async () => {
  if (available) {
    single = await RedisServerProcess.start();
    for (let i = 0; i < 3; i++) nodes.push(await RedisServerProcess.start());
  }
  if (clusterAvailable) cluster = await RedisClusterProcess.start({ masters: 3 });
}, 90_000);

afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

afterAll(async () => {
  await Promise.all([single, ...nodes, cluster].map((server) => server?.stop()));
});

function track<T extends { close(): Promise<void> }>(closable: T): T {
  closers.push(() => closable.close());
  return closable;
}

describeLocationCacheContract('RedisLocationCache on one redis-server', async (ctx) => {
  if (single === undefined) ctx.skip();
  const redis = track(createRedisAdapters({ url: single!.url, keyPrefix: `contract-${++prefix}:` }));
  await redis.cache.connect();
  return { cache: redis.cache };
});

describeSettingsStoreContract('RedisSettingsStore on one redis-server', async (ctx) => {
  if (single === undefined) ctx.skip();
  const redis = track(createRedisAdapters({ url: single!.url, keyPrefix: `contract-${++prefix}:` }));
  await redis.settings.connect();
  return redis.settings;
});

describePresenceRegistryContract(
  'RedisPresenceRegistry on one redis-server',
  async (ctx) => {
    if (single === undefined) ctx.skip();
    const keyPrefix = `contract-${++prefix}:`;
    const processes = new Map<PresenceRegistry, RedisAdapters>();
    return {
      async peer() {
        // The shortest liveness allowed, so the crash check waits about a second.
        const redis = track(createRedisAdapters({ url: single!.url, keyPrefix, livenessTtlMs: 1_000 }));
        await redis.presence.connect();
        processes.set(redis.presence, redis);
        return redis.presence;
      },
      // Cut the connection: the liveness refresh goes on failing, and nothing is removed.
      crash: async (registry) => processes.get(registry)!.commands.disconnect(),
      restart: async () => {
        await single!.kill();
        await single!.restart();
      },
    };
  },
  { expires: true, restarts: true },
);

describePubSubContract(
  'RedisPubSub on one redis-server',
  async (ctx) => {
    if (single === undefined) ctx.skip();
    return {
      async peer() {
        const redis = track(createRedisAdapters({ url: single!.url }));
        await redis.pubsub.connect();
        return redis.pubsub;
      },
      restart: async () => {
        await single!.kill();
        await single!.restart();
      },
    };
  },
  { restarts: true },
);

/** Sharded adapters over the three nodes, settings and presence on the single redis-server. */
function sharded() {
  return track(
    createShardedRedisAdapters({
      discovery: new StaticDiscovery(nodes.map((node, i) => ({ id: `node-${i}`, url: node.url }))),
      primaryUrl: single!.url,
      keyPrefix: `contract-${++prefix}:`,
    }),
  );
}

describeLocationCacheContract('ShardedRedisLocationCache over three redis-servers', async (ctx) => {
  if (nodes.length === 0) ctx.skip();
  const redis = sharded();
  await redis.cache.connect();
  return { cache: redis.cache };
});

describeSettingsStoreContract('RedisSettingsStore on the primary of the sharded adapters', async (ctx) => {
  if (nodes.length === 0) ctx.skip();
  const redis = sharded();
  await redis.settings.connect();
  return redis.settings;
});

describePubSubContract('ShardedRedisPubSub over three redis-servers', async (ctx) => {
  if (nodes.length === 0) ctx.skip();
  return {
    async peer() {
      const redis = sharded();
      await redis.pubsub.connect();
      return redis.pubsub;
    },
  };
});

describePubSubContract('RedisClusterPubSub on a three-master Redis Cluster', async (ctx) => {
  if (cluster === undefined) ctx.skip();
  return {
    async peer(): Promise<PubSubTransport> {
      const pubsub = track(new RedisClusterPubSub({ nodes: cluster!.urls, connectTimeoutMs: 5_000 }));
      await pubsub.connect();
      return pubsub;
    },
  };
});
