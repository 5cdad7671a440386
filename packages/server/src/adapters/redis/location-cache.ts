import type { Redis } from 'ioredis';
import type { CachedLocation, LocationCache, UserSettings } from '../types.js';
import { closeClient, whenReady } from './connection.js';

export interface RedisLocationCacheOptions {
  /** Command connection (not a subscriber connection). */
  client: Redis;
  /** Prefix of every key: `<prefix>loc:<id>`, `<prefix>set:<id>`, `<prefix>on:<id>`. Default `nearby:`. */
  keyPrefix?: string;
  /** How long `connect()` waits for Redis. Default 5 000 ms. */
  connectTimeoutMs?: number;
  /** Whether `close()` also closes `client` (true when the cache created it). Default false. */
  ownsClient?: boolean;
}

/** Presence entries outlive a crashed process by at most this long. */
const PRESENCE_TTL_SECONDS = 24 * 60 * 60;

/**
 * Latest location per user in Redis: one key per user, `lat,lon,updatedAt`, with a TTL in
 * milliseconds. A write is one `SET … PX`; reading a whole friend list is one `MGET`, however
 * many friends (one round trip for 5000). Also keeps account settings (`<prefix>set:<id>`,
 * `radiusKm,sharing`, no expiry) and presence (`<prefix>on:<id>`, a set of server ids).
 */
export class RedisLocationCache implements LocationCache {
  readonly #client: Redis;
  readonly #prefix: string;
  readonly #connectTimeoutMs: number;
  readonly #ownsClient: boolean;

  constructor(options: RedisLocationCacheOptions) {
    this.#client = options.client;
    this.#prefix = options.keyPrefix ?? 'nearby:';
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#ownsClient = options.ownsClient ?? false;
  }

  connect(): Promise<void> {
    return whenReady(this.#client, this.#connectTimeoutMs);
  }

  async set(userId: string, location: CachedLocation, ttlMs: number): Promise<void> {
    const ttl = Math.max(1, Math.ceil(ttlMs));
    await this.#client.set(this.#key('loc', userId), `${location.lat},${location.lon},${location.updatedAt}`, 'PX', ttl);
  }

  async getMany(userIds: readonly string[]): Promise<Map<string, CachedLocation>> {
    const found = new Map<string, CachedLocation>();
    if (userIds.length === 0) return found;
    const values = await this.#client.mget(userIds.map((id) => this.#key('loc', id)));
    for (let i = 0; i < userIds.length; i++) {
      const location = decode(values[i]);
      if (location !== undefined) found.set(userIds[i]!, location);
    }
    return found;
  }

  async delete(userId: string): Promise<void> {
    await this.#client.del(this.#key('loc', userId));
  }

  async getSettings(userId: string): Promise<UserSettings | undefined> {
    const value = await this.#client.get(this.#key('set', userId));
    if (value === null) return undefined;
    const [radius, sharing] = value.split(',');
    const radiusKm = Number(radius);
    if (!Number.isFinite(radiusKm) || radiusKm <= 0 || (sharing !== '1' && sharing !== '0')) return undefined;
    return { radiusKm, sharing: sharing === '1' };
  }

  async setSettings(userId: string, settings: UserSettings): Promise<void> {
    await this.#client.set(this.#key('set', userId), `${settings.radiusKm},${settings.sharing ? 1 : 0}`);
  }

  async addPresence(userId: string, serverId: string): Promise<void> {
    const key = this.#key('on', userId);
    await this.#client.multi().sadd(key, serverId).expire(key, PRESENCE_TTL_SECONDS).exec();
  }

  async removePresence(userId: string, serverId: string): Promise<number> {
    const key = this.#key('on', userId);
    const results = await this.#client.multi().srem(key, serverId).scard(key).exec();
    const remaining = results?.[1]?.[1];
    return typeof remaining === 'number' ? remaining : 0;
  }

  #key(kind: 'loc' | 'set' | 'on', userId: string): string {
    return `${this.#prefix}${kind}:${userId}`;
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
