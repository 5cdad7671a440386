import type { LocationSample } from '@nearby/protocol';
import type { CacheEntry, UserSettings } from '../adapters/types.js';
import type { EngineConnection, EngineContext, UsersRole } from './context.js';
import { Departures } from './departures.js';
import { LocalUser, type Position } from './local-user.js';

/**
 * The users with a connection on this process: their shared state (one position, radius,
 * sharing setting and list for all of a user's devices here), loaded at session start and
 * changed by their devices, by their devices on other processes, and by saved settings.
 */
export class Users implements UsersRole {
  readonly #ctx: EngineContext;
  readonly #users = new Map<string, LocalUser>();
  readonly #departures: Departures;

  constructor(ctx: EngineContext) {
    this.#ctx = ctx;
    this.#departures = new Departures(ctx, (userId) => this.#users.has(userId));
  }

  get size(): number {
    return this.#users.size;
  }

  get(userId: string): LocalUser | undefined {
    return this.#users.get(userId);
  }

  values(): IterableIterator<LocalUser> {
    return this.#users.values();
  }

  obtain(userId: string): LocalUser {
    return this.#users.get(userId) ?? this.#create(userId);
  }

  /** The user's last connection here closed: stop following, and depart (announce a sign-off where it is one). */
  remove(user: LocalUser, signedOff: boolean): void {
    if (user.removed) return;
    user.removed = true;
    this.#users.delete(user.id);
    if (user.attached) this.#detach(user);
    this.#ctx.strangers?.removed(user);
    this.#ctx.channels.disown(user);
    this.#departures.depart(user, signedOff && user.sharing);
  }

  settle(): Promise<void> {
    return this.#departures.settle();
  }

  validRadius(radiusKm: number): boolean {
    return Number.isFinite(radiusKm) && radiusKm > 0 && radiusKm <= this.#ctx.options.maxRadiusKm;
  }

  radiusMessage(radiusKm: number): string {
    return `radiusKm must be in (0, ${this.#ctx.options.maxRadiusKm}], got ${radiusKm}`;
  }

  /** A radius change from one of the user's devices here: saved, and announced to the user's devices elsewhere. */
  changeRadius(user: LocalUser, radiusKm: number): void {
    user.radiusKm = radiusKm;
    user.radiusVersion = this.#ctx.clock.next(user.radiusVersion);
    this.#saveSettings(user);
    this.#ctx.bus.announce({ k: 'rad', s: this.#ctx.options.serverId, u: user.id, r: radiusKm, v: user.radiusVersion });
  }

