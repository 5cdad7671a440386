import {
  CloseCode,
  ErrorCode,
  LeaveReason,
  NearbyError,
  decodeClientFrame,
  distanceKm,
  mayBeWithin,
  type ClientFrame,
  type InitFrame,
  type LocationFrame,
  type LocationSample,
  type NearbyFriend,
} from '@nearby/protocol';
import type { CacheEntry, HistorySample, LocationCache, PubSubTransport, UserSettings } from '../adapters/types.js';
import { isWithdrawal } from '../adapters/entries.js';
import { decodeBusMessage, encodeBusMessage, type BusMessage } from './bus.js';
import { BusHealth } from './bus-health.js';
import { ControlLog } from './control-log.js';
import { RetryQueue } from './retry-queue.js';
import { VersionClock } from './version-clock.js';
import { Connection, type ServerSocket } from './connection.js';
import type { HistoryWriter } from './history-writer.js';
import { LocalUser, type ChannelState, type Position } from './local-user.js';
import { SubscriptionBatcher } from './subscriptions.js';
import { FlushScheduler } from './flush-scheduler.js';
import type { ResolvedOptions } from '../options.js';

/** Pause between attempts of a write that must not be lost (settings, withdrawals, sign-off checks). */
const RETRY_INTERVAL_MS = 2_000;
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
/** Added to the cache's presence expiry before a sign-off is checked again. */
const SIGN_OFF_RECHECK_MARGIN_MS = 1_000;

/** Counters exposed by `server.stats()`. */
export interface CoreCounters {
  framesIn: number;
  framesDropped: number;
  invalidFrames: number;
  locationFrames: number;
  samplesIn: number;
  samplesAcked: number;
  historyFailures: number;
  busMessagesIn: number;
  busMessagesPublished: number;
  /** Friend positions checked against a viewer's radius. */
  friendEvaluations: number;
  /** Friend entries queued for delivery (before per-connection coalescing). */
  friendUpdatesQueued: number;
  /** WebSocket frames written to clients (all types). */
  framesSent: number;
  friendLeftQueued: number;
  slowConsumersClosed: number;
  /** Times the bus stopped carrying this server's probes back. */
  busOutages: number;
  /** Times this server re-read its users' views after the bus came back. */
  reconciliations: number;
  /** Changes announced again after an outage because no probe had confirmed them. */
  changesRepublished: number;
  /** Failed attempts of writes that are retried (saved settings, withdrawals, sign-off checks). */
  writeRetries: number;
}

/**
 * The protocol engine of one server process: local users and their views, per-server
 * reference-counted channel subscriptions, fan-out with the radius filter, and frame handling.
 * It knows nothing of HTTP; `server.ts` feeds it sockets.
 */
