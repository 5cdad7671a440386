import { SLOTS } from './key-slot.js';
import { PassSchedule, RECONCILE_TIMING, type PassOutcome, type Wake } from './schedule.js';

/** Master (`host:port`) serving each slot, indexed by slot; `undefined` for a slot nobody serves. */
export type SlotOwners = readonly (string | undefined)[];

/** What the transport does at the start of a pass, from {@link ClusterReconciler.arrange}. */
export interface Arrangement {
  /** The slot map differs from the one the subscriptions were last arranged for. */
  mapChanged: boolean;
  /** Masters serving slots without a subscriber connection: open one each. */
  open: string[];
  /** Wanted channels not subscribed anywhere (some just taken from a master that gave their slot away): place them. */
  unplaced: string[];
}

/** Where to subscribe channels, from {@link ClusterReconciler.assign}. */
export interface Assignment {
  /** Channels by the master serving their slot now. */
  groups: Map<string, string[]>;
  /** Channels whose slot has no known owner: they cannot be placed yet. */
  unowned: number;
}

/**
 * Decides where the shard subscriptions of the Redis Cluster transport (`RedisClusterPubSub`)
 * belong and when to look again. It does no I/O and reads no clock: the transport tells it what happened (channels
 * wanted, slot maps loaded, replies, connections lost or ready) with the current time, and it
 * answers with what to do (subscribe these channels on that master, take those back, run the
 * next pass at time t).
 *
 * It keeps the channels the core wants (with their slot), which master each is subscribed on
 * by the transport's account, the channels whose subscription was lost (subscribing them again
 * counts as a resubscription), the latest slot map and the one the subscriptions were arranged
 * for. A pass brings every subscription to the master serving its slot; a pass that leaves
 * something unplaced is retried with backoff, or at once after a MOVED answer named the new
 * owner, until everything is placed.
 */
export class ClusterReconciler {
  /** Channels asked for, with their slot. */
  readonly #wanted = new Map<string, number>();
  /** The master each wanted channel is subscribed on now. */
  readonly #placement = new Map<string, string>();
  /** Every master with a subscriber connection, and the channels placed on it. */
  readonly #held = new Map<string, Set<string>>();
  /** Channels whose subscription was lost; placing them again counts as a resubscription. */
  readonly #lost = new Set<string>();
  /**
   * The latest slot map, as loaded, or corrected by a MOVED answer until the next load. Replaced,
   * never changed in place: the arranged map must stay as it was.
   */
  #latest: SlotOwners = [];
  /** The slot map the subscriptions were last arranged for. */
  #arranged: SlotOwners = [];
  /** When passes run. */
  readonly #schedule = new PassSchedule();

  /** Channels wanted. */
  get channels(): number {
    return this.#wanted.size;
  }

  /** Wanted channels not currently subscribed on their slot owner. */
  get pending(): number {
    return this.#wanted.size - this.#placement.size;
  }

  /** Whether the core wants `channel`. */
  wants(channel: string): boolean {
    return this.#wanted.has(channel);
  }

  /** The master serving `slot` by the latest slot map. */
  ownerOf(slot: number): string | undefined {
    return this.#latest[slot];
  }

  /** The channels placed on `master`. */
  heldBy(master: string): ReadonlySet<string> {
    return this.#held.get(master) ?? new Set();
  }

  // ------------------------------------------------------------------ wanted channels

