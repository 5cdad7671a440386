import { Redis, type RedisOptions } from 'ioredis';
import { RedisLocationCache } from './location-cache.js';
import { RedisPresenceRegistry } from './presence-registry.js';
import { RedisPubSub } from './pubsub.js';
import { RedisSettingsStore } from './settings-store.js';
import { FAIL_FAST_OPTIONS, closeClient } from './connection.js';
import type { Timers } from '../timers.js';
import { checkOptionKeys, optionKeys } from '@nearby/protocol';

export { RedisLocationCache } from './location-cache.js';
export type { RedisLocationCacheOptions } from './location-cache.js';
export { RedisSettingsStore } from './settings-store.js';
export type { RedisSettingsStoreOptions } from './settings-store.js';
export { RedisPresenceRegistry } from './presence-registry.js';
export type { RedisPresenceRegistryOptions } from './presence-registry.js';
export { RedisPubSub } from './pubsub.js';
export type { RedisPubSubOptions, RedisPubSubStats } from './pubsub.js';
export { ShardedRedisPubSub } from './sharded-pubsub.js';
export type { ShardedRedisPubSubOptions, ShardedRedisPubSubStats } from './sharded-pubsub.js';
export { RedisClusterPubSub } from './cluster/pubsub.js';
export type { RedisClusterPubSubOptions, RedisClusterPubSubStats } from './cluster/options.js';
export { ShardedRedisLocationCache } from './sharded-location-cache.js';
export type { ShardedRedisLocationCacheOptions } from './sharded-location-cache.js';
export { RedisShardPool } from './shard-pool.js';
export type { RedisShardPoolOptions, RedisShard, RingChange } from './shard-pool.js';
export { createShardedRedisAdapters } from './sharded-adapters.js';
export type { ShardedRedisAdaptersOptions, ShardedRedisAdapters } from './sharded-adapters.js';

/** Options of {@link createRedisAdapters}. */
export interface RedisAdaptersOptions {
  /** Redis URL. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** Extra ioredis options for both connections (TLS, password, …). */
  redis?: RedisOptions;
  /** Prefix of every key the adapters write (`<prefix>loc:<id>`, `set:`, `on:`, `srv:`). Default `nearby:`. */
  keyPrefix?: string;
  /** How long `server.listen()` waits for Redis before failing. Default 5 000 ms. */
  connectTimeoutMs?: number;
  /** How long a crashed process still counts as holding its users (presence). Default 30 000 ms. */
  livenessTtlMs?: number;
  /** Receives connection errors (Redis down, reconnect attempts). Default: ignored, the server reports failed operations. */
  onError?: (error: Error) => void;
  /**
   * Clock and timers of every adapter (liveness refresh, retries, connect and close timeouts).
   * Default: the globals, looked up at call time. ioredis's own reconnect backoff runs on the
   * global timers.
   */
  timers?: Timers;
}

/** Every key of {@link RedisAdaptersOptions}; any other is refused. */
const REDIS_ADAPTERS_OPTION_KEYS = optionKeys<RedisAdaptersOptions>()([
  'url',
  'redis',
  'keyPrefix',
  'connectTimeoutMs',
  'livenessTtlMs',
  'onError',
  'timers',
]);

/** The Redis adapters of one server process, and their two connections. */
export interface RedisAdapters {
  cache: RedisLocationCache;
  pubsub: RedisPubSub;
  /** Account settings, on the command connection. */
  settings: RedisSettingsStore;
  /** Presence, on the command connection. */
  presence: RedisPresenceRegistry;
  /** Command connection (cache, settings and presence reads and writes, and PUBLISH). */
  commands: Redis;
  /** Subscriber connection. */
  subscriber: Redis;
  /** Closes both connections. Call after `server.close()`. */
  close(): Promise<void>;
}

/**
 * Creates the Redis location cache, Pub/Sub transport, settings store and presence registry
 * for one server process, on two connections: one for commands (so a location update's SET and
 * PUBLISH are pipelined together) and one for subscriptions. Connections open when the
 * server's `listen()` runs.
 *
 * ```ts
 * const redis = createRedisAdapters({ url: process.env.REDIS_URL });
 * const { cache, pubsub, settings, presence } = redis;
 * const server = createNearbyServer({ ...options, cache, pubsub, settings, presence });
 * await server.listen(); // fails with adapter_unavailable naming the address if Redis is down
 * ```
 */
export function createRedisAdapters(options: RedisAdaptersOptions = {}): RedisAdapters {
  checkOptionKeys(options, REDIS_ADAPTERS_OPTION_KEYS);
  const url = options.url ?? 'redis://127.0.0.1:6379';
  const base: RedisOptions = { ...FAIL_FAST_OPTIONS, ...options.redis };
  const commands = new Redis(url, { ...base, connectionName: 'nearby-commands' });
  const subscriber = new Redis(url, { ...base, autoResubscribe: false, connectionName: 'nearby-subscriber' });
  const onError = options.onError ?? (() => {});
  // Without a listener ioredis prints every reconnect failure; errors surface through failed operations.
  commands.on('error', onError);
  subscriber.on('error', onError);
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  const timers = options.timers;
  const shared = { client: commands, connectTimeoutMs, timers, ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }) };
  const cache = new RedisLocationCache(shared);
  const settings = new RedisSettingsStore(shared);
  const presence = new RedisPresenceRegistry({
    ...shared,
    ...(options.livenessTtlMs === undefined ? {} : { livenessTtlMs: options.livenessTtlMs }),
  });
  const pubsub = new RedisPubSub({ publisher: commands, subscriber, connectTimeoutMs, timers });
  return {
    cache,
    pubsub,
    settings,
    presence,
    commands,
    subscriber,
    async close() {
      // Presence first: it deletes this process's liveness keys while the connection is still open.
      await presence.close();
      await pubsub.close();
      await Promise.all([closeClient(subscriber, timers), closeClient(commands, timers)]);
    },
  };
}