  hearRadius(owner: LocalUser, radiusKm: number, version: number): void {
    if (!this.validRadius(radiusKm)) return;
    owner
      .run(() => {
        if (version <= owner.radiusVersion) return;
        owner.radiusKm = radiusKm;
        owner.radiusVersion = version;
        this.#ctx.channels.sendSnapshot(owner);
      })
      .catch((error: unknown) => this.#ctx.report('radius change failed', error));
  }

  changeSharing(user: LocalUser, sharing: boolean, heard?: number): Promise<void> {
    return user
      .run(async () => {
        const changed = await this.setSharing(user, sharing, heard);
        // A `sharing` frame is always answered with a snapshot; a change heard from elsewhere only when it changed something.
        if (changed || heard === undefined) this.#ctx.channels.sendSnapshot(user);
      })
      .catch((error: unknown) => this.#ctx.report('sharing change failed', error));
  }

  /**
   * Applies a sharing setting; resolves to whether it changed. A change made here gets a new
   * version, is saved and announced; a change heard from elsewhere (`heard`: its version) is
   * applied only if newer than the one in force. Turning sharing off writes a withdrawal to the
   * cache (also on processes that heard it, so a position they wrote meanwhile cannot outlive it).
   * Runs inside the user's queue.
   */
  async setSharing(user: LocalUser, sharing: boolean, heard?: number): Promise<boolean> {
    const ctx = this.#ctx;
    if (heard !== undefined) {
      if (heard <= user.sharingVersion) return false;
      user.sharingVersion = heard;
      if (user.sharing === sharing) return false;
    } else {
      if (user.sharing === sharing) return false;
      const known = Math.max(user.sharingVersion, ctx.channels.get(user.id)?.epoch ?? 0);
      user.sharingVersion = ctx.clock.next(known);
    }
    user.sharing = sharing;
    const serverId = ctx.options.serverId;
    const version = user.sharingVersion;
    // A change made here is saved here; one heard from another process was saved there.
    if (heard === undefined) this.#saveSettings(user);
    if (!sharing) {
      if (user.attached) this.#detach(user);
      ctx.strangers?.sharingChanged(user);
      this.#writeEntry(user.id, { withdrawn: 'sharing_off', at: ctx.now(), epoch: version });
      if (heard === undefined) ctx.bus.announceAndApply({ k: 'off', s: serverId, u: user.id, v: version });
      return true;
    }
    if (heard === undefined) ctx.bus.announceAndApply({ k: 'on', s: serverId, u: user.id, v: version });
    await this.#attach(user);
    // Friends see the user again at once, from the last position this server has.
    const position = user.location;
    if (position !== undefined && ctx.now() - position.t < ctx.options.inactiveAfterMs) this.#shareOwnPosition(user, position);
    return true;
  }

  /**
   * Applies saved settings that are newer than what this process has (a change made through
   * another process whose announcement this process missed). Runs inside the user's queue.
   */
  async adoptSettings(user: LocalUser, settings: UserSettings): Promise<void> {
    if (user.removed) return;
    let changed = false;
    const radiusVersion = settings.radiusVersion ?? 0;
    if (radiusVersion > user.radiusVersion && this.validRadius(settings.radiusKm)) {
      changed = user.radiusKm !== settings.radiusKm;
      user.radiusKm = settings.radiusKm;
      user.radiusVersion = radiusVersion;
    }
    const sharingVersion = settings.sharingVersion ?? 0;
    if (sharingVersion > user.sharingVersion && (await this.setSharing(user, settings.sharing, sharingVersion))) changed = true;
    if (changed) this.#ctx.channels.sendSnapshot(user);
  }

  /**
   * A sample from one of the user's devices: the user's new live position, if it is current.
   * `restart` (an init's location) starts the device's sample order afresh.
   */
  applyOwnSample(user: LocalUser, device: EngineConnection, sample: LocationSample, restart: boolean): void {
    if (!user.sharing) return;
    const now = this.#ctx.now();
    // Resent backlog (offline buffer) is history, not a live position.
    if (now - sample.timestamp >= this.#ctx.options.inactiveAfterMs) return;
    // A sample cannot have been taken after it arrived: a device clock running ahead orders its
    // samples by their arrival, so once the clock is corrected its new samples are not "older".
    const order = Math.min(sample.timestamp, now);
    // Out of order only per device: devices' clocks differ, and the latest one to report wins.
    if (!restart && order < device.newestSampleAt) return;
    // The same fix again (init's location, then the first batch) is no new position: no new work.
    const previous = device.newestSample;
    if (previous !== undefined && previous.timestamp === sample.timestamp && previous.lat === sample.lat && previous.lon === sample.lon) {
      return;
    }
    device.newestSampleAt = order;
    device.newestSample = sample;
    const position: Position = { lat: sample.lat, lon: sample.lon, t: now };
    this.setOwnPosition(user, position);
    this.#shareOwnPosition(user, position);
  }

  /** Stores the user's position and re-checks every known friend against the user's radius. */
  setOwnPosition(user: LocalUser, position: Position): void {
    if (user.location !== undefined && user.location.t > position.t) return;
    user.location = position;
    if (!user.attached) return;
    // Only friends with a position can enter or leave the list (every visible friend has one).
    for (const state of user.positioned) this.#ctx.channels.evaluate(user, state);
    if (user.seeStrangers) this.#ctx.strangers?.viewerMoved(user);
  }

  /**
   * Shares every local user's current position again, in the cache and on the bus: a position
   * that arrived while the bus was down reached no other process. Friends here already have it.
   */
  republishPositions(): void {
    const now = this.#ctx.now();
    for (const user of this.#users.values()) {
      const position = user.location;
      if (!user.sharing || position === undefined || now - position.t >= this.#ctx.options.inactiveAfterMs) continue;
      this.#writePosition(user, position);
      this.#ctx.bus.publish(user.id, this.#positionMessage(user, position));
    }
  }

  /** Follows every friend's channel, then fills positions not yet known from the cache in one read. */
  async #attach(user: LocalUser): Promise<void> {
    user.attached = true;
    for (const friendId of user.friends) this.#ctx.channels.follow(user, friendId);
    await this.#ctx.channels.settled();
    if (user.removed || !user.attached) return;
    await this.fillFromCache([user.id, ...user.friends]);
  }

  #detach(user: LocalUser): void {
    user.attached = false;
    for (const friendId of user.friends) this.#ctx.channels.unfollow(user, friendId);
    user.positioned.clear();
    user.visible.clear();
  }

  /** Reads the cache entries of the followed users whose current position this process does not know. */
  async fillFromCache(userIds: string[]): Promise<void> {
    const { channels, options } = this.#ctx;
    const now = this.#ctx.now();
    const missing = userIds.filter((id) => {
      const state = channels.get(id);
      return state !== undefined && (state.last === undefined || now - state.last.t >= options.inactiveAfterMs);
    });
    if (missing.length === 0) return;
    let cached: Map<string, CacheEntry>;
    try {
      cached = await this.#ctx.cache.getMany(missing);
    } catch (error) {
      // Degrade: the list fills in as friends' next updates arrive over Pub/Sub.
      this.#ctx.report('location cache read failed', error);
      return;
    }
    for (const [id, entry] of cached) this.#ctx.bus.applyCacheEntry(id, entry);
  }

  #create(userId: string): LocalUser {
    const ctx = this.#ctx;
    // Defaults until the saved account settings are read below.
    const user = new LocalUser(userId, ctx.options.radiusKm, true);
    this.#users.set(userId, user);
    ctx.channels.own(user);
    ctx.presence?.add(userId, ctx.options.serverId).catch((error: unknown) => ctx.report('presence update failed', error));
    user.ready = (async () => {
      const [friends, settings] = await Promise.all([ctx.options.friends.getFriends(userId), this.#loadSettings(user)]);
      if (user.removed) return;
      if (settings !== undefined) {
        if (this.validRadius(settings.radiusKm)) {
          user.radiusKm = settings.radiusKm;
          user.radiusVersion = settings.radiusVersion ?? 0;
        }
        user.sharing = settings.sharing;
        user.sharingVersion = settings.sharingVersion ?? 0;
      }
      user.friends = ctx.friendships.normalize(userId, friends);
      if (user.sharing) await this.#attach(user);
      else await this.fillFromCache([userId]);
      // A device that connects without a fix uses the position another device of the user shared.
      const own = ctx.channels.get(userId)?.last;
      if (own !== undefined && user.location === undefined && !user.removed) this.setOwnPosition(user, own);
    })();
    // A user whose friend list could not be loaded is forgotten, so the next connection retries.
    user.ready.catch(() => this.remove(user, false));
    return user;
  }

  async #loadSettings(user: LocalUser): Promise<UserSettings | undefined> {
    const { settings: store } = this.#ctx;
    if (store === undefined) return undefined;
    try {
      return await store.get(user.id);
    } catch (error) {
      // Degrade to defaults: the user can still connect while the store is unreachable. The
      // saved settings are read again until that succeeds, and adopted where newer.
      this.#ctx.report('settings read failed', error);
      this.#ctx.retries.run(`settings read ${user.id}`, async () => {
        const settings = await store.get(user.id);
        await user.ready.catch(() => undefined);
        if (settings !== undefined && !user.removed) await user.run(() => this.adoptSettings(user, settings));
      });
      return undefined;
    }
  }

