import type { Redis } from 'ioredis';
import type { CacheEntry, LocationCache } from '../types.js';
import { isWithdrawal } from '../entries.js';
import { globalTimers, type Timers } from '../timers.js';
import { closeClient, whenReady } from './connection.js';
import { checkOptionKeys, optionKeys } from '@nearby/protocol';

export interface RedisLocationCacheOptions {
  /** Command connection (not a subscriber connection); may be shared with settings and presence. */
  client: Redis;
  /** Prefix of every key: `<prefix>loc:<id>`. Default `nearby:`. */
  keyPrefix?: string;
  /** How long `connect()` waits for Redis. Default 5 000 ms. */
  connectTimeoutMs?: number;
  /** Whether `close()` also closes `client` (true when the cache created it). Default false. */
  ownsClient?: boolean;
  /** Clock and timers (the connect and close timeouts). Default: the globals, looked up at call time. */
  timers?: Timers;
}

/** Every key of {@link RedisLocationCacheOptions}; any other is refused. */
const REDIS_LOCATION_CACHE_OPTION_KEYS = optionKeys<RedisLocationCacheOptions>()([
  'client',
  'keyPrefix',
  'connectTimeoutMs',
  'ownsClient',
  'timers',
]);

/**
 * Latest entry per user in Redis: one key per user, `<prefix>loc:<id>` (a position
 * `lat,lon,updatedAt,epoch`, or a withdrawal `~off,at,epoch` / `~bye,at`), with a TTL in
 * milliseconds. A write is one `SET … PX`; reading a whole friend list is one `MGET`, however
 * many friends (one round trip for 5000). Settings and presence are `RedisSettingsStore` and
 * `RedisPresenceRegistry`, which may share the same client.
 */
export class RedisLocationCache implements LocationCache {
  readonly #client: Redis;
  readonly #prefix: string;
  readonly #connectTimeoutMs: number;
  readonly #ownsClient: boolean;
  readonly #timers: Timers;

  constructor(options: RedisLocationCacheOptions) {
    checkOptionKeys(options, REDIS_LOCATION_CACHE_OPTION_KEYS);
    this.#client = options.client;
    this.#prefix = options.keyPrefix ?? 'nearby:';
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#ownsClient = options.ownsClient ?? false;
    this.#timers = options.timers ?? globalTimers;
  }

  connect(): Promise<void> {
    return whenReady(this.#client, this.#connectTimeoutMs, this.#timers);
  }

  async set(userId: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    const ttl = Math.max(1, Math.ceil(ttlMs));
    await this.#client.set(this.#key(userId), encodeEntry(entry), 'PX', ttl);
  }

  async getMany(userIds: readonly string[]): Promise<Map<string, CacheEntry>> {
    const found = new Map<string, CacheEntry>();
    if (userIds.length === 0) return found;
    const values = await this.#client.mget(userIds.map((id) => this.#key(id)));
    for (let i = 0; i < userIds.length; i++) {
      const entry = decodeEntry(values[i]);
      if (entry !== undefined) found.set(userIds[i]!, entry);
    }
    return found;
  }

  /** Closes the client when the cache owns it; a shared one is closed by its owner. */
  async close(): Promise<void> {
    if (this.#ownsClient) await closeClient(this.#client, this.#timers);
  }

  #key(userId: string): string {
    return `${this.#prefix}loc:${userId}`;
  }
}

/** A cache entry as stored in its key: `lat,lon,updatedAt,epoch`, `~off,at,epoch` or `~bye,at`. */
export function encodeEntry(entry: CacheEntry): string {
  if (isWithdrawal(entry)) {
    return entry.withdrawn === 'sharing_off' ? `~off,${entry.at},${entry.epoch ?? 0}` : `~bye,${entry.at}`;
  }
  return `${entry.lat},${entry.lon},${entry.updatedAt},${entry.epoch ?? 0}`;
}

/** The entry stored in a key, or `undefined` for a missing or unreadable value. Reads the older `lat,lon,updatedAt` too. */
export function decodeEntry(value: string | null | undefined): CacheEntry | undefined {
  if (value === null || value === undefined) return undefined;
  if (value.startsWith('~')) {
    const [kind, at, epoch] = value.slice(1).split(',');
    const time = Number(at);
    if (!Number.isFinite(time)) return undefined;
    if (kind === 'off') return { withdrawn: 'sharing_off', at: time, epoch: finiteOr(Number(epoch), 0) };
    if (kind === 'bye') return { withdrawn: 'offline', at: time };
    return undefined;
  }
  const [lat, lon, updatedAt, epoch] = value.split(',').map(Number);
  if (!Number.isFinite(lat) || !Number.isFinite(lon) || !Number.isFinite(updatedAt)) return undefined;
  return { lat: lat!, lon: lon!, updatedAt: updatedAt!, epoch: finiteOr(epoch, 0) };
}

function finiteOr(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) ? value : fallback;
}
