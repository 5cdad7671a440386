import type { EngineContext } from './context.js';
import type { LocalUser } from './local-user.js';

/** Added to the presence registry's expiry before a sign-off is checked again. */
const SIGN_OFF_RECHECK_MARGIN_MS = 1_000;

/**
 * What happens when a user's last connection on this process closes: presence is updated, and
 * a deliberate sign-off is announced ("offline") only when no other process still holds the
 * user. When presence cannot be read, or counts another process that may have crashed, the
 * sign-off is decided again later instead of being lost.
 */
export class Departures {
  readonly #ctx: EngineContext;
  readonly #isHere: (userId: string) => boolean;
  readonly #pending = new Set<Promise<void>>();

  constructor(ctx: EngineContext, isHere: (userId: string) => boolean) {
    this.#ctx = ctx;
    this.#isHere = isHere;
  }

  depart(user: LocalUser, signedOff: boolean): void {
    const departure = this.#depart(user, signedOff);
    this.#pending.add(departure);
    void departure.finally(() => this.#pending.delete(departure));
  }

  /** Resolves when the departures started so far have finished. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }

  async #depart(user: LocalUser, signedOff: boolean): Promise<void> {
    const ctx = this.#ctx;
    const userId = user.id;
    let elsewhere: number | undefined = 0;
    if (ctx.presence !== undefined) {
      try {
        elsewhere = await ctx.presence.remove(userId, ctx.options.serverId);
      } catch (error) {
        ctx.report('presence update failed', error);
        elsewhere = undefined;
      }
    }
    // Reconnected here meanwhile: not offline.
    if (!signedOff || this.#isHere(userId)) return;
    const after = user.location?.t ?? 0;
    if (elsewhere === undefined) {
      // Presence cannot be read: friends here see the sign-off now, the rest of the deployment
      // once presence shows that no other process holds the user.
      ctx.bus.apply({ k: 'bye', s: ctx.options.serverId, u: userId, t: ctx.clock.next(after) });
      ctx.retries.run(`sign-off ${userId}`, () => this.#confirm(userId, after));
      return;
    }
    if (elsewhere > 0) {
      // Maybe a process that crashed and still counts: ask again once a crashed process no longer would.
      const expiry = ctx.presence?.expiryMs;
      if (expiry !== undefined) {
        ctx.later(expiry + SIGN_OFF_RECHECK_MARGIN_MS, () => ctx.retries.run(`sign-off ${userId}`, () => this.#confirm(userId, after)));
      }
      return;
    }
    this.#signOff(userId, after);
  }

  /** Signs the user off everywhere if presence shows that no process holds them. Rejects (and is retried) while presence cannot be read. */
  async #confirm(userId: string, after: number): Promise<void> {
    const { presence, options } = this.#ctx;
    if (this.#isHere(userId) || presence === undefined) return;
    const elsewhere = await presence.remove(userId, options.serverId);
    if (elsewhere > 0 || this.#isHere(userId)) return;
    this.#signOff(userId, after);
  }

  /** Withdraws the user's position everywhere: a withdrawal in the cache (retried) and `bye` on the bus. */
  #signOff(userId: string, after: number): void {
    const ctx = this.#ctx;
    const t = ctx.clock.next(after);
    ctx.retries.run(`entry ${userId}`, () => ctx.cache.set(userId, { withdrawn: 'offline', at: t }, ctx.options.inactiveAfterMs));
    ctx.bus.announceAndApply({ k: 'bye', s: ctx.options.serverId, u: userId, t });
  }
}