  /** Saves the user's radius and sharing setting, with their versions, for their other processes and later sessions. */
  #saveSettings(user: LocalUser): void {
    const { settings: store } = this.#ctx;
    if (store === undefined) return;
    const settings: UserSettings = {
      radiusKm: user.radiusKm,
      sharing: user.sharing,
      radiusVersion: user.radiusVersion,
      sharingVersion: user.sharingVersion,
    };
    this.#ctx.retries.run(`settings ${user.id}`, () => store.set(user.id, settings));
  }

  /** Stores a withdrawal in the cache, retrying until it lands. */
  #writeEntry(userId: string, entry: CacheEntry): void {
    this.#ctx.retries.run(`entry ${userId}`, () => this.#ctx.cache.set(userId, entry, this.#ctx.options.inactiveAfterMs));
  }

  /** Cache write with TTL and one publish on the user's own channel: constant work per update. */
  #shareOwnPosition(user: LocalUser, position: Position): void {
    // A newer position makes a withdrawal still waiting to be written pointless.
    if (this.#ctx.retries.size > 0) this.#ctx.retries.cancel(`entry ${user.id}`);
    this.#writePosition(user, position);
    this.#ctx.bus.broadcast(this.#positionMessage(user, position));
    if (user.discoverable) this.#ctx.strangers?.published(user, position);
  }

  #writePosition(user: LocalUser, position: Position): void {
    const { cache, options } = this.#ctx;
    cache
      .set(user.id, { lat: position.lat, lon: position.lon, updatedAt: position.t, epoch: user.sharingVersion }, options.inactiveAfterMs)
      .catch((error: unknown) => this.#ctx.report('location cache write failed', error));
  }

  #positionMessage(user: LocalUser, position: Position) {
    return {
      k: 'loc',
      s: this.#ctx.options.serverId,
      u: user.id,
      lat: position.lat,
      lon: position.lon,
      t: position.t,
      e: user.sharingVersion,
    } as const;
  }
}
