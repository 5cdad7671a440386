import type { Redis } from 'ioredis';
import type { PresenceRegistry } from '../types.js';
import { backgroundEvery, globalTimers, type Timers } from '../timers.js';
import { closeClient, whenReady } from './connection.js';
import { checkOptionKeys, optionKeys } from '@nearby/protocol';

export interface RedisPresenceRegistryOptions {
  /** Command connection (not a subscriber connection); may be shared with the location cache and settings. */
  client: Redis;
  /** Prefix of every key: `<prefix>on:<id>`, `<prefix>srv:<serverId>`. Default `nearby:`. */
  keyPrefix?: string;
  /** How long `connect()` waits for Redis. Default 5 000 ms. */
  connectTimeoutMs?: number;
  /** Whether `close()` also closes `client` (true when the registry created it). Default false. */
  ownsClient?: boolean;
  /**
   * How long a process that stopped refreshing its liveness key (it crashed) still counts as
   * holding its users; also `expiryMs`. Refreshed every third of it. At least 1 000. Default 30 000 ms.
   */
  livenessTtlMs?: number;
  /** Clock and timers (the liveness refresh, the connect and close timeouts). Default: the globals, looked up at call time. */
  timers?: Timers;
}

/** Every key of {@link RedisPresenceRegistryOptions}; any other is refused. */
const REDIS_PRESENCE_REGISTRY_OPTION_KEYS = optionKeys<RedisPresenceRegistryOptions>()([
  'client',
  'keyPrefix',
  'connectTimeoutMs',
  'ownsClient',
  'livenessTtlMs',
  'timers',
]);

/** Presence sets of users nobody touches expire after this long. */
const PRESENCE_TTL_SECONDS = 24 * 60 * 60;
/**
 * Each process that records presence keeps `<prefix>srv:<serverId>` alive; a process that
 * crashed stops counting as holding its users within this time.
 */
const DEFAULT_LIVENESS_TTL_MS = 30_000;

/**
 * Presence in Redis: `<prefix>on:<id>`, the set of server ids holding the user (expiring 24 h
 * after its last addition), each counted only while that server's `<prefix>srv:<serverId>`
 * liveness key exists. Every server id this registry added is kept alive by a refresh every
 * third of `livenessTtlMs`, so a process that crashed stops counting within `livenessTtlMs`.
 * After a reconnect, what this process registered is written again, in case Redis restarted
 * without its data.
 */
export class RedisPresenceRegistry implements PresenceRegistry {
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

  constructor(options: RedisPresenceRegistryOptions) {
    checkOptionKeys(options, REDIS_PRESENCE_REGISTRY_OPTION_KEYS);
    this.#client = options.client;
    this.#prefix = options.keyPrefix ?? 'nearby:';
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#ownsClient = options.ownsClient ?? false;
    this.#livenessTtlMs = options.livenessTtlMs ?? DEFAULT_LIVENESS_TTL_MS;
    this.#timers = options.timers ?? globalTimers;
    if (!Number.isFinite(this.#livenessTtlMs) || this.#livenessTtlMs < 1_000) {
      throw new RangeError(`livenessTtlMs must be at least 1000, got ${String(options.livenessTtlMs)}`);
    }
    // The first 'ready' is the initial connection; every later one is a reconnect.
    this.#client.on('ready', () => {
      if (this.#readyBefore) this.#restore();
      this.#readyBefore = true;
    });
    if (this.#client.status === 'ready') this.#readyBefore = true;
  }

  /** How long a crashed process still counts as holding its users: `livenessTtlMs`. */
  get expiryMs(): number {
    return this.#livenessTtlMs;
  }

  connect(): Promise<void> {
    return whenReady(this.#client, this.#connectTimeoutMs, this.#timers);
  }

  async add(userId: string, serverId: string): Promise<void> {
    this.#keepAlive(serverId);
    let servers = this.#present.get(userId);
    if (servers === undefined) this.#present.set(userId, (servers = new Set()));
    servers.add(serverId);
    const key = this.#key('on', userId);
    await this.#client.multi().sadd(key, serverId).expire(key, PRESENCE_TTL_SECONDS).exec();
  }

  /** Counts only servers that are still alive, and forgets the ones that died without cleaning up. */
  async remove(userId: string, serverId: string): Promise<number> {
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

  #key(kind: 'on' | 'srv', id: string): string {
    return `${this.#prefix}${kind}:${id}`;
  }

  /**
   * After a reconnect: Redis may have restarted without persistence, losing presence sets and
   * liveness keys. Register this process's users again, so their sign-offs elsewhere stay right.
   */
  #restore(): void {
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
