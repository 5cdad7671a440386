import {
  ErrorCode,
  LeaveReason,
  NearbyError,
  PROTOCOL_VERSION,
  type ErrorFrame,
  type NearbyStranger,
  type ServerFrame,
  type SnapshotFrame,
} from '@nearby/protocol';
import { createConnection, type Connection } from './connection.js';
import { Emitter } from './emitter.js';
import type { Timers } from './environment.js';
import { createDiscovery, type Discovery, type OptIn } from './discovery.js';
import { FriendList, STRANGER_FIELDS } from './friend-list.js';
import { createListView, type ExpiryClock } from './list-view.js';
import { createLifecycle, type Lifecycle } from './lifecycle.js';
import { toSample } from './location.js';
import { Notifier } from './notifier.js';
import { checkRadius, invalidArgument, resolveOptions, type NearbyClientOptions } from './options.js';
import { persist } from './persist.js';
import { createSettingsSync, type SettingsSync } from './settings-sync.js';
import { SnapshotStore } from './store.js';
import type { LocationFix, NearbyClientEvents, NearbySnapshot } from './types.js';
import { createUploader, type Uploader } from './uploader.js';

/**
 * Client of a Nearby server: keeps a WebSocket open (reconnecting with backoff and checking
 * liveness with heartbeats), sends the device's location in batches with at-least-once
 * delivery, and maintains the live list of nearby friends.
 *
 * ```ts
 * const client = new NearbyClient({ url: 'wss://example.com/nearby', getToken });
 * client.on('nearby', (friends) => render(friends));
 * client.connect();
 * client.updateLocation({ lat: 37.5665, lon: 126.978 });
 * ```
 *
 * All methods are synchronous and never throw for network reasons: connection problems are
 * reported through the `error` event and `getSnapshot().state`. Methods throw only for
 * invalid arguments ({@link NearbyError} with code `invalid_argument` or `invalid_location`).
 *
 * Events are delivered once the client has finished what raised them (a method call, a server
 * frame, a timer), so a listener always sees the finished state in {@link NearbyClient.getSnapshot}.
 */
export class NearbyClient {
  // The parts the public methods use. The rest of the wiring between the parts (frame routing,
  // the snapshot, storage) lives in the constructor's closures.
  private readonly timers: Timers;
  private readonly emitter: Emitter<NearbyClientEvents>;
  private readonly store: SnapshotStore<NearbySnapshot>;
  private readonly notifier: Notifier;
  private readonly connection: Connection;
  private readonly uploader: Uploader;
  private readonly settings: SettingsSync;
  private readonly discovery: Discovery;
  private readonly lifecycle: Lifecycle;

