import type { CacheEntry, LocationCache } from '../types.js';
import { isWithdrawal } from '../entries.js';
import { decodeEntry, encodeEntry } from './location-cache.js';
import type { RedisShard, RedisShardPool } from './shard-pool.js';
import { checkOptionKeys, optionKeys } from '@nearby/protocol';

export interface ShardedRedisLocationCacheOptions {
  /** The nodes, shared with `ShardedRedisPubSub` so a user's location and channel live together. */
  pool: RedisShardPool;
  /** Prefix of location keys on the nodes: `<prefix>loc:<id>`. Default `nearby:`. */
  keyPrefix?: string;
}

/** Every key of {@link ShardedRedisLocationCacheOptions}; any other is refused. */
const SHARDED_REDIS_LOCATION_CACHE_OPTION_KEYS = optionKeys<ShardedRedisLocationCacheOptions>()(['pool', 'keyPrefix']);

/**
 * Latest locations sharded by user over the pool's hash ring: a write is one `SET … PX` on the
 * user's node, reading a friend list is one `MGET` per node holding some of the friends, in
 * parallel. For the pool's handover after a ring change, users not yet found on their new node
 * are read from their previous one (a user rewrites their location within one update interval,
 * so the handover should exceed it), and a withdrawal is written to both, so a user who stopped
 * sharing is never found on a stale node. Settings and presence, which must outlive any ring
 * change, belong on a single durable Redis (`RedisSettingsStore`, `RedisPresenceRegistry`;
 * `createShardedRedisAdapters` puts them on its primary).
 */
export class ShardedRedisLocationCache implements LocationCache {
  readonly #pool: RedisShardPool;
  readonly #prefix: string;

  constructor(options: ShardedRedisLocationCacheOptions) {
    checkOptionKeys(options, SHARDED_REDIS_LOCATION_CACHE_OPTION_KEYS);
    this.#pool = options.pool;
    this.#prefix = options.keyPrefix ?? 'nearby:';
  }

  connect(): Promise<void> {
    return this.#pool.connect();
  }

  async set(userId: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    const key = this.#key(userId);
    const value = encodeEntry(entry);
    const ttl = Math.max(1, Math.ceil(ttlMs));
    const previous = isWithdrawal(entry) ? this.#pool.previousOwner(userId, this.#pool.handoverMs) : undefined;
    await Promise.all([this.#pool.owner(userId).commands.set(key, value, 'PX', ttl), previous?.commands.set(key, value, 'PX', ttl)]);
  }

  async getMany(userIds: readonly string[]): Promise<Map<string, CacheEntry>> {
    const found = new Map<string, CacheEntry>();
    if (userIds.length === 0) return found;
    await this.#readFrom(userIds, (id) => this.#pool.owner(id), found);
    const handover = this.#pool.handoverMs;
    const missing = userIds.filter((id) => !found.has(id) && this.#pool.previousOwner(id, handover) !== undefined);
    if (missing.length > 0) await this.#readFrom(missing, (id) => this.#pool.previousOwner(id, handover)!, found);
    return found;
  }

  /** One MGET per node, in parallel, adding what it finds to `found`. */
  async #readFrom(userIds: readonly string[], nodeOf: (id: string) => RedisShard, found: Map<string, CacheEntry>): Promise<void> {
    const groups = new Map<RedisShard, string[]>();
    for (const id of userIds) {
      const shard = nodeOf(id);
      let group = groups.get(shard);
      if (group === undefined) groups.set(shard, (group = []));
      group.push(id);
    }
    await Promise.all(
      [...groups].map(async ([shard, ids]) => {
        const values = await shard.commands.mget(ids.map((id) => this.#key(id)));
        for (let i = 0; i < ids.length; i++) {
          const entry = decodeEntry(values[i]);
          if (entry !== undefined) found.set(ids[i]!, entry);
        }
      }),
    );
  }

  #key(userId: string): string {
    return `${this.#prefix}loc:${userId}`;
  }
}
