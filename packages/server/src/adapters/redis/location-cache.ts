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

/** Presence sets of users nobody touches expire after this long. */
const PRESENCE_TTL_SECONDS = 24 * 60 * 60;
/**
 * Each process that records presence keeps `<prefix>srv:<serverId>` alive; a process that
 * crashed stops counting as holding its users within this time.
 */
const LIVENESS_TTL_MS = 30_000;
const LIVENESS_REFRESH_MS = 10_000;

/**
 * Latest location per user in Redis: one key per user, `lat,lon,updatedAt`, with a TTL in
 * milliseconds. A write is one `SET … PX`; reading a whole friend list is one `MGET`, however
 * many friends (one round trip for 5000). Also keeps account settings (`<prefix>set:<id>`,
 * `radiusKm,sharing`, no expiry) and presence (`<prefix>on:<id>`, a set of server ids, each
 * counted only while that server's `<prefix>srv:<serverId>` liveness key exists).
 */
export class RedisLocationCache implements LocationCache {
  readonly #client: Redis;
  readonly #prefix: string;
  readonly #connectTimeoutMs: number;
  readonly #ownsClient: boolean;
  readonly #liveness = new Map<string, ReturnType<typeof setInterval>>();
  /** Presence this process registered (user → server ids), registered again if Redis lost it. */
  readonly #present = new Map<string, Set<string>>();
  #readyBefore = false;

  constructor(options: RedisLocationCacheOptions) {
    this.#client = options.client;
    this.#prefix = options.keyPrefix ?? 'nearby:';
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#ownsClient = options.ownsClient ?? false;
    this.#client.on('ready', () => {
      if (this.#readyBefore) this.#restorePresence();
      this.#readyBefore = true;
    });
    if (this.#client.status === 'ready') this.#readyBefore = true;
  }

  connect(): Promise<void> {
    return whenReady(this.#client, this.#connectTimeoutMs);
  }

  async set(userId: string, location: CachedLocation, ttlMs: number): Promise<void> {
    const ttl = Math.max(1, Math.ceil(ttlMs));
    await this.#client.set(this.#key('loc', userId), encodeLocation(location), 'PX', ttl);
  }

  async getMany(userIds: readonly string[]): Promise<Map<string, CachedLocation>> {
    const found = new Map<string, CachedLocation>();
    if (userIds.length === 0) return found;
    const values = await this.#client.mget(userIds.map((id) => this.#key('loc', id)));
    for (let i = 0; i < userIds.length; i++) {
      const location = decodeLocation(values[i]);
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
    this.#keepAlive(serverId);
    let servers = this.#present.get(userId);
    if (servers === undefined) this.#present.set(userId, (servers = new Set()));
    servers.add(serverId);
    const key = this.#key('on', userId);
    await this.#client.multi().sadd(key, serverId).expire(key, PRESENCE_TTL_SECONDS).exec();
  }

  /** Counts only servers that are still alive, and forgets the ones that died without cleaning up. */
  async removePresence(userId: string, serverId: string): Promise<number> {
    const servers = this.#present.get(userId);
    servers?.delete(serverId);
    if (servers?.size === 0) this.#present.delete(userId);
    const key = this.#key('on', userId);
    const results = await this.#client.multi().srem(key, serverId).smembers(key).exec();
    const members = results?.[1]?.[1];
    if (!Array.isArray(members) || members.length === 0) return 0;
    const alive = await this.#client.mget(members.map((member: string) => this.#key('srv', member)));
    const dead = members.filter((_member: string, i: number) => alive[i] === null);
    if (dead.length > 0) await this.#client.srem(key, ...dead);
    return members.length - dead.length;
  }

  #key(kind: 'loc' | 'set' | 'on' | 'srv', userId: string): string {
    return `${this.#prefix}${kind}:${userId}`;
  }

  /** Stops this process's liveness keys (deleting them when Redis is reachable) and closes an owned client. */
  async close(): Promise<void> {
    const servers = [...this.#liveness.keys()];
    for (const timer of this.#liveness.values()) clearInterval(timer);
    this.#liveness.clear();
    if (servers.length > 0 && this.#client.status === 'ready') {
      await this.#client.del(...servers.map((id) => this.#key('srv', id))).catch(() => undefined);
    }
    if (this.#ownsClient) await closeClient(this.#client);
  }

  /**
   * After a reconnect: Redis may have restarted without persistence, losing presence sets and
   * liveness keys. Register this process's users again, so their sign-offs elsewhere stay right.
   */
  #restorePresence(): void {
    const pipeline = this.#client.pipeline();
    for (const serverId of this.#liveness.keys()) pipeline.set(this.#key('srv', serverId), '1', 'PX', LIVENESS_TTL_MS);
    for (const [userId, servers] of this.#present) {
      const key = this.#key('on', userId);
      pipeline.sadd(key, ...servers).expire(key, PRESENCE_TTL_SECONDS);
    }
    pipeline.exec().catch(() => undefined);
  }

  #keepAlive(serverId: string): void {
    if (this.#liveness.has(serverId)) return;
    const refresh = () => {
      this.#client.set(this.#key('srv', serverId), '1', 'PX', LIVENESS_TTL_MS).catch(() => undefined);
    };
    refresh();
    const timer = setInterval(refresh, LIVENESS_REFRESH_MS);
    timer.unref();
    this.#liveness.set(serverId, timer);
  }
}

/** A cached location as stored in its key: `lat,lon,updatedAt`. */
export function encodeLocation(location: CachedLocation): string {
  return `${location.lat},${location.lon},${location.updatedAt}`;
}

/** The location stored in a key, or `undefined` for a missing or unreadable value. */
export function decodeLocation(value: string | null | undefined): CachedLocation | undefined {
  if (value === null || value === undefined) return undefined;
  const [lat, lon, updatedAt] = value.split(',').map(Number);
  if (!Number.isFinite(lat) || !Number.isFinite(lon) || !Number.isFinite(updatedAt)) return undefined;
  return { lat: lat!, lon: lon!, updatedAt: updatedAt! };
}
