import type { Redis } from 'ioredis';
import type { CachedLocation, LocationCache } from '../types.js';
import { closeClient, whenReady } from './connection.js';

export interface RedisLocationCacheOptions {
  /** Command connection (not a subscriber connection). */
  client: Redis;
  /** Prefix of cache keys. Default `nearby:loc:`. */
  keyPrefix?: string;
  /** How long `connect()` waits for Redis. Default 5 000 ms. */
  connectTimeoutMs?: number;
  /** Whether `close()` also closes `client` (true when the cache created it). Default false. */
  ownsClient?: boolean;
}

/**
 * Latest location per user in Redis: one key per user, `lat,lon,updatedAt`, with a TTL in
 * milliseconds. A write is one `SET … PX`; reading a whole friend list is one `MGET`, however
 * many friends (one round trip for 5000).
 */
export class RedisLocationCache implements LocationCache {
  readonly #client: Redis;
  readonly #prefix: string;
  readonly #connectTimeoutMs: number;
  readonly #ownsClient: boolean;

  constructor(options: RedisLocationCacheOptions) {
    this.#client = options.client;
    this.#prefix = options.keyPrefix ?? 'nearby:loc:';
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#ownsClient = options.ownsClient ?? false;
  }

  connect(): Promise<void> {
    return whenReady(this.#client, this.#connectTimeoutMs);
  }

  async set(userId: string, location: CachedLocation, ttlMs: number): Promise<void> {
    const ttl = Math.max(1, Math.ceil(ttlMs));
    await this.#client.set(this.#prefix + userId, `${location.lat},${location.lon},${location.updatedAt}`, 'PX', ttl);
  }

  async getMany(userIds: readonly string[]): Promise<Map<string, CachedLocation>> {
    const found = new Map<string, CachedLocation>();
    if (userIds.length === 0) return found;
    const values = await this.#client.mget(userIds.map((id) => this.#prefix + id));
    for (let i = 0; i < userIds.length; i++) {
      const location = decode(values[i]);
      if (location !== undefined) found.set(userIds[i]!, location);
    }
    return found;
  }

  async delete(userId: string): Promise<void> {
    await this.#client.del(this.#prefix + userId);
  }

  async close(): Promise<void> {
    if (this.#ownsClient) await closeClient(this.#client);
  }
}

function decode(value: string | null | undefined): CachedLocation | undefined {
  if (value === null || value === undefined) return undefined;
  const [lat, lon, updatedAt] = value.split(',').map(Number);
  if (!Number.isFinite(lat) || !Number.isFinite(lon) || !Number.isFinite(updatedAt)) return undefined;
  return { lat: lat!, lon: lon!, updatedAt: updatedAt! };
}
