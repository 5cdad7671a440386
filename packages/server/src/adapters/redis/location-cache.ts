import type { Redis } from 'ioredis';
import type { CacheEntry, LocationCache, UserSettings } from '../types.js';
import { isWithdrawal } from '../entries.js';
import { backgroundEvery, globalTimers, type Timers } from '../timers.js';
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
  /**
   * How long a process that stopped refreshing its liveness key (it crashed) still counts as
   * holding its users. Refreshed every third of it. Default 30 000 ms.
   */
  livenessTtlMs?: number;
  /** Clock and timers (the liveness refresh, the connect timeout). Default: the globals, looked up at call time. */
  timers?: Timers;
}

/**
 * Saves settings field by field, keeping the value with the higher version (`r,s,rv,sv`; a
 * value saved without versions counts as version 0). Compares numbers but writes the strings it
 * was given or found, so no number formatting happens in Lua.
 */
const MERGE_SETTINGS_SCRIPT = `
local r, s, rv, sv = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local current = redis.call('GET', KEYS[1])
if current then
  local cr, cs, crv, csv = string.match(current, '^([^,]*),([^,]*),?([^,]*),?([^,]*)$')
  if cr then
    if crv == '' then crv = '0' end
    if csv == '' then csv = '0' end
    if tonumber(crv) > tonumber(rv) then r = cr; rv = crv end
    if tonumber(csv) > tonumber(sv) then s = cs; sv = csv end
  end
end
redis.call('SET', KEYS[1], r .. ',' .. s .. ',' .. rv .. ',' .. sv)
return 1
`;

type MergingRedis = Redis & { nearbyMergeSettings(key: string, r: string, s: string, rv: string, sv: string): Promise<number> };

/** Presence sets of users nobody touches expire after this long. */
const PRESENCE_TTL_SECONDS = 24 * 60 * 60;
/**
 * Each process that records presence keeps `<prefix>srv:<serverId>` alive; a process that
 * crashed stops counting as holding its users within this time.
 */
const DEFAULT_LIVENESS_TTL_MS = 30_000;

/**
 * Latest entry per user in Redis: one key per user (a position `lat,lon,updatedAt,epoch`, or a
 * withdrawal `~off,at,epoch` / `~bye,at`), with a TTL in milliseconds. A write is one `SET … PX`; reading a whole friend list is one `MGET`, however
 * many friends (one round trip for 5000). Also keeps account settings (`<prefix>set:<id>`,
 * `radiusKm,sharing,radiusVersion,sharingVersion`, no expiry, merged per field by a script) and presence (`<prefix>on:<id>`, a set of server ids, each
 * counted only while that server's `<prefix>srv:<serverId>` liveness key exists).
 */
export class RedisLocationCache implements LocationCache {
  readonly #client: Redis;
  readonly #prefix: string;
  readonly #connectTimeoutMs: number;
  readonly #ownsClient: boolean;
  readonly #livenessTtlMs: number;
  readonly #timers: Timers;
  /** The liveness refresh of each server id this process registered presence for: its stop function. */
  readonly #liveness = new Map<string, () => void>();
  /** Presence this process registered (user → server ids), registered again if Redis lost it. */
  readonly #present = new Map<string, Set<string>>();
  #readyBefore = false;