  /**
   * Creates a client. Nothing happens on the network until {@link NearbyClient.connect}.
   *
   * @throws NearbyError with code `invalid_argument` naming the first invalid option.
   */
  constructor(options: NearbyClientOptions) {
    // Bound so they can be passed unbound, as in `useSyncExternalStore(client.subscribe, client.getSnapshot)`.
    this.subscribe = this.subscribe.bind(this);
    this.getSnapshot = this.getSnapshot.bind(this);
    const resolved = resolveOptions(options);
    const emitter = new Emitter<NearbyClientEvents>(resolved.onListenerError);
    /** Authenticated user id, from the last snapshot. */
    let userId: string | null = null;
    /** Called when samples joined or left the buffer, to store them. */
    let persistChange: (() => void) | undefined;

    // Called only when an entry point ends, by which time the store exists.
    const notifier = new Notifier(emitter, {
      commit: () => store.set(buildSnapshot()),
      notify: () => store.notify(),
    });
    const batch = (fn: () => void): void => notifier.batch(fn);
    // Every timer callback is an entry point: its events are delivered when it returns.
    const timers = notifier.entryTimers(resolved.timers);
    const connection = createConnection(resolved, timers, notifier, {
      // A connection's `init`: the latest fix, and the settings changes not confirmed yet.
      init: () => {
        const location = uploader.initLocation();
        return {
          type: 'init',
          v: PROTOCOL_VERSION,
          ...(location === undefined ? {} : { location }),
          ...settings.initFields(),
          ...discovery.initFields(),
        };
      },
      frame: (frame) => handleFrame(frame),
      lost: () => {
        uploader.connectionLost();
        settings.connectionLost();
        discovery.connectionLost();
      },
      closed: () => {
        friends.clear();
        discovery.closed();
        lifecycle.stop();
      },
      held: () => lifecycle.held(),
      offline: () => lifecycle.offline(),
    });
    const lifecycle = createLifecycle(resolved, timers, batch, {
      flush: () => uploader.flush(),
      park: () => connection.park(),
      resume: () => connection.resume(),
    });
    const settings = createSettingsSync(
      { radiusKm: resolved.radiusKm, sharing: options.sharing === undefined ? undefined : resolved.sharing },
      connection,
    );
    const uploader = createUploader(
      resolved,
      timers,
      notifier,
      connection,
      () => settings.awaitAnswer(),
      () => persistChange?.(),
    );
    // Turning `seeStrangers` off (here, on another device, or by the host) empties the list at once.
    const discovery = createDiscovery(resolved, connection, timers, () => strangers.clear());
    const clock: ExpiryClock = { offsetMs: 0, inactiveAfterMs: resolved.inactiveAfterMs };
    const friends = createListView(timers, notifier, clock, new FriendList(), ['nearby', 'friendUpdate', 'friendLeft']);
    const strangers = createListView(timers, notifier, clock, new FriendList<NearbyStranger>(STRANGER_FIELDS), [
      'strangers',
      'strangerUpdate',
      'strangerLeft',
    ]);

    /** Routes a server frame to the part of the client it concerns. */
    const handleFrame = (frame: ServerFrame): void => {
      switch (frame.type) {
        case 'snapshot':
          handleSnapshot(frame);
          return;
        case 'friend_update':
          friends.update(frame.friends);
          return;
        case 'friend_left':
          friends.leave(frame.userId, frame.reason);
          return;
        case 'friend_added':
          notifier.emit('friendAdded', frame.userId);
          return;
        case 'friend_removed':
          // A listed friend leaves as `unfriended`; the friend shows up again once friends and in range.
          notifier.emit('friendRemoved', frame.userId);
          friends.leave(frame.userId, LeaveReason.UNFRIENDED);
          return;
        case 'discovery_state':
          discovery.state(frame);
          return;
        case 'stranger_update':
          // Late frames sent before the server saw `seeStrangers` turn off are dropped.
          if (discovery.seeing) strangers.update(frame.strangers);
          return;
        case 'stranger_left':
          strangers.leave(frame.id, frame.reason);
          return;
        case 'ack':
          uploader.acknowledged(frame.seq, frame.count);
          return;
        case 'error':
          handleErrorFrame(frame);
          return;
        default:
          // `pong` and `reconnect` are the connection's own and never routed here.
          return;
      }
    };

    const handleSnapshot = (frame: SnapshotFrame): void => {
      const first = !connection.connected;
      userId = frame.userId;
      const resend = settings.adopt(frame, first);
      discovery.snapshot(frame, first);
      clock.inactiveAfterMs = frame.inactiveAfterMs;
      clock.offsetMs = frame.serverTime - timers.now();
      // Nearby people are not in the snapshot: the server forgets what it sent and follows the
      // snapshot with a `stranger_update` of the current list (none when nobody is near).
      strangers.clear();
      const listChanged = friends.replace(frame.friends);
      if (first) {
        uploader.established();
        connection.established();
      }
      if (listChanged) friends.announce();
      if (!first) return;
      // Settings changed while `init` was in flight: the snapshot does not reflect them yet.
      settings.resend(resend);
      // Everything not acknowledged on the previous connection goes out again right away.
      uploader.flush();
    };

    const handleErrorFrame = (frame: ErrorFrame): void => {
      const { code, message, seq } = frame;
      if (seq !== undefined) uploader.refused(seq, code);
      if (code === ErrorCode.INVALID_RADIUS) settings.radiusRefused(frame.frameType);
      if (code === ErrorCode.RATE_LIMITED && frame.frameType === 'discovery') discovery.limited();
      connection.report(new NearbyError(code, message, { seq }));
    };

    const buildSnapshot = (): NearbySnapshot => ({
      state: connection.current,
      userId,
      friends: friends.list,
      radiusKm: settings.radiusKm,
      maxRadiusKm: settings.maxRadiusKm,
      sharing: settings.sharing,
      strangers: strangers.list,
      discoverable: discovery.discoverable,
      seeingStrangers: discovery.seeing,
      inactiveAfterMs: clock.inactiveAfterMs,
      serverTimeOffsetMs: clock.offsetMs,
      pendingSamples: uploader.pendingSamples,
      lastError: connection.lastError,
    });

    const store = new SnapshotStore(buildSnapshot(), resolved.onListenerError);
    const { storage } = resolved;
    if (storage !== undefined) {
      persistChange = persist(storage, resolved.storageKey, {
        read: () => uploader.samples,
        restore: (samples) => uploader.restore(samples),
        report: (error) => connection.report(error),
        batch,
      });
    }

    this.timers = timers;
    this.emitter = emitter;
    this.store = store;
    this.notifier = notifier;
    this.connection = connection;
    this.uploader = uploader;
    this.settings = settings;
    this.discovery = discovery;
    this.lifecycle = lifecycle;
  }

  /**
   * Starts connecting. A no-op while `connecting` or `connected`. While `reconnecting` it skips
   * the rest of the backoff wait and tries at once (call it when the app returns to the
   * foreground). After {@link NearbyClient.close} it connects again, keeping buffered samples.
   */
  connect(): void {
    this.notifier.batch(() => {
      this.lifecycle.start();
      this.connection.connect();
    });
  }

  /**
   * Closes the connection with code 1000 (the server tells friends this user went offline),
   * stops every timer and empties the nearby list. Unacknowledged samples stay buffered for a
   * later `connect()`. Pending `whenConnected()` promises reject with code `closed`. Idempotent.
   * Called from a listener, it also drops the events not delivered yet.
   */
  close(): void {
    this.notifier.batch(() => this.connection.close());
  }