export class NearbyCore {
  readonly #options: ResolvedOptions;
  readonly #cache: LocationCache;
  readonly #pubsub: PubSubTransport;
  readonly #history: HistoryWriter;
  readonly #subscriptions: SubscriptionBatcher;
  readonly #users = new Map<string, LocalUser>();
  readonly #channels = new Map<string, ChannelState>();
  readonly #connections = new Set<Connection>();
  readonly #departures = new Set<Promise<void>>();
  readonly #countFrames = (count: number): void => {
    this.counters.framesSent += count;
  };
  /** `"s":"<serverId>"` as it appears in this server's own bus messages. */
  readonly #ownMarker: string;
  /** One flush pass per I/O phase for every connection that has frames queued. */
  readonly #flushes = new FlushScheduler();
  #nextConnectionId = 1;
  readonly counters: CoreCounters = {
    framesIn: 0,
    framesDropped: 0,
    invalidFrames: 0,
    locationFrames: 0,
    samplesIn: 0,
    samplesAcked: 0,
    historyFailures: 0,
    busMessagesIn: 0,
    busMessagesPublished: 0,
    friendEvaluations: 0,
    friendUpdatesQueued: 0,
    framesSent: 0,
    friendLeftQueued: 0,
    slowConsumersClosed: 0,
    busOutages: 0,
    reconciliations: 0,
    changesRepublished: 0,
    writeRetries: 0,
  };
  readonly #clock: VersionClock;
  readonly #retries: RetryQueue;
  readonly #controlLog = new ControlLog();
  readonly #health: BusHealth | undefined;
  readonly #probeChannel: string;
  readonly #timers = new Set<unknown>();
  #reconciling: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: ResolvedOptions, cache: LocationCache, pubsub: PubSubTransport, history: HistoryWriter) {
    this.#options = options;
    this.#cache = cache;
    this.#pubsub = pubsub;
    this.#history = history;
    this.#ownMarker = `"s":${JSON.stringify(options.serverId)}`;
    this.#subscriptions = new SubscriptionBatcher(pubsub, (error) => this.#reportError('pubsub subscription failed', error));
    this.#clock = new VersionClock(() => this.#now());
    this.#retries = new RetryQueue({
      timers: options.timers,
      intervalMs: RETRY_INTERVAL_MS,
      onFailure: () => {
        this.counters.writeRetries++;
      },
    });
    this.#probeChannel = options.probeChannelPrefix + options.serverId;
    if (options.busProbeIntervalMs > 0) {
      this.#health = new BusHealth({
        timers: options.timers,
        intervalMs: options.busProbeIntervalMs,
        publish: (seq) => {
          this.#pubsub.publish(this.#probeChannel, `{"k":"probe","n":${seq}}`).catch(() => undefined);
        },
        onDown: () => this.#onBusDown(),
        onUp: () => this.#onBusUp(),
      });
    }
    pubsub.onMessage((channel, message) => this.#onBusMessage(channel, message));
  }

  /** Starts the bus probe. Called by the server once it listens. */
  start(): void {
    if (this.#health === undefined || this.#stopped) return;
    this.#subscriptions.subscribe(this.#probeChannel);
    this.#health.start();
  }

  /** Stops every timer of the engine (probe, retries, scheduled checks). */
  stop(): void {
    this.#stopped = true;
    this.#health?.stop();
    this.#retries.stop();
    for (const handle of this.#timers) this.#options.timers.clearTimeout(handle);
    this.#timers.clear();
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  get userCount(): number {
    return this.#users.size;
  }

  get channelCount(): number {
    return this.#channels.size;
  }

  connections(): IterableIterator<Connection> {
    return this.#connections.values();
  }

  // ------------------------------------------------------------------ connections

  /** Registers an authenticated socket. The caller wires the socket's events to the returned connection. */
  accept(socket: ServerSocket, userId: string): Connection {
    const connection = new Connection(
      this.#nextConnectionId++,
      userId,
      socket,
      {
        frames: this.#options.frameLimit,
        locations: this.#options.locationLimit,
        now: () => this.#now(),
        schedule: this.#flushes.schedule,
        onFramesSent: this.#countFrames,
      },
      () => {
        // The peer stopped reading and its backlog overflowed: a TCP-level close, since a close
        // frame would queue behind everything it is not reading.
        this.counters.slowConsumersClosed++;
        socket.terminate();
      },
    );
    this.#connections.add(connection);
    return connection;
  }

  /** Handles one inbound WebSocket message. Never throws. */
  receive(connection: Connection, data: string | undefined): void {
    if (connection.phase === 'closed') return;
    this.counters.framesIn++;
    const now = this.#now();
    connection.lastSeenAt = now;
    if (!connection.frameBudget.take()) {
      this.#dropOverBudget(connection, now);
      return;
    }
    connection.consecutiveDrops = 0;
    if (data === undefined) {
      this.counters.invalidFrames++;
      connection.sendError(ErrorCode.BAD_JSON, 'binary frames are not supported; send JSON text frames');
      connection.close(CloseCode.PROTOCOL_VIOLATION, 'binary frame');
      return;
    }
    const decoded = decodeClientFrame(data);
    if (!decoded.ok) {
      this.counters.invalidFrames++;
      const extra = {
        ...(decoded.seq === undefined ? {} : { seq: decoded.seq }),
        ...(decoded.frameType === undefined ? {} : { frameType: decoded.frameType }),
      };
      connection.sendError(decoded.code, decoded.message, extra);
      if (decoded.fatal) {
        const code =
          decoded.code === ErrorCode.UNSUPPORTED_VERSION ? CloseCode.UNSUPPORTED_VERSION : CloseCode.PROTOCOL_VIOLATION;
        connection.close(code, decoded.code);
      }
      return;
    }
    this.#dispatch(connection, decoded.frame);
  }

  /**
   * Releases everything a closed socket held. A close the client started with 1000 means the
   * user signed off on purpose; a close the server started never does, whatever code the client
   * echoes.
   */
  release(connection: Connection, code: number): void {
    if (connection.released) return;
    connection.released = true;
    const signedOff = code === CloseCode.NORMAL && !connection.closedByServer;
    connection.phase = 'closed';
    connection.queue.close();
    this.#connections.delete(connection);
    const user = connection.user;
    if (user === undefined) return;
    user.connections.delete(connection);
    if (user.connections.size === 0) this.#removeUser(user, signedOff);
  }

  // ------------------------------------------------------------------ frames

  #dispatch(connection: Connection, frame: ClientFrame): void {
    if (frame.type === 'ping') {
      connection.queue.control(
        JSON.stringify({ type: 'pong', ...(frame.id === undefined ? {} : { id: frame.id }), serverTime: this.#now() }),
      );
      return;
    }
    if (connection.phase === 'initializing') {
      if (!connection.defer(frame)) {
        connection.sendError(ErrorCode.RATE_LIMITED, 'too many frames before init completed', { frameType: frame.type });
      }
      return;
    }
    if (frame.type === 'init') {
      void this.#init(connection, frame);
      return;
    }
    if (connection.phase !== 'ready' || connection.user === undefined) {
      connection.sendError(ErrorCode.NOT_INITIALIZED, `send init before ${frame.type}`, {
        frameType: frame.type,
        ...(frame.type === 'location' ? { seq: frame.seq } : {}),
      });
      return;
    }
    const user = connection.user;
    switch (frame.type) {
      case 'location':
        this.#location(connection, user, frame);
        return;
      case 'radius':
        if (!this.#validRadius(frame.radiusKm)) {
          connection.sendError(ErrorCode.INVALID_RADIUS, this.#radiusMessage(frame.radiusKm), { frameType: 'radius' });
          return;
        }
        user
          .run(() => {
            this.#changeRadius(user, frame.radiusKm);
            this.#sendSnapshot(user);
          })
          .catch((error: unknown) => this.#reportError('radius change failed', error));
        return;
      case 'sharing':
        void this.#changeSharing(user, frame.enabled);
        return;
    }
  }

  #dropOverBudget(connection: Connection, now: number): void {
    this.counters.framesDropped++;
    connection.consecutiveDrops++;
    if (connection.consecutiveDrops > this.#options.maxConsecutiveDrops) {
      connection.close(CloseCode.RATE_LIMITED, 'rate limit exceeded');
      return;
    }
    // One notice per second at most: answering every dropped frame would amplify a flood.
    if (now - connection.lastRateNoticeAt >= 1000) {
      connection.lastRateNoticeAt = now;
      connection.sendError(
        ErrorCode.RATE_LIMITED,
        `frame dropped: more than ${this.#options.frameLimit.refillPerSecond} frames/s`,
      );
    }
  }

  async #init(connection: Connection, frame: InitFrame): Promise<void> {
    connection.phase = 'initializing';
    try {
      const radiusOk = frame.radiusKm === undefined || this.#validRadius(frame.radiusKm);
      if (!radiusOk) {
        connection.sendError(ErrorCode.INVALID_RADIUS, this.#radiusMessage(frame.radiusKm!), { frameType: 'init' });
      }
      let user = connection.user ?? this.#users.get(connection.userId);
      if (user === undefined) {
        // The init's settings are applied below like changes, so they are saved and announced.
        user = this.#createUser(connection.userId);
      }
      if (connection.user === undefined) {
        connection.user = user;
        user.connections.add(connection);
      }
      await user.ready;
      const target = user;
      await user.run(async () => {
        if (radiusOk && frame.radiusKm !== undefined && frame.radiusKm !== target.radiusKm) {
          // The snapshot below reaches this server's devices; the user's devices elsewhere learn it from the bus.
          this.#changeRadius(target, frame.radiusKm);
        }
        if (frame.sharing !== undefined) await this.#setSharing(target, frame.sharing);
        // The device says where it is now: its sample order starts afresh (a clock set back shows at once).
        if (frame.location !== undefined) this.#applyOwnSample(target, connection, frame.location, true);
      });
      if (connection.released) return; // closed meanwhile
      connection.phase = 'ready';
      // Every device of the user gets the snapshot: a radius or sharing change from this init
      // changed their list too.
      this.#sendSnapshot(user);
    } catch (error: unknown) {
      if (connection.released) return;
      this.#reportError('init failed', error);
      connection.sendError(ErrorCode.INTERNAL, 'could not load the friend list; try again');
      connection.close(CloseCode.INTERNAL_ERROR, 'init failed');
      return;
    }
    const deferred = connection.deferred.splice(0);
    for (const next of deferred) {
      if (connection.phase !== 'ready') break;
      this.#dispatch(connection, next);
    }
  }

  #location(connection: Connection, user: LocalUser, frame: LocationFrame): void {
    if (!connection.locationBudget.take()) {
      connection.sendError(ErrorCode.RATE_LIMITED, 'location frame refused: too many location frames; resend later', {
        seq: frame.seq,
        frameType: 'location',
      });
      return;
    }
    this.counters.locationFrames++;
    this.counters.samplesIn += frame.samples.length;
    const receivedAt = this.#now();
    let newest: LocationSample = frame.samples[0]!;
    const records: HistorySample[] = [];
    for (const sample of frame.samples) {
      if (sample.timestamp > newest.timestamp) newest = sample;
      const record: HistorySample = {
        userId: user.id,
        lat: sample.lat,
        lon: sample.lon,
        recordedAt: sample.timestamp,
        receivedAt,
      };
      if (sample.accuracy !== undefined) record.accuracy = sample.accuracy;
      records.push(record);
    }
    // The ack waits for the store; the live path below does not wait for it.
    this.#history.write(records).then(
      () => {
        this.counters.samplesAcked += records.length;
        connection.queue.control(`{"type":"ack","seq":${frame.seq},"count":${records.length}}`);
      },
      (error: unknown) => {
        this.counters.historyFailures++;
        const message = error instanceof NearbyError ? error.message : 'history store is unavailable';
        connection.sendError(ErrorCode.HISTORY_UNAVAILABLE, message, { seq: frame.seq, frameType: 'location' });
      },
    );
    // In order behind every change of the user still in progress: a position sent after
    // "sharing off" is never shared, whatever that change is still waiting for.
    user.order(
      () => this.#applyOwnSample(user, connection, newest, false),
      (error) => this.#reportError('location update failed', error),
    );
  }

  // ------------------------------------------------------------------ users

  #createUser(userId: string): LocalUser {
    // Defaults until the saved account settings are read below.
    const user = new LocalUser(userId, this.#options.radiusKm, true);
    this.#users.set(userId, user);
    const own = this.#channel(userId);
    own.owner = user;
    if (own.followers.size === 0) this.#subscriptions.subscribe(this.#channelName(userId));
    this.#cache
      .addPresence?.(userId, this.#options.serverId)
      .catch((error: unknown) => this.#reportError('presence update failed', error));
    user.ready = (async () => {
      const [friends, settings] = await Promise.all([this.#options.friends.getFriends(userId), this.#loadSettings(user)]);
      if (user.removed) return;
      if (settings !== undefined) {
        if (this.#validRadius(settings.radiusKm)) {
          user.radiusKm = settings.radiusKm;
          user.radiusVersion = settings.radiusVersion ?? 0;
        }
        user.sharing = settings.sharing;
        user.sharingVersion = settings.sharingVersion ?? 0;
      }
      user.friends = this.#normalizeFriends(userId, friends);
      if (user.sharing) await this.#attach(user);
      else await this.#fillFromCache([userId]);
      // A device that connects without a fix uses the position another device of the user shared.
      const own = this.#channels.get(userId)?.last;
      if (own !== undefined && user.location === undefined && !user.removed) this.#setOwnPosition(user, own);
    })();
    // A user whose friend list could not be loaded is forgotten, so the next connection retries.
    user.ready.catch(() => this.#removeUser(user, false));
    return user;
  }

  #normalizeFriends(userId: string, friends: readonly string[]): Set<string> {
    const set = new Set<string>();
    if (!Array.isArray(friends)) throw new TypeError(`getFriends(${userId}) must resolve to an array of user ids`);
    for (const friend of friends) {
      if (typeof friend !== 'string' || friend.length === 0 || friend === userId) continue;
      set.add(friend);
      if (set.size >= this.#options.maxFriends) break;
    }
    return set;
  }

  #removeUser(user: LocalUser, signedOff: boolean): void {
    if (user.removed) return;
    user.removed = true;
    this.#users.delete(user.id);
    if (user.attached) this.#detach(user);
    const own = this.#channels.get(user.id);
    if (own !== undefined && own.owner === user) {
      own.owner = undefined;
      this.#dropChannelIfUnused(own);
    }
    const departure = this.#depart(user, signedOff && user.sharing);
    this.#departures.add(departure);
    void departure.finally(() => this.#departures.delete(departure));
  }

  /**
   * Resolves when work started so far has finished: departures (presence update, "offline")
   * and the subscription batches they caused, so the host may close its adapters afterwards.
   */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#departures]);
    await this.#subscriptions.settled();
  }

  /**
   * The user has no connection left here. Friends are told "offline" only on a deliberate
   * sign-off, and only if no other process still holds a connection of the user.
   */
  async #depart(user: LocalUser, signedOff: boolean): Promise<void> {
    const userId = user.id;
    let elsewhere: number | undefined = 0;
    if (this.#cache.removePresence !== undefined) {
      try {
        elsewhere = await this.#cache.removePresence(userId, this.#options.serverId);
      } catch (error) {
        this.#reportError('presence update failed', error);
        elsewhere = undefined;
      }
    }
    // Reconnected here meanwhile: not offline.
    if (!signedOff || this.#users.has(userId)) return;
    const after = user.location?.t ?? 0;
    if (elsewhere === undefined) {
      // Presence cannot be read: friends here see the sign-off now, the rest of the deployment
      // once presence shows that no other process holds the user.
      this.#apply({ k: 'bye', s: this.#options.serverId, u: userId, t: this.#clock.next(after) });
      this.#retries.run(`sign-off ${userId}`, () => this.#confirmSignOff(userId, after));
      return;
    }
    if (elsewhere > 0) {
      // Maybe a process that crashed and still counts: ask again once a crashed process no longer would.
      const expiry = this.#cache.presenceExpiryMs;
      if (expiry !== undefined) {
        this.#later(expiry + SIGN_OFF_RECHECK_MARGIN_MS, () =>
          this.#retries.run(`sign-off ${userId}`, () => this.#confirmSignOff(userId, after)),
        );
      }
      return;
    }
    this.#signOff(userId, after);
  }

  /** Signs the user off everywhere if presence shows that no process holds them. Rejects (and is retried) while presence cannot be read. */
  async #confirmSignOff(userId: string, after: number): Promise<void> {
    if (this.#users.has(userId) || this.#cache.removePresence === undefined) return;
    const elsewhere = await this.#cache.removePresence(userId, this.#options.serverId);
    if (elsewhere > 0 || this.#users.has(userId)) return;
    this.#signOff(userId, after);
  }

  /** Withdraws the user's position everywhere: a withdrawal in the cache and `bye` on the bus. */
  #signOff(userId: string, after: number): void {
    const t = this.#clock.next(after);
    this.#writeEntry(userId, { withdrawn: 'offline', at: t });
    this.#announceAndApply({ k: 'bye', s: this.#options.serverId, u: userId, t });
  }

  async #loadSettings(user: LocalUser): Promise<UserSettings | undefined> {
    if (this.#cache.getSettings === undefined) return undefined;
    try {
      return await this.#cache.getSettings(user.id);
    } catch (error) {
      // Degrade to defaults: the user can still connect while the cache is unreachable. The
      // saved settings are read again until that succeeds, and adopted where newer.
      this.#reportError('settings read failed', error);
      this.#retries.run(`settings read ${user.id}`, async () => {
        const settings = await this.#cache.getSettings!(user.id);
        await user.ready.catch(() => undefined);
        if (settings !== undefined && !user.removed) await user.run(() => this.#adoptSettings(user, settings));
      });
      return undefined;
    }
  }

  /** Saves the user's radius and sharing setting, with their versions, for their other processes and later sessions. */
  #saveSettings(user: LocalUser): void {
    const setSettings = this.#cache.setSettings;
    if (setSettings === undefined) return;
    const settings: UserSettings = {
      radiusKm: user.radiusKm,
      sharing: user.sharing,
      radiusVersion: user.radiusVersion,
      sharingVersion: user.sharingVersion,
    };
    this.#retries.run(`settings ${user.id}`, () => setSettings.call(this.#cache, user.id, settings));
  }

  /**
   * Applies saved settings that are newer than what this process has (a change made through
   * another process whose announcement this process missed). Runs inside the user's queue.
   */
  async #adoptSettings(user: LocalUser, settings: UserSettings): Promise<void> {
    if (user.removed) return;
    let changed = false;
    const radiusVersion = settings.radiusVersion ?? 0;
    if (radiusVersion > user.radiusVersion && this.#validRadius(settings.radiusKm)) {
      changed = user.radiusKm !== settings.radiusKm;
      user.radiusKm = settings.radiusKm;
      user.radiusVersion = radiusVersion;
    }
    const sharingVersion = settings.sharingVersion ?? 0;
    if (sharingVersion > user.sharingVersion && (await this.#setSharing(user, settings.sharing, sharingVersion))) changed = true;
    if (changed) this.#sendSnapshot(user);
  }

  /** Stores a withdrawal (or a position that must replace one) in the cache, retrying until it lands. */
  #writeEntry(userId: string, entry: CacheEntry): void {
    this.#retries.run(`entry ${userId}`, () => this.#cache.set(userId, entry, this.#options.inactiveAfterMs));
  }

  /** Follows every friend's channel, then fills positions not yet known from the cache in one read. */
  async #attach(user: LocalUser): Promise<void> {
    user.attached = true;
    for (const friendId of user.friends) this.#follow(user, friendId);
    await this.#subscriptions.settled();
    if (user.removed || !user.attached) return;
    await this.#fillFromCache([user.id, ...user.friends]);
  }

  #detach(user: LocalUser): void {
    user.attached = false;
    for (const friendId of user.friends) this.#unfollow(user, friendId);
    user.positioned.clear();
    user.visible.clear();
  }

  async #fillFromCache(userIds: string[]): Promise<void> {
    const now = this.#now();
    const missing = userIds.filter((id) => {
      const state = this.#channels.get(id);
      return state !== undefined && (state.last === undefined || now - state.last.t >= this.#options.inactiveAfterMs);
    });
    if (missing.length === 0) return;
    let cached: Map<string, CacheEntry>;
    try {
      cached = await this.#cache.getMany(missing);
    } catch (error) {
      // Degrade: the list fills in as friends' next updates arrive over Pub/Sub.
      this.#reportError('location cache read failed', error);
      return;
    }
    for (const [id, entry] of cached) this.#applyCacheEntry(id, entry);
  }

  /**
   * Applies what the cache holds for a user, exactly as the bus message it stands for: a
   * position like `loc`, a withdrawal like `off` or `bye`. Versions keep it from undoing
   * anything newer this process already knows.
   */
  #applyCacheEntry(userId: string, entry: CacheEntry): void {
    const state = this.#channels.get(userId);
    if (state === undefined) return;
    if (isWithdrawal(entry)) {
      if (entry.withdrawn === 'sharing_off') this.#applySharingOff(state, entry.epoch ?? 0, true);
      else this.#applySignOff(state, entry.at);
      return;
    }
    if (state.last !== undefined && state.last.t >= entry.updatedAt) return;
    this.#applyPosition(state, { lat: entry.lat, lon: entry.lon, t: entry.updatedAt }, entry.epoch ?? 0, true);
  }

  #validRadius(radiusKm: number): boolean {
    return Number.isFinite(radiusKm) && radiusKm > 0 && radiusKm <= this.#options.maxRadiusKm;
  }

  #radiusMessage(radiusKm: number): string {
    return `radiusKm must be in (0, ${this.#options.maxRadiusKm}], got ${radiusKm}`;
  }

  /** A radius change from one of the user's devices here: saved, and announced to the user's devices elsewhere. */
  #changeRadius(user: LocalUser, radiusKm: number): void {
    user.radiusKm = radiusKm;
    user.radiusVersion = this.#clock.next(user.radiusVersion);
    this.#saveSettings(user);
    this.#announce({ k: 'rad', s: this.#options.serverId, u: user.id, r: radiusKm, v: user.radiusVersion });
  }

  /**
   * A sharing change from a device here (`heard` undefined: always answered with a snapshot), or
   * heard from another process with that change's version, followed by a new snapshot for every
   * device here when something changed.
   */
  #changeSharing(user: LocalUser, sharing: boolean, heard?: number): Promise<void> {
    return user
      .run(async () => {
        const changed = await this.#setSharing(user, sharing, heard);
        if (changed || heard === undefined) this.#sendSnapshot(user);
      })
      .catch((error: unknown) => this.#reportError('sharing change failed', error));
  }

  /**
   * Applies a sharing setting; resolves to whether it changed. A change made here gets a new
   * version, is saved and announced; a change heard from elsewhere (`heard`: its version) is
   * applied only if newer than the one in force. Turning sharing off writes a withdrawal to the
   * cache (also on processes that heard it, so a position they wrote meanwhile cannot outlive it).
   */
  async #setSharing(user: LocalUser, sharing: boolean, heard?: number): Promise<boolean> {
    if (heard !== undefined) {
      if (heard <= user.sharingVersion) return false;
      user.sharingVersion = heard;
      if (user.sharing === sharing) return false;
    } else {
      if (user.sharing === sharing) return false;
      const known = Math.max(user.sharingVersion, this.#channels.get(user.id)?.epoch ?? 0);
      user.sharingVersion = this.#clock.next(known);
    }
    user.sharing = sharing;
    const serverId = this.#options.serverId;
    const version = user.sharingVersion;
    // A change made here is saved here; one heard from another process was saved there.
    if (heard === undefined) this.#saveSettings(user);
    if (!sharing) {
      if (user.attached) this.#detach(user);
      this.#writeEntry(user.id, { withdrawn: 'sharing_off', at: this.#now(), epoch: version });
      if (heard === undefined) this.#announceAndApply({ k: 'off', s: serverId, u: user.id, v: version });
      return true;
    }
    if (heard === undefined) this.#announceAndApply({ k: 'on', s: serverId, u: user.id, v: version });
    await this.#attach(user);
    // Friends see the user again at once, from the last position this server has.
    const position = user.location;
    if (position !== undefined && this.#now() - position.t < this.#options.inactiveAfterMs) {
      this.#shareOwnPosition(user, position);
    }
    return true;
  }

  /**
   * A sample from one of the user's devices: the user's new live position, if it is current.
   * `restart` (an init's location) starts the device's sample order afresh.
   */
  #applyOwnSample(user: LocalUser, device: Connection, sample: LocationSample, restart: boolean): void {
    if (!user.sharing) return;
    const now = this.#now();
    // Resent backlog (offline buffer) is history, not a live position.
    if (now - sample.timestamp >= this.#options.inactiveAfterMs) return;
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
    this.#setOwnPosition(user, position);
    this.#shareOwnPosition(user, position);
  }

  /** Stores the user's position and re-checks every known friend against the user's radius. */
  #setOwnPosition(user: LocalUser, position: Position): void {
    if (user.location !== undefined && user.location.t > position.t) return;
    user.location = position;
    if (!user.attached) return;
    // Only friends with a position can enter or leave the list (every visible friend has one).
    for (const state of user.positioned) this.#evaluate(user, state);
  }

  /** Cache write with TTL and one publish on the user's own channel: constant work per update. */
  #shareOwnPosition(user: LocalUser, position: Position): void {
    const epoch = user.sharingVersion;
    // A newer position makes a withdrawal still waiting to be written pointless.
    if (this.#retries.size > 0) this.#retries.cancel(`entry ${user.id}`);
    this.#cache
      .set(user.id, { lat: position.lat, lon: position.lon, updatedAt: position.t, epoch }, this.#options.inactiveAfterMs)
      .catch((error: unknown) => this.#reportError('location cache write failed', error));
    this.#broadcast({ k: 'loc', s: this.#options.serverId, u: user.id, lat: position.lat, lon: position.lon, t: position.t, e: epoch });
  }

  // ------------------------------------------------------------------ friend graph changes

  /** Applies "`friendId` is now a friend of `userId`" here and tells the other servers. */
  async friendAdded(userId: string, friendId: string): Promise<void> {
    await this.#friendChange('fa', userId, friendId);
  }

  /** Applies "`friendId` is no longer a friend of `userId`" here and tells the other servers. */
  async friendRemoved(userId: string, friendId: string): Promise<void> {
    await this.#friendChange('fr', userId, friendId);
  }

  async #friendChange(kind: 'fa' | 'fr', userId: string, friendId: string): Promise<void> {
    const message = { k: kind, s: this.#options.serverId, u: userId, f: friendId, v: this.#clock.nextUnique() } as const;
    this.#announce(message);
    await this.#applyFriendChange(message);
  }

  async #applyFriendChange(message: { k: 'fa' | 'fr'; u: string; f: string; v: number }): Promise<void> {
    const user = this.#users.get(message.u);
    if (user === undefined) return;
    await user.ready.catch(() => undefined);
    await user.run(async () => {
      if (user.removed) return;
      // A change that arrives after a newer one about the same friend (late, or published again) is stale.
      if (message.v <= (user.friendVersions.get(message.f) ?? 0)) return;
      user.friendVersions.set(message.f, message.v);
      if (message.k === 'fa') await this.#addFriend(user, message.f);
      else this.#removeFriend(user, message.f);
    });
  }

  /**
   * Makes the user's friends what the host's friend graph says, for friendships whose change
   * this process may have missed; a change applied since `readAt` is newer than the graph read.
   * Runs inside the user's queue.
   */
  async #adoptFriends(user: LocalUser, friends: Set<string>, readAt: number): Promise<void> {
    const stale = (friendId: string) => (user.friendVersions.get(friendId) ?? 0) < readAt;
    for (const friendId of friends) {
      if (user.removed) return;
      if (user.friends.has(friendId) || !stale(friendId)) continue;
      user.friendVersions.set(friendId, readAt);
      await this.#addFriend(user, friendId);
    }
    // A capped list does not say which friends beyond the cap were dropped.
    if (friends.size >= this.#options.maxFriends) return;
    for (const friendId of [...user.friends]) {
      if (friends.has(friendId) || !stale(friendId)) continue;
      user.friendVersions.set(friendId, readAt);
      this.#removeFriend(user, friendId);
    }
  }

  async #addFriend(user: LocalUser, friendId: string): Promise<void> {
    if (friendId === user.id || user.friends.has(friendId)) return;
    if (user.friends.size >= this.#options.maxFriends) {
      this.#reportError(
        'friend not added',
        new NearbyError(ErrorCode.INVALID_ARGUMENT, `${user.id} already has maxFriends (${this.#options.maxFriends}) friends`),
      );
      return;
    }
    user.friends.add(friendId);
    this.#controlToUser(user, JSON.stringify({ type: 'friend_added', userId: friendId }));
    if (!user.attached) return;
    const state = this.#follow(user, friendId);
    await this.#subscriptions.settled();
    await this.#fillFromCache([friendId]);
    if (!user.removed && user.attached) this.#evaluate(user, state);
  }

  #removeFriend(user: LocalUser, friendId: string): void {
    if (!user.friends.delete(friendId)) return;
    if (user.visible.delete(friendId)) this.#leftToUser(user, friendId, JSON.stringify(friendId), LeaveReason.UNFRIENDED);
    this.#controlToUser(user, JSON.stringify({ type: 'friend_removed', userId: friendId }));
    if (user.attached) this.#unfollow(user, friendId);
  }

  // ------------------------------------------------------------------ channels and fan-out

  #channelName(userId: string): string {
    return this.#options.channelPrefix + userId;
  }

  #channel(userId: string): ChannelState {
    let state = this.#channels.get(userId);
    if (state === undefined) {
      state = {
        userId,
        idJson: JSON.stringify(userId),
        followers: new Set(),
        owner: undefined,
        last: undefined,
        encoded: undefined,
        epoch: 0,
        offVersion: undefined,
        goneAt: Number.NEGATIVE_INFINITY,
      };
      this.#channels.set(userId, state);
    }
    return state;
  }

  /** Reference-counted: the transport subscribes when the channel's first local interest appears. */
  #follow(user: LocalUser, friendId: string): ChannelState {
    const state = this.#channel(friendId);
    const wasUnused = state.followers.size === 0 && state.owner === undefined;
    state.followers.add(user);
    if (state.last !== undefined) user.positioned.add(state);
    if (wasUnused) this.#subscriptions.subscribe(this.#channelName(friendId));
    return state;
  }

  #unfollow(user: LocalUser, friendId: string): void {
    const state = this.#channels.get(friendId);
    if (state === undefined) return;
    user.positioned.delete(state);
    state.followers.delete(user);
    this.#dropChannelIfUnused(state);
  }

  /** Replaces a channel's position, keeping each follower's set of positioned friends in step. */
  #setLast(state: ChannelState, position: Position | undefined): void {
    const had = state.last !== undefined;
    state.last = position;
    if (had === (position !== undefined)) return;
    for (const follower of state.followers) {
      if (position === undefined) follower.positioned.delete(state);
      else follower.positioned.add(state);
    }
  }

  #dropChannelIfUnused(state: ChannelState): void {
    if (state.followers.size > 0 || state.owner !== undefined) return;
    this.#channels.delete(state.userId);
    this.#subscriptions.unsubscribe(this.#channelName(state.userId));
  }

  /** Decides whether `state`'s user belongs in `viewer`'s list, and queues the change if any. */
  #evaluate(viewer: LocalUser, state: ChannelState): void {
    const position = state.last;
    const location = viewer.location;
    if (!viewer.attached || location === undefined) return;
    this.counters.friendEvaluations++;
    const now = this.#now();
    const fresh = position !== undefined && now - position.t < this.#options.inactiveAfterMs;
    if (fresh && mayBeWithin(location, position, viewer.radiusKm)) {
      const distance = distanceKm(location, position);
      if (distance <= viewer.radiusKm) {
        const previous = viewer.visible.get(state.userId);
        if (
          previous !== undefined &&
          previous.position === position &&
          Math.abs(distance - previous.distanceKm) < this.#options.distanceRefreshKm
        ) {
          // Only the viewer moved, and not enough to matter: the entry sent before still holds.
          return;
        }
        viewer.visible.set(state.userId, { distanceKm: distance, position });
        let encoded = state.encoded;
        if (encoded === undefined || encoded.for !== position) {
          encoded = {
            for: position,
            head: `{"userId":${state.idJson},"lat":${position.lat},"lon":${position.lon},"distanceKm":`,
            tail: `,"updatedAt":${position.t}}`,
          };
          state.encoded = encoded;
        }
        const entry = encoded.head + distance + encoded.tail;
        for (const connection of viewer.connections) {
          if (connection.phase !== 'ready') continue; // it gets a snapshot when init completes
          connection.queue.updateFriend(state.userId, entry);
          this.counters.friendUpdatesQueued++;
        }
        return;
      }
    }
    if (viewer.visible.delete(state.userId)) {
      this.#leftToUser(viewer, state.userId, state.idJson, fresh ? LeaveReason.OUT_OF_RANGE : LeaveReason.INACTIVE);
    }
  }

  #leftToUser(user: LocalUser, friendId: string, idJson: string, reason: LeaveReason): void {
    for (const connection of user.connections) {
      if (connection.phase !== 'ready') continue;
      connection.queue.friendLeft(friendId, idJson, reason);
      this.counters.friendLeftQueued++;
    }
  }

  #controlToUser(user: LocalUser, frame: string): void {
    for (const connection of user.connections) if (connection.phase === 'ready') connection.queue.control(frame);
  }

  /** Sends the user's full list to every ready device, rebuilding `visible` from scratch. */
  #sendSnapshot(user: LocalUser): void {
    const now = this.#now();
    const friends: NearbyFriend[] = [];
    user.visible.clear();
    const location = user.location;
    if (user.attached && location !== undefined) {
      for (const state of user.positioned) {
        const friendId = state.userId;
        const position = state.last;
        if (position === undefined || now - position.t >= this.#options.inactiveAfterMs) continue;
        if (!mayBeWithin(location, position, user.radiusKm)) continue;
        const distance = distanceKm(location, position);
        if (distance > user.radiusKm) continue;
        user.visible.set(friendId, { distanceKm: distance, position });
        friends.push({ userId: friendId, lat: position.lat, lon: position.lon, distanceKm: distance, updatedAt: position.t });
      }
    }
    friends.sort((a, b) => a.distanceKm - b.distanceKm || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
    const frame = JSON.stringify({
      type: 'snapshot',
      userId: user.id,
      radiusKm: user.radiusKm,
      maxRadiusKm: this.#options.maxRadiusKm,
      sharing: user.sharing,
      inactiveAfterMs: this.#options.inactiveAfterMs,
      serverTime: now,
      friends,
    });
    for (const connection of user.connections) if (connection.phase === 'ready') connection.queue.snapshot(frame);
  }

  // ------------------------------------------------------------------ bus

  /** Applies a message here and publishes it for the other servers. */
  #broadcast(message: BusMessage): void {
    this.#apply(message);
    this.#publish(message.u, message);
  }

  /** Publishes a change that must reach every process: kept until a probe confirms it, and published again after an outage. */
  #announce(message: BusMessage): void {
    if (this.#health !== undefined) this.#controlLog.record(message, this.#health.sentSeq);
    this.#publish(message.u, message);
  }

  #announceAndApply(message: BusMessage): void {
    this.#apply(message);
    this.#announce(message);
  }

  #publish(userId: string, message: BusMessage): void {
    this.counters.busMessagesPublished++;
    this.#pubsub
      .publish(this.#channelName(userId), encodeBusMessage(message))
      .catch((error: unknown) => this.#reportError('pubsub publish failed', error));
  }

  #onBusMessage(channel: string, text: string): void {
    if (channel === this.#probeChannel) {
      this.#onProbe(text);
      return;
    }
    this.counters.busMessagesIn++;
    // Our own messages come back too; they were applied when sent. Skip them before parsing.
    // (A user id containing this text would be escaped inside its own JSON string.)
    if (text.includes(this.#ownMarker)) return;
    const message = decodeBusMessage(text);
    // Our own messages were applied when sent; a message must also be about its channel's user.
    if (message === undefined || message.s === this.#options.serverId) return;
    if (channel !== this.#channelName(message.u)) return;
    try {
      this.#apply(message);
    } catch (error) {
      this.#reportError('bus message handling failed', error);
    }
  }

  #apply(message: BusMessage): void {
    const remote = message.s !== this.#options.serverId;
    const state = this.#channels.get(message.u);
    switch (message.k) {
      case 'loc': {
        if (state === undefined) return;
        if (state.last !== undefined && state.last.t > message.t) return; // older than what we have
        this.#applyPosition(state, { lat: message.lat, lon: message.lon, t: message.t }, message.e, remote);
        return;
      }
      case 'off':
        if (state !== undefined) this.#applySharingOff(state, message.v, remote);
        return;
      case 'on':
        if (state === undefined || message.v <= state.epoch) return;
        state.epoch = message.v;
        state.offVersion = undefined;
        if (remote && state.owner !== undefined) void this.#changeSharing(state.owner, true, message.v);
        return;
      case 'bye':
        if (state !== undefined) this.#applySignOff(state, message.t);
        return;
      case 'rad': {
        const owner = state?.owner;
        if (!remote || owner === undefined || !this.#validRadius(message.r)) return;
        owner
          .run(() => {
            if (message.v <= owner.radiusVersion) return;
            owner.radiusKm = message.r;
            owner.radiusVersion = message.v;
            this.#sendSnapshot(owner);
          })
          .catch((error: unknown) => this.#reportError('radius change failed', error));
        return;
      }
      case 'fa':
      case 'fr':
        if (remote) void this.#applyFriendChange(message);
        return;
    }
  }

  /**
   * A new position of `state`'s user, unless it was shared under a sharing setting that a known
   * "sharing off" replaced, or received before a known sign-off.
   */
  #applyPosition(state: ChannelState, position: Position, epoch: number, remote: boolean): void {
    if (epoch > state.epoch) {
      // Shared under a sharing change this process had not heard of: that change was "on".
      state.epoch = epoch;
      state.offVersion = undefined;
    } else if (state.offVersion !== undefined && epoch <= state.offVersion) {
      return;
    }
    if (position.t <= state.goneAt) return;
    this.#setLast(state, position);
    if (remote && state.owner !== undefined) this.#setOwnPosition(state.owner, position);
    for (const follower of state.followers) this.#evaluate(follower, state);
  }

  /** `state`'s user turned sharing off with change `version`: they leave every list here, unless a newer change is known. */
  #applySharingOff(state: ChannelState, version: number, remote: boolean): void {
    if (version <= state.epoch) return;
    state.epoch = version;
    state.offVersion = version;
    this.#withdraw(state, LeaveReason.SHARING_OFF);
    if (remote && state.owner !== undefined) void this.#changeSharing(state.owner, false, version);
  }

  /** `state`'s user signed off at server time `t`: positions received until then leave every list here. */
  #applySignOff(state: ChannelState, t: number): void {
    // Connected here, so not signed off (the announcement raced a reconnect).
    if (state.owner !== undefined) return;
    state.goneAt = Math.max(state.goneAt, t);
    if (state.last !== undefined && state.last.t <= t) this.#withdraw(state, LeaveReason.OFFLINE);
  }

  #withdraw(state: ChannelState, reason: LeaveReason): void {
    this.#setLast(state, undefined);
    for (const follower of state.followers) {
      if (follower.visible.delete(state.userId)) this.#leftToUser(follower, state.userId, state.idJson, reason);
    }
  }

  // ------------------------------------------------------------------ recovery after an outage

  #onProbe(text: string): void {
    const health = this.#health;
    if (health === undefined) return;
    const match = /"n":(\d+)/.exec(text);
    if (match === null) return;
    // Echo first: coming back up publishes unconfirmed changes again before confirmation forgets them.
    health.echo(Number(match[1]));
    this.#controlLog.confirm(health.confirmedSeq);
  }

  #onBusDown(): void {
    this.counters.busOutages++;
    this.#reportError(
      'pubsub',
      new NearbyError(ErrorCode.ADAPTER_UNAVAILABLE, 'pubsub: probes stopped coming back; cross-process delivery is interrupted'),
    );
  }

  /**
   * The bus carries probes again: announce again what no probe confirmed, retry waiting writes,
   * and re-read every view twice (now, and once the other processes have caught up).
   */
  #onBusUp(): void {
    if (this.#stopped) return;
    const health = this.#health!;
    for (const message of this.#controlLog.unconfirmed()) {
      this.counters.changesRepublished++;
      this.#controlLog.record(message, health.sentSeq);
      this.#publish(message.u, message);
    }
    this.#republishPositions();
    this.#retries.retryNow();
    this.#requestReconcile(true);
    this.#later(RECONCILE_AGAIN_AFTER_MS, () => this.#requestReconcile(false));
  }

  /**
   * Shares every local user's current position again, in the cache and on the bus: a position
   * that arrived while the bus was down (a fix, or sharing turned on) reached no other process.
   * One write and one publish per user; friends here already have it.
   */
  #republishPositions(): void {
    const now = this.#now();
    for (const user of this.#users.values()) {
      const position = user.location;
      if (!user.sharing || position === undefined || now - position.t >= this.#options.inactiveAfterMs) continue;
      const epoch = user.sharingVersion;
      this.#cache
        .set(user.id, { lat: position.lat, lon: position.lon, updatedAt: position.t, epoch }, this.#options.inactiveAfterMs)
        .catch((error: unknown) => this.#reportError('location cache write failed', error));
      this.#publish(user.id, { k: 'loc', s: this.#options.serverId, u: user.id, lat: position.lat, lon: position.lon, t: position.t, e: epoch });
    }
  }

  /** Reconciliations run one at a time, in the order requested. */
  #requestReconcile(withFriends: boolean): void {
    this.#reconciling = this.#reconciling
      .then(() => (this.#stopped ? undefined : this.#reconcile(withFriends)))
      .catch((error: unknown) => this.#reportError('reconciliation failed', error));
  }

  /**
   * Re-reads what the views of this process's users depend on, for changes whose announcement
   * was lost: friend lists from the host (`withFriends`), saved settings, and the cache entries
   * of every channel followed here. Each is applied only where newer than what is known.
   */
  async #reconcile(withFriends: boolean): Promise<void> {
    this.counters.reconciliations++;
    const users = [...this.#users.values()];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < users.length) await this.#reconcileUser(users[next++]!, withFriends);
    };
    await Promise.all(Array.from({ length: Math.min(RECONCILE_CONCURRENCY, users.length) }, worker));
    const ids = [...this.#channels.keys()];
    for (let i = 0; i < ids.length && !this.#stopped; i += CACHE_READ_CHUNK) {
      const cached = await this.#cache.getMany(ids.slice(i, i + CACHE_READ_CHUNK));
      for (const [id, entry] of cached) this.#applyCacheEntry(id, entry);
    }
  }

  async #reconcileUser(user: LocalUser, withFriends: boolean): Promise<void> {
    try {
      await user.ready;
    } catch {
      return;
    }
    if (user.removed) return;
    const readAt = this.#now();
    let friends: readonly string[] | undefined;
    let settings: UserSettings | undefined;
    try {
      [friends, settings] = await Promise.all([
        withFriends ? this.#options.friends.getFriends(user.id) : undefined,
        this.#cache.getSettings?.(user.id),
      ]);
    } catch (error) {
      this.#reportError(`reconciliation of ${user.id} failed`, error);
      return;
    }
    await user.run(async () => {
      if (settings !== undefined) await this.#adoptSettings(user, settings);
      if (friends !== undefined && !user.removed) await this.#adoptFriends(user, this.#normalizeFriends(user.id, friends), readAt);
    });
  }

  /** Runs `callback` after `ms` on the injected timers, unless the engine stops first. */
  #later(ms: number, callback: () => void): void {
    if (this.#stopped) return;
    const handle = this.#options.timers.setTimeout(() => {
      this.#timers.delete(handle);
      if (!this.#stopped) callback();
    }, ms);
    this.#timers.add(handle);
  }

  // ------------------------------------------------------------------ maintenance

  /** Expires inactive friends and closes idle connections. Called periodically by the server. */
  sweep(): void {
    const now = this.#now();
    const inactiveAfter = this.#options.inactiveAfterMs;
    for (const state of this.#channels.values()) {
      if (state.last === undefined || now - state.last.t < inactiveAfter) continue;
      this.#setLast(state, undefined);
      for (const follower of state.followers) {
        if (follower.visible.delete(state.userId)) {
          this.#leftToUser(follower, state.userId, state.idJson, LeaveReason.INACTIVE);
        }
      }
    }
    const idleTimeout = this.#options.idleTimeoutMs;
    if (idleTimeout > 0) {
      for (const connection of this.#connections) {
        if (now - connection.lastSeenAt >= idleTimeout) connection.close(CloseCode.IDLE_TIMEOUT, 'idle timeout');
      }
    }
  }

  #now(): number {
    return this.#options.timers.now();
  }

  #reportError(context: string, error: unknown): void {
    try {
      this.#options.onError(
        error instanceof NearbyError ? error : new NearbyError(ErrorCode.INTERNAL, `${context}: ${describe(error)}`, { cause: error }),
      );
    } catch {
      // An onError that throws must not take the server down.
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