  constructor(options: RedisLocationCacheOptions) {
    this.#client = options.client;
    this.#prefix = options.keyPrefix ?? 'nearby:';
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#ownsClient = options.ownsClient ?? false;
    this.#livenessTtlMs = options.livenessTtlMs ?? DEFAULT_LIVENESS_TTL_MS;
    this.#timers = options.timers ?? globalTimers;
    if (!Number.isFinite(this.#livenessTtlMs) || this.#livenessTtlMs < 1_000) {
      throw new RangeError(`livenessTtlMs must be at least 1000, got ${String(options.livenessTtlMs)}`);
    }
    if (typeof (this.#client as unknown as Partial<MergingRedis>).nearbyMergeSettings !== 'function') {
      this.#client.defineCommand('nearbyMergeSettings', { numberOfKeys: 1, lua: MERGE_SETTINGS_SCRIPT });
    }
    this.#client.on('ready', () => {
      if (this.#readyBefore) this.#restorePresence();
      this.#readyBefore = true;
    });
    if (this.#client.status === 'ready') this.#readyBefore = true;
  }

  /** How long a crashed process still counts as holding its users. */
  get presenceExpiryMs(): number {
    return this.#livenessTtlMs;
  }

  connect(): Promise<void> {
    return whenReady(this.#client, this.#connectTimeoutMs, this.#timers);
  }

  async set(userId: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    const ttl = Math.max(1, Math.ceil(ttlMs));
    await this.#client.set(this.#key('loc', userId), encodeEntry(entry), 'PX', ttl);
  }

  async getMany(userIds: readonly string[]): Promise<Map<string, CacheEntry>> {
    const found = new Map<string, CacheEntry>();
    if (userIds.length === 0) return found;
    const values = await this.#client.mget(userIds.map((id) => this.#key('loc', id)));
    for (let i = 0; i < userIds.length; i++) {
      const entry = decodeEntry(values[i]);
      if (entry !== undefined) found.set(userIds[i]!, entry);
    }
    return found;
  }

  async getSettings(userId: string): Promise<UserSettings | undefined> {
    return decodeSettings(await this.#client.get(this.#key('set', userId)));
  }

  async setSettings(userId: string, settings: UserSettings): Promise<void> {
    await (this.#client as unknown as MergingRedis).nearbyMergeSettings(
      this.#key('set', userId),
      String(settings.radiusKm),
      settings.sharing ? '1' : '0',
      String(settings.radiusVersion ?? 0),
      String(settings.sharingVersion ?? 0),
    );
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
    for (const stop of this.#liveness.values()) stop();
    this.#liveness.clear();
    if (servers.length > 0 && this.#client.status === 'ready') {
      await this.#client.del(...servers.map((id) => this.#key('srv', id))).catch(() => undefined);
    }
    if (this.#ownsClient) await closeClient(this.#client, this.#timers);
  }

  /**
   * After a reconnect: Redis may have restarted without persistence, losing presence sets and
   * liveness keys. Register this process's users again, so their sign-offs elsewhere stay right.
   */
  #restorePresence(): void {
    const pipeline = this.#client.pipeline();
    for (const serverId of this.#liveness.keys()) pipeline.set(this.#key('srv', serverId), '1', 'PX', this.#livenessTtlMs);
    for (const [userId, servers] of this.#present) {
      const key = this.#key('on', userId);
      pipeline.sadd(key, ...servers).expire(key, PRESENCE_TTL_SECONDS);
    }
    pipeline.exec().catch(() => undefined);
  }

  #keepAlive(serverId: string): void {
    if (this.#liveness.has(serverId)) return;
    const refresh = () => {
      this.#client.set(this.#key('srv', serverId), '1', 'PX', this.#livenessTtlMs).catch(() => undefined);
    };
    refresh();
    this.#liveness.set(serverId, backgroundEvery(this.#timers, Math.floor(this.#livenessTtlMs / 3), refresh));
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

/** Settings as stored: `radiusKm,sharing[,radiusVersion,sharingVersion]`; `undefined` when missing or unreadable. */
export function decodeSettings(value: string | null): UserSettings | undefined {
  if (value === null) return undefined;
  const [radius, sharing, radiusVersion, sharingVersion] = value.split(',');
  const radiusKm = Number(radius);
  if (!Number.isFinite(radiusKm) || radiusKm <= 0 || (sharing !== '1' && sharing !== '0')) return undefined;
  return {
    radiusKm,
    sharing: sharing === '1',
    radiusVersion: finiteOr(Number(radiusVersion ?? 0), 0),
    sharingVersion: finiteOr(Number(sharingVersion ?? 0), 0),
  };
}

function finiteOr(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) ? value : fallback;
}