  /**
   * Records a location fix. Validated synchronously; `timestamp` defaults to `timers.now()`.
   *
   * While sharing is off the fix is ignored (not buffered, not sent): the user asked not to
   * share their position. Otherwise it joins the offline buffer and is sent at once if it is the
   * first fix since the connection was (re)established or if it is at least
   * `significantMoveMeters` from the last sent one, else with the next batch
   * (every `flushIntervalMs`). Fixes taken while disconnected are sent after reconnecting.
   *
   * A fractional `timestamp` is rounded to the millisecond.
   *
   * @throws NearbyError with code `invalid_location` for NaN, infinite or out-of-range
   * coordinates, a negative accuracy, or a timestamp that is negative, not finite or not a number.
   */
  updateLocation(fix: LocationFix): void {
    const sample = toSample(fix, this.timers.now());
    this.notifier.batch(() => {
      if (this.settings.sharing) this.uploader.record(sample);
    });
  }

  /**
   * Changes the radius. Remembered for every future `init`; sent at once when connected (the
   * server answers with a new snapshot).
   *
   * @param km - New radius in km: finite, > 0 and ≤ `Limits.MAX_RADIUS_KM`. The server may
   * refuse values above its own `maxRadiusKm` with an `invalid_radius` error, after which the
   * client falls back to the last radius the server confirmed.
   * @throws NearbyError with code `invalid_argument`.
   */
  setRadius(km: number): void {
    const radiusKm = checkRadius('radiusKm', km);
    this.notifier.batch(() => this.settings.setRadius(radiusKm));
  }

  /**
   * Turns location sharing on or off. Remembered for every future `init`; sent at once when
   * connected (the server answers with a new snapshot). While off, `updateLocation` ignores fixes;
   * samples buffered before that are still delivered to the history store.
   *
   * @throws NearbyError with code `invalid_argument` when `on` is not a boolean.
   */
  setSharing(on: boolean): void {
    if (typeof on !== 'boolean') throw invalidArgument('sharing', 'a boolean', on);
    this.notifier.batch(() => this.settings.setSharing(on));
  }

  /**
   * Lets others see this user among nearby people, or stops it. Off unless the app turns it on;
   * sent at once when connected, else in the next `init`, and asked for again in every `init`
   * (the server never keeps it once the user's last connection ends). `getSnapshot().discoverable`
   * turns true once the server confirms it; turning it off counts at once. When the host does
   * not allow it, an `error` event with code `not_allowed` is raised and it stays off.
   *
   * While discoverable, others see only the centre of the area this user is in, never the exact
   * position, under an id that differs for each of them.
   *
   * @throws NearbyError with code `invalid_argument` when `on` is not a boolean.
   */
  setDiscoverable(on: boolean): void {
    this.setOptIn('discoverable', on);
  }

  /**
   * Starts or stops seeing nearby people who chose to be discoverable (`getSnapshot().strangers`
   * and the `strangers` event). Sent like {@link NearbyClient.setDiscoverable}; turning it off
   * empties the list at once. When the host does not allow it, an `error` event with code
   * `not_allowed` is raised and it stays off.
   *
   * @throws NearbyError with code `invalid_argument` when `on` is not a boolean.
   */
  setSeeingStrangers(on: boolean): void {
    this.setOptIn('seeStrangers', on);
  }

  private setOptIn(key: OptIn, on: boolean): void {
    if (typeof on !== 'boolean') throw invalidArgument(key, 'a boolean', on);
    this.notifier.batch(() => this.discovery.set(key, on));
  }

  /**
   * The current state as a frozen object; the same object is returned until something in it
   * changes. Pair with {@link NearbyClient.subscribe} in React's `useSyncExternalStore`.
   * Bound to the client, so it can be passed around without `this`.
   */
  getSnapshot(): NearbySnapshot {
    return this.store.get();
  }

  /**
   * Calls `listener` (without arguments) after every snapshot change. Returns the function that
   * unsubscribes. Exceptions thrown by `listener` go to `onListenerError`. Bound to the client.
   */
  subscribe(listener: () => void): () => void {
    return this.store.subscribe(listener);
  }

  /**
   * Adds an event listener and returns the function that removes it. Exceptions thrown by
   * listeners never reach the client; they go to `onListenerError` (by default rethrown from a
   * microtask). An `error` event without listeners is ignored.
   */
  on<E extends keyof NearbyClientEvents>(event: E, listener: NearbyClientEvents[E]): () => void {
    return this.emitter.on(event, listener);
  }

  /** Removes an event listener added with {@link NearbyClient.on}. */
  off<E extends keyof NearbyClientEvents>(event: E, listener: NearbyClientEvents[E]): void {
    this.emitter.off(event, listener);
  }

  /**
   * Resolves when the client is (or next becomes) `connected`, i.e. when a snapshot arrived.
   * Rejects with a {@link NearbyError}: code `unauthorized` when the server refuses the
   * credentials, code `closed` when the client is closed first (or already closed; the
   * `cause` then tells why). Does not call `connect()` itself.
   */
  whenConnected(): Promise<void> {
    return this.connection.whenConnected();
  }
}
