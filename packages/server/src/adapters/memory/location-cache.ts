import type { CacheEntry, LocationCache } from '../types.js';
import { globalTimers, type Timers } from '../timers.js';
import { checkOptionKeys, optionKeys } from '@nearby/protocol';

export interface MemoryLocationCacheOptions {
  /** Clock and timers; the cache only reads the clock, for TTLs. Default: the globals, looked up at call time. */
  timers?: Timers;
  /** Clock used for TTLs, in place of `timers.now`. */
  now?: () => number;
}

/** Every key of {@link MemoryLocationCacheOptions}; any other is refused. */
const MEMORY_LOCATION_CACHE_OPTION_KEYS = optionKeys<MemoryLocationCacheOptions>()(['timers', 'now']);

interface Entry {
  value: CacheEntry;
  expiresAt: number;
}

/** Entries are swept for expiry once per this many writes, so memory stays bounded without a timer. */
const SWEEP_EVERY_WRITES = 1024;

/**
 * In-process location cache with per-entry TTL: the embedded default. Expired entries are
 * never returned and are swept as writes go on.
 */
export class MemoryLocationCache implements LocationCache {
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;
  #writesSinceSweep = 0;

  constructor(options: MemoryLocationCacheOptions = {}) {
    checkOptionKeys(options, MEMORY_LOCATION_CACHE_OPTION_KEYS);
    const timers = options.timers ?? globalTimers;
    this.#now = options.now ?? (() => timers.now());
  }

  /** Number of entries held, expired ones included until swept. */
  get size(): number {
    return this.#entries.size;
  }

  async set(userId: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    this.#entries.set(userId, { value: { ...entry }, expiresAt: this.#now() + ttlMs });
    if (++this.#writesSinceSweep >= SWEEP_EVERY_WRITES) this.#sweep();
  }

  async getMany(userIds: readonly string[]): Promise<Map<string, CacheEntry>> {
    const now = this.#now();
    const found = new Map<string, CacheEntry>();
    for (const userId of userIds) {
      const entry = this.#entries.get(userId);
      if (entry === undefined) continue;
      if (entry.expiresAt <= now) {
        this.#entries.delete(userId);
        continue;
      }
      found.set(userId, { ...entry.value });
    }
    return found;
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }

  #sweep(): void {
    this.#writesSinceSweep = 0;
    const now = this.#now();
    for (const [userId, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.#entries.delete(userId);
    }
  }
}
