import { ErrorCode, NearbyError } from '@nearby/protocol';
import type { UserSettings } from '../adapters/types.js';
import type { BusEvents } from './bus-router.js';
import type { EngineContext } from './context.js';
import type { LocalUser } from './local-user.js';

/**
 * After the bus is back, views are re-read once at once and once more after this long: by
 * then every other process has had time to write and announce again what it changed during
 * the outage, whichever of the two came back first.
 */
const RECONCILE_AGAIN_AFTER_MS = 3_000;
/** Users whose friend list and settings are re-read at the same time during a reconciliation. */
const RECONCILE_CONCURRENCY = 16;
/** Most users per location cache read during a reconciliation. */
const CACHE_READ_CHUNK = 5_000;

/**
 * Convergence after an outage (docs/architecture.md, "Convergence after faults"): when the bus
 * carries probes again, this process shares its users' positions again, retries its waiting
 * writes, and re-reads what its users see — friend lists from the host, saved settings, and the
 * cache entries of every user it follows — applying whatever is newer than what it knows.
 */
export class Recovery implements BusEvents {
  readonly #ctx: EngineContext;
  #reconciling: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(ctx: EngineContext) {
    this.#ctx = ctx;
  }

  stop(): void {
    this.#stopped = true;
  }

  onDown(): void {
    this.#ctx.counters.busOutages++;
    this.#ctx.report(
      'pubsub',
      new NearbyError(ErrorCode.ADAPTER_UNAVAILABLE, 'pubsub: probes stopped coming back; cross-process delivery is interrupted'),
    );
  }

  onUp(): void {
    if (this.#stopped) return;
    this.#ctx.users.republishPositions();
    this.#ctx.retries.retryNow();
    this.#request(true);
    this.#ctx.later(RECONCILE_AGAIN_AFTER_MS, () => this.#request(false));
  }

  /** Reconciliations run one at a time, in the order requested. */
  #request(withFriends: boolean): void {
    this.#reconciling = this.#reconciling
      .then(() => (this.#stopped ? undefined : this.#reconcile(withFriends)))
      .catch((error: unknown) => this.#ctx.report('reconciliation failed', error));
  }

  /**
   * Re-reads what the views of this process's users depend on, for changes whose announcement
   * was lost: friend lists from the host (`withFriends`), saved settings, and the cache entries
   * of every channel followed here. Each is applied only where newer than what is known.
   */
  async #reconcile(withFriends: boolean): Promise<void> {
    const { counters, users, channels, cache, bus } = this.#ctx;
    counters.reconciliations++;
    const local = [...users.values()];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < local.length) await this.#reconcileUser(local[next++]!, withFriends);
    };
    await Promise.all(Array.from({ length: Math.min(RECONCILE_CONCURRENCY, local.length) }, worker));
    const ids = channels.ids();
    for (let i = 0; i < ids.length && !this.#stopped; i += CACHE_READ_CHUNK) {
      const cached = await cache.getMany(ids.slice(i, i + CACHE_READ_CHUNK));
      for (const [id, entry] of cached) bus.applyCacheEntry(id, entry);
    }
  }

  async #reconcileUser(user: LocalUser, withFriends: boolean): Promise<void> {
    const { options, settings: store, users, friendships } = this.#ctx;
    try {
      await user.ready;
    } catch {
      return;
    }
    if (user.removed) return;
    const readAt = this.#ctx.now();
    let friends: readonly string[] | undefined;
    let settings: UserSettings | undefined;
    try {
      [friends, settings] = await Promise.all([withFriends ? options.friends.getFriends(user.id) : undefined, store?.get(user.id)]);
    } catch (error) {
      this.#ctx.report(`reconciliation of ${user.id} failed`, error);
      return;
    }
    await user.run(async () => {
      if (settings !== undefined) await users.adoptSettings(user, settings);
      if (friends !== undefined && !user.removed) await friendships.adopt(user, friendships.normalize(user.id, friends), readAt);
    });
  }
}