  /** Records channels to keep subscribed, each with its slot; returns those not wanted before. */
  want(channels: readonly string[], slotOf: (channel: string) => number): string[] {
    const added: string[] = [];
    for (const channel of channels) {
      if (this.#wanted.has(channel)) continue;
      this.#wanted.set(channel, slotOf(channel));
      added.push(channel);
    }
    return added;
  }

  /** Forgets channels at once (messages on them are ignored from now on); returns those that were wanted. */
  unwant(channels: readonly string[]): string[] {
    const removed: string[] = [];
    for (const channel of channels) {
      if (!this.#wanted.delete(channel)) continue;
      this.#lost.delete(channel);
      removed.push(channel);
    }
    return removed;
  }

  /** Takes back the subscriptions of channels no longer wanted: what to SUNSUBSCRIBE, by master. */
  release(channels: readonly string[]): Map<string, string[]> {
    const groups = new Map<string, string[]>();
    for (const channel of channels) {
      const master = this.#placement.get(channel);
      if (master === undefined) continue;
      this.#unplace(channel);
      push(groups, master, channel);
    }
    return groups;
  }

  // ------------------------------------------------------------------ placing

  /** Where to subscribe those of `channels` that are wanted and not placed: on the master serving their slot now. */
  assign(channels: Iterable<string>): Assignment {
    const groups = new Map<string, string[]>();
    let unowned = 0;
    for (const channel of channels) {
      const slot = this.#wanted.get(channel);
      if (slot === undefined || this.#placement.has(channel)) continue;
      const owner = this.#latest[slot];
      if (owner === undefined) unowned++;
      else push(groups, owner, channel);
    }
    return { groups, unowned };
  }

  /**
   * `master` accepted SSUBSCRIBE of `channels` on its current connection. Returns how many of
   * them had lost their subscription before (resubscriptions).
   */
  subscribed(master: string, channels: readonly string[]): number {
    const held = this.#held.get(master);
    if (held === undefined) return 0;
    let resubscribed = 0;
    for (const channel of channels) {
      if (!this.#wanted.has(channel)) continue;
      const before = this.#placement.get(channel);
      if (before !== undefined && before !== master) this.#held.get(before)?.delete(channel);
      this.#placement.set(channel, master);
      held.add(channel);
      if (this.#lost.delete(channel)) resubscribed++;
    }
    return resubscribed;
  }

  /** `master` refused channels placed on it (MOVED: it no longer serves their slot); they are placed again by the next pass. */
  refused(master: string, channels: readonly string[]): void {
    for (const channel of channels) {
      if (this.#placement.get(channel) !== master) continue;
      this.#unplace(channel);
      if (this.#wanted.has(channel)) this.#lost.add(channel);
    }
  }

  /**
   * A MOVED answer named `owner` as the master serving `slot`. The latest slot map is corrected
   * with it until the next load, so the next pass subscribes there even while some nodes still
   * report the old owner.
   */
  redirect(slot: number, owner: string): void {
    if (slot < 0 || slot >= SLOTS || this.#latest[slot] === owner) return;
    const corrected = this.#latest.slice();
    corrected[slot] = owner;
    this.#latest = corrected;
    this.#schedule.redirected();
  }

  // ------------------------------------------------------------------ connections

  /** The transport opened a subscriber connection to `master`. */
  opened(master: string): void {
    if (!this.#held.has(master)) this.#held.set(master, new Set());
  }

  /**
   * The connection to `master` was lost. A new connection starts without subscriptions, and the
   * node may not serve the slots any more when it comes back (failover): every channel it
   * carried is placed again, after a pause.
   */
  lost(master: string, now: number): Wake | undefined {
    const held = this.#held.get(master);
    for (const channel of held ?? []) {
      this.#placement.delete(channel);
      if (this.#wanted.has(channel)) this.#lost.add(channel);
    }
    held?.clear();
    return this.#schedule.request(now, RECONCILE_TIMING.retryMinMs, true);
  }

  /** A subscriber connection is ready (again): arrange at once, on a fresh slot map. */
  ready(now: number): Wake | undefined {
    return this.#schedule.request(now, 0, true);
  }

  /** A node unsubscribed a connection from shard channels by itself, or answered SSUBSCRIBE with MOVED: the slot map is stale. */
  unsubscribePushed(now: number): Wake | undefined {
    return this.#schedule.request(now, RECONCILE_TIMING.movedDebounceMs, true);
  }

  /** The periodic safety check: reload the slot map and verify every connection. */
  periodicCheck(now: number): Wake | undefined {
    return this.#schedule.request(now, 0, true);
  }

  /** Some channels could not be placed outside a pass (a subscribe call, the first placement): retry soon. */
  placementFailed(now: number): Wake | undefined {
    return this.#schedule.request(now, RECONCILE_TIMING.retryMinMs, true);
  }

  // ------------------------------------------------------------------ slot map

  /**
   * The cluster client loaded a slot map. A pass follows at once when it differs from the
   * arranged one; a pass running now checks when it ends.
   */
  slotMapLoaded(owners: SlotOwners, now: number): Wake | undefined {
    this.#latest = owners;
    if (this.#schedule.active && !this.#schedule.running && this.#mapChanged()) return this.#schedule.request(now, 0, false);
    return undefined;
  }

  // ------------------------------------------------------------------ passes

  /** Starts scheduling passes, with the subscriptions arranged for the latest slot map. */
  start(): void {
    this.#schedule.start();
    this.#arranged = this.#latest;
  }

  /** Stops scheduling passes and forgets every placement (the transport closes its connections). */
  stop(): void {
    this.#schedule.stop();
    this.#placement.clear();
    this.#held.clear();
  }

  /** The wake-up came: a pass starts. Reload the slot map first when `refresh` is set. */
  beginPass(): { refresh: boolean } {
    return this.#schedule.begin();
  }

  /**
   * Arranges the subscriptions for the latest slot map: channels left on a master that no
   * longer serves their slot are taken back (their old master unsubscribes them by itself, or
   * already has) and, with any other unplaced channel, are to be placed again.
   */
  arrange(): Arrangement {
    const mapChanged = this.#mapChanged();
    const owners = this.#latest;
    this.#arranged = owners;
    const open = this.missingConnections();
    for (const [channel, master] of this.#placement) {
      const slot = this.#wanted.get(channel);
      // A channel being unsubscribed is left to `release`, which takes it back where it is.
      if (slot === undefined || owners[slot] === master) continue;
      this.#unplace(channel);
      this.#lost.add(channel);
    }
    return { mapChanged, open, unplaced: this.unplaced() };
  }

  /** Masters serving slots in the latest map without a subscriber connection. */
  missingConnections(): string[] {
    const missing: string[] = [];
    for (const master of new Set(this.#latest)) if (master !== undefined && !this.#held.has(master)) missing.push(master);
    return missing;
  }

  /** Wanted channels not subscribed anywhere. */
  unplaced(): string[] {
    if (this.#placement.size === this.#wanted.size) return [];
    return [...this.#wanted.keys()].filter((channel) => !this.#placement.has(channel));
  }

  /**
   * The count check of one connection: SSUBSCRIBE of `probe`, a channel it carries, answers the
   * connection's number of shard subscriptions, which should be `expected`. Undefined when it
   * carries nothing.
   */
  countCheck(master: string): { probe: string; expected: number } | undefined {
    const held = this.#held.get(master);
    if (held === undefined || held.size === 0) return undefined;
    return { probe: held.values().next().value!, expected: held.size };
  }

  /**
   * The answer to a count check. When it differs (a node dropped some subscriptions without
   * telling), returns every channel the connection should carry, to subscribe again: harmless
   * for those still there, and each missing one raises the count by one.
   */
  counted(master: string, expected: number, count: number): string[] | undefined {
    if (count === expected) return undefined;
    return [...this.heldBy(master)];
  }

  /** Masters that serve no slot in the arranged map and carry nothing: close their connections. They are forgotten here. */
  idle(): string[] {
    const serving = new Set(this.#arranged);
    const idle: string[] = [];
    for (const [master, held] of this.#held) {
      if (serving.has(master) || held.size > 0) continue;
      this.#held.delete(master);
      idle.push(master);
    }
    return idle;
  }

  /** The pass ended, `complete` when everything was placed and verified: when to run the next (see {@link PassSchedule.end}). */
  endPass(now: number, complete: boolean): PassOutcome {
    return this.#schedule.end(now, complete, complete && this.#mapChanged(), this.pending);
  }

  #unplace(channel: string): void {
    const master = this.#placement.get(channel);
    if (master === undefined) return;
    this.#placement.delete(channel);
    this.#held.get(master)?.delete(channel);
  }

  /** Whether the latest slot map differs from the one the subscriptions were arranged for. */
  #mapChanged(): boolean {
    if (this.#latest === this.#arranged) return false;
    if (this.#latest.length !== this.#arranged.length) return true;
    for (let slot = 0; slot < SLOTS; slot++) if (this.#latest[slot] !== this.#arranged[slot]) return true;
    return false;
  }
}

function push(groups: Map<string, string[]>, key: string, value: string): void {
  let group = groups.get(key);
  if (group === undefined) groups.set(key, (group = []));
  group.push(value);
}
