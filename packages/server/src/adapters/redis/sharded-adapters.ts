import { Redis, type RedisOptions } from 'ioredis';
import { ErrorCode, NearbyError, checkOptionKeys, optionKeys } from '@nearby/protocol';
import type { Timers } from '../timers.js';
import type { Discovery } from '../types.js';
import { FAIL_FAST_OPTIONS, closeClient } from './connection.js';
import { RedisPresenceRegistry } from './presence-registry.js';
import { RedisSettingsStore } from './settings-store.js';
import { RedisShardPool } from './shard-pool.js';
import { ShardedRedisLocationCache } from './sharded-location-cache.js';
import { ShardedRedisPubSub } from './sharded-pubsub.js';

/** Options of {@link createShardedRedisAdapters}. */
export interface ShardedRedisAdaptersOptions {
  /** Where the Redis nodes carrying channels and locations are listed (`StaticDiscovery`, `EtcdDiscovery`). Not closed by `close()`. */
  discovery: Discovery;
  /** The Redis keeping account settings and presence (not sharded; make it durable). */
  primaryUrl: string;
  /** Extra ioredis options for every connection (TLS, password, …). */
  redis?: RedisOptions;
  /** Prefix of every key (`<prefix>loc:<id>` on the nodes, `set:`, `on:`, `srv:` on the primary). Default `nearby:`. */
  keyPrefix?: string;
  /** The server's `channelPrefix`, so a user's channel and location share a node. Default `nearby:u:`. */
  channelPrefix?: string;
  /** Points per node on the hash ring. Default 160. */
  virtualNodes?: number;
  /** How long `server.listen()` waits for each Redis before failing. Default 5 000 ms. */
  connectTimeoutMs?: number;
  /** How long a crashed process still counts as holding its users (presence on the primary). Default 30 000 ms. */
  livenessTtlMs?: number;
  /** After a ring change, publishes also reach a channel's previous node for this long. Default 5 000 ms. */
  transitionMs?: number;
  /**
   * After a ring change, locations not yet rewritten on their new node are read from the
   * previous one, and nodes that left stay connected, for this long. Keep it above the clients'
   * update interval (30 s). Default 60 000 ms; at least `transitionMs`.
   */
  handoverMs?: number;
  /** Receives connection errors and failed moves. Default: ignored. */
  onError?: (error: unknown) => void;
  /**
   * Clock and timers of the pool, the cache, the Pub/Sub, settings and presence (transition and handover windows,
   * ring change retries, liveness refresh, connect and close timeouts). Default: the globals,
   * looked up at call time. ioredis's own reconnect backoff runs on the global timers.
   */
  timers?: Timers;
}

/** Every key of {@link ShardedRedisAdaptersOptions}; any other is refused. */
const SHARDED_REDIS_ADAPTERS_OPTION_KEYS = optionKeys<ShardedRedisAdaptersOptions>()([
  'discovery',
  'primaryUrl',
  'redis',
  'keyPrefix',
  'channelPrefix',
  'virtualNodes',
  'connectTimeoutMs',
  'livenessTtlMs',
  'transitionMs',
  'handoverMs',
  'onError',
  'timers',
]);

/** The sharded Redis adapters of one server process. */
export interface ShardedRedisAdapters {
  cache: ShardedRedisLocationCache;
  pubsub: ShardedRedisPubSub;
  /** Account settings, on the primary. */
  settings: RedisSettingsStore;
  /** Presence, on the primary. */
  presence: RedisPresenceRegistry;
  /** The nodes and their connections, shared by `cache` and `pubsub`. */
  pool: RedisShardPool;
  /** The connection to the primary, shared by `settings` and `presence`. */
  primary: Redis;
  /** Closes every connection. Call after `server.close()`. */
  close(): Promise<void>;
}

/**
 * Creates a location cache and a Pub/Sub transport sharded over the Redis nodes of a
 * discovery, on one hash ring: a user's location key and channel live on the same node, so one
 * update's `SET` and `PUBLISH` leave in one write, as with a single Redis. Account settings and
 * presence stay on the primary Redis.
 *
 * ```ts
 * const redis = createShardedRedisAdapters({
 *   discovery: new EtcdDiscovery({ hosts: process.env.ETCD_URL }),
 *   primaryUrl: process.env.REDIS_PRIMARY_URL,
 * });
 * const { cache, pubsub, settings, presence } = redis;
 * const server = createNearbyServer({ ...options, cache, pubsub, settings, presence });
 * ```
 */
export function createShardedRedisAdapters(options: ShardedRedisAdaptersOptions): ShardedRedisAdapters {
  checkOptionKeys(options, SHARDED_REDIS_ADAPTERS_OPTION_KEYS);
  const transitionMs = options.transitionMs ?? 5_000;
  const handoverMs = options.handoverMs ?? 60_000;
  if (!(transitionMs >= 0 && handoverMs >= transitionMs)) {
    throw new NearbyError(ErrorCode.INVALID_ARGUMENT, `handoverMs (${handoverMs}) must be at least transitionMs (${transitionMs}), both non-negative`);
  }
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  const optional = {
    ...(options.redis === undefined ? {} : { redis: options.redis }),
    ...(options.onError === undefined ? {} : { onError: options.onError }),
    ...(options.timers === undefined ? {} : { timers: options.timers }),
  };
  const pool = new RedisShardPool({
    discovery: options.discovery,
    handoverMs,
    connectTimeoutMs,
    ...optional,
    ...(options.virtualNodes === undefined ? {} : { virtualNodes: options.virtualNodes }),
  });
  const primaryClient = new Redis(options.primaryUrl, { ...FAIL_FAST_OPTIONS, ...options.redis, connectionName: 'nearby-primary' });
  primaryClient.on('error', options.onError ?? (() => {}));
  const keyPrefix = options.keyPrefix ?? 'nearby:';
  const onPrimary = { client: primaryClient, keyPrefix, connectTimeoutMs, timers: options.timers };
  const settings = new RedisSettingsStore(onPrimary);
  const presence = new RedisPresenceRegistry({
    ...onPrimary,
    ...(options.livenessTtlMs === undefined ? {} : { livenessTtlMs: options.livenessTtlMs }),
  });
  const cache = new ShardedRedisLocationCache({ pool, keyPrefix });
  const pubsub = new ShardedRedisPubSub({
    pool,
    transitionMs,
    ...optional,
    ...(options.channelPrefix === undefined ? {} : { channelPrefix: options.channelPrefix }),
  });
  return {
    cache,
    pubsub,
    settings,
    presence,
    pool,
    primary: primaryClient,
    async close() {
      await pubsub.close();
      // Presence before its connection: it deletes this process's liveness keys.
      await presence.close();
      await closeClient(primaryClient, options.timers);
      await pool.close();
    },
  };
}
