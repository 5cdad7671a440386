import {
  CloseCode,
  ErrorCode,
  LeaveReason,
  Limits,
  NearbyError,
  PROTOCOL_VERSION,
  TERMINAL_CLOSE_CODES,
  retryClassOf,
  decodeServerFrame,
  distanceKm,
  encodeFrame,
  type ClientFrame,
  type ErrorFrame,
  type InitFrame,
  type LatLon,
  type LocationSample,
  type ServerFrame,
  type SnapshotFrame,
} from '@nearby/protocol';
import { backoffDelay } from './backoff.js';
import { Emitter } from './emitter.js';
import { MAX_TIMER_DELAY_MS, type TimerHandle, type Timers } from './environment.js';
import { FriendList } from './friend-list.js';
import { Heartbeat } from './heartbeat.js';
import { Notifier } from './notifier.js';
import { toSample } from './location.js';
import { checkRadius, resolveOptions, type NearbyClientOptions, type ResolvedOptions } from './options.js';
import { Outbox } from './outbox.js';
import { SnapshotStore } from './store.js';
import type { ConnectionState, LocationFix, NearbyClientEvents, NearbySnapshot } from './types.js';
import { READY_STATE_OPEN, withQueryParam, type WebSocketLike } from './websocket.js';

/** First delay before resending a batch the server could not store (`history_unavailable`, `rate_limited`). */
const RETRY_BASE_DELAY_MS = 1_000;
/** Jitter added to a drain notice's delay when reconnecting is disabled (no `initialDelayMs` to use). */
const DEFAULT_DRAIN_JITTER_MS = 500;
/**
 * A fix dated more than this before one already sent, while no further than this from the
 * device's clock, means the clock was set back (not a late fix).
 */
const CLOCK_SET_BACK_MS = 2_000;

const noop = (): void => {};

interface Waiter {
  resolve: () => void;
  reject: (error: NearbyError) => void;
}

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
 * reported through the `error` event and the {@link ConnectionState}. Methods throw only for
 * invalid arguments ({@link NearbyError} with code `invalid_argument` or `invalid_location`).
 */
export class NearbyClient {
  private readonly options: ResolvedOptions;
  private readonly timers: Timers;
  private readonly emitter: Emitter<NearbyClientEvents>;
  private readonly store: SnapshotStore<NearbySnapshot>;
  private readonly notifier: Notifier;
  private readonly friends = new FriendList();
  private readonly outbox: Outbox;
  private readonly heartbeat: Heartbeat | undefined;

  private state: ConnectionState = 'idle';
  private socket: WebSocketLike | undefined;
  private socketError: unknown;
  /**
   * Incremented whenever the current connection ends. A `getToken` that settles after its
   * attempt was abandoned compares it and stops.
   */
  private generation = 0;
  /** Consecutive failed attempts since the last snapshot, for the backoff. */
  private attempt = 0;
  private waiters: Waiter[] = [];
  /** Rejection for `whenConnected()` while closed. */
  private closedReason: NearbyError = new NearbyError(ErrorCode.CLOSED, 'the client is closed');

  private reconnectTimer: TimerHandle | undefined;
  private connectTimer: TimerHandle | undefined;
  private flushTimer: TimerHandle | undefined;
  private expiryTimer: TimerHandle | undefined;
  private ackTimer: TimerHandle | undefined;

  private userId: string | null = null;
  /**
   * The radius this client wants, sent in every `init`; `undefined` lets the server apply the
   * account's current radius or its default. Follows the server's snapshots (another device of
   * the account may change it) except while a change of ours is still unanswered.
   */
  private requestedRadiusKm: number | undefined;
  /** Radius the server last reported in a snapshot. */
  private confirmedRadiusKm: number | undefined;
  /** The server's `maxRadiusKm`, from the last snapshot. */
  private maxRadiusKm: number | null = null;
  /** Whether the user shares their location; same rules as {@link requestedRadiusKm}. */
  private sharing: boolean;
  /**
   * Whether the app changed the radius / sharing (option or setter) and no snapshot has
   * confirmed it yet. Only pending changes travel in `init`: settings belong to the account, and
   * a reconnecting device must not overwrite a change another device made meanwhile.
   */
  private radiusPending: boolean;
  private sharingPending: boolean;
  /** Settings carried by the `init` of the current connection, to spot changes made while it was in flight. */
  private initSettings: { radiusKm: number | undefined; sharing: boolean } | undefined;
  /**
   * `radius` / `sharing` frames sent on this connection that the server has not answered yet
   * (it answers each with a snapshot, or an `invalid_radius` error). Snapshots arriving while
   * some are unanswered were made before our latest change and must not undo it locally.
   */
  private unansweredSettings = 0;
  private inactiveAfterMs: number;
  /** `serverTime − local now` at the last snapshot; converts local time to server time for expiry. */
  private clockOffsetMs = 0;
  private lastError: NearbyError | null = null;

  /** Latest accepted fix, sent in `init` so the server can place the user at once. */
  private lastFix: LocationSample | undefined;
  /** Position of the last sample sent, for the significant-move rule. */
  private lastSentPosition: LatLon | undefined;
  /** Whether a location frame went out since the last snapshot of this connection. */
  private sentSinceConnect = false;
  /** Newest sample timestamp sent on this connection (in `init` or a batch). */
  private newestSentTimestamp: number | undefined;
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  /** No flush before this local time, after the server refused a batch for a transient reason. */
  private retryNotBefore = 0;
  private retryFailures = 0;
  private pingId = 0;

  /**
   * Creates a client. Nothing happens on the network until {@link NearbyClient.connect}.
   *
   * @throws NearbyError with code `invalid_argument` naming the first invalid option.
   */
  constructor(options: NearbyClientOptions) {
    // Bound so they can be passed unbound, as in `useSyncExternalStore(client.subscribe, client.getSnapshot)`.
    this.subscribe = this.subscribe.bind(this);
    this.getSnapshot = this.getSnapshot.bind(this);
    this.options = resolveOptions(options);
    this.emitter = new Emitter(this.options.onListenerError);
    this.outbox = new Outbox(this.options.maxBufferedSamples);
    this.sharing = this.options.sharing;
    this.sharingPending = options.sharing !== undefined;
    this.radiusPending = options.radiusKm !== undefined;
    this.inactiveAfterMs = this.options.inactiveAfterMs;
    this.requestedRadiusKm = this.options.radiusKm;
    this.store = new SnapshotStore(this.buildSnapshot(), this.options.onListenerError);
    this.notifier = new Notifier(this.emitter, this.store, () => this.buildSnapshot());
    // Every timer callback is an entry point: its events are delivered when it returns.
    this.timers = this.notifier.entryTimers(this.options.timers);
    const heartbeat = this.options.heartbeat;
    this.heartbeat =
      heartbeat === false
        ? undefined
        : new Heartbeat(
            this.timers,
            heartbeat,
            () => {
              this.pingId = this.pingId >= Limits.MAX_SEQ ? 0 : this.pingId + 1;
              this.send({ type: 'ping', id: this.pingId });
            },
            () => this.onHeartbeatTimeout(heartbeat.timeoutMs),
          );
  }

  // ------------------------------------------------------------------ public API

  /**
   * Starts connecting. A no-op while `connecting` or `connected`. While `reconnecting` it skips
   * the rest of the backoff wait and tries at once (call it when the app returns to the
   * foreground). After {@link NearbyClient.close} it connects again, keeping buffered samples.
   */
  connect(): void {
    this.notifier.batch(() => {
      if (this.state === 'connecting' || this.state === 'connected') return;
      if (this.state === 'reconnecting') {
        this.clearReconnectTimer();
      } else {
        this.attempt = 0;
      }
      this.open();
    });
  }

  /**
   * Closes the connection with code 1000 (the server tells friends this user went offline),
   * stops every timer and empties the nearby list. Unacknowledged samples stay buffered for a
   * later `connect()`. Pending `whenConnected()` promises reject with code `closed`. Idempotent.
   */
  close(): void {
    this.notifier.batch(() => {
      if (this.state === 'closed') return;
      this.shutdown(CloseCode.NORMAL, 'client closed', new NearbyError(ErrorCode.CLOSED, 'the client was closed'));
    });
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
   * @throws NearbyError with code `invalid_location` for NaN, infinite or out-of-range
   * coordinates, a negative accuracy, or a negative or fractional timestamp.
   */
  updateLocation(fix: LocationFix): void {
    const sample = toSample(fix, this.timers.now());
    this.notifier.batch(() => this.record(sample));
  }

  private record(sample: LocationSample): void {
    if (!this.sharing) return;
    this.lastFix = sample;
    const dropped = this.outbox.add(sample);
    if (dropped > 0) {
      this.report(
        new NearbyError(
          ErrorCode.BUFFER_OVERFLOW,
          `location buffer full (${this.options.maxBufferedSamples} samples): dropped the ${dropped} oldest unsent sample(s)`,
        ),
      );
    }
    if (this.state !== 'connected') return;
    if (this.clockWentBack(sample)) {
      this.restartSampleOrder(sample);
      return;
    }
    const significant =
      this.lastSentPosition !== undefined &&
      distanceKm(this.lastSentPosition, sample) * 1000 >= this.options.significantMoveMeters;
    if (!this.sentSinceConnect || significant) {
      this.requestFlush();
    } else {
      this.scheduleFlush();
    }
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
    this.notifier.batch(() => {
      if (radiusKm === this.requestedRadiusKm) return;
      this.requestedRadiusKm = radiusKm;
      this.radiusPending = true;
      // Before `connected`, the next `init` (or the first snapshot's check) carries it.
      if (this.state === 'connected') this.sendSetting({ type: 'radius', radiusKm });
    });
  }

  /**
   * Turns location sharing on or off. Remembered for every future `init`; sent at once when
   * connected (the server answers with a new snapshot). While off, `updateLocation` ignores fixes;
   * samples buffered before that are still delivered to the history store.
   *
   * @throws NearbyError with code `invalid_argument` when `on` is not a boolean.
   */
  setSharing(on: boolean): void {
    if (typeof on !== 'boolean') {
      throw new NearbyError(ErrorCode.INVALID_ARGUMENT, `sharing must be a boolean (got ${String(on)})`);
    }
    this.notifier.batch(() => {
      if (on === this.sharing) return;
      this.sharing = on;
      this.sharingPending = true;
      if (this.state === 'connected') this.sendSetting({ type: 'sharing', enabled: on });
    });
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
    if (this.state === 'connected') return Promise.resolve();
    if (this.state === 'closed') return Promise.reject(this.closedReason);
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
    });
  }

  // ------------------------------------------------------------------ connection lifecycle

  /** Starts one connection attempt: token, socket, then `init` once open. */
  private open(): void {
    const generation = ++this.generation;
    this.clearConnectTimer();
    // The timeout covers the whole attempt (token fetch included), so no stage can hang forever.
    this.connectTimer = this.after(this.options.connectTimeoutMs, () => {
      this.connectTimer = undefined;
      this.dropConnection(CloseCode.CLIENT_RECONNECTING, 'connect timeout');
      this.retry(
        new NearbyError(
          ErrorCode.CONNECTION_FAILED,
          `no snapshot within ${this.options.connectTimeoutMs} ms of starting to connect`,
        ),
      );
    });
    this.setState('connecting');

    const { getToken } = this.options;
    if (getToken === undefined) {
      this.openSocket(this.options.token);
      return;
    }
    let pending: string | Promise<string>;
    try {
      pending = getToken();
    } catch (error) {
      this.failAttempt('getToken threw', error);
      return;
    }
    // A settled token is an entry point of its own, like a frame or a timer.
    Promise.resolve(pending).then(
      (token) =>
        this.notifier.batch(() => {
          if (generation !== this.generation) return;
          if (typeof token !== 'string') {
            this.failAttempt(`getToken returned ${typeof token}, not a string`, undefined);
            return;
          }
          this.openSocket(token);
        }),
      (error: unknown) =>
        this.notifier.batch(() => {
          if (generation === this.generation) this.failAttempt('getToken rejected', error);
        }),
    );
  }

  private openSocket(token: string | undefined): void {
    const { url, tokenParam } = this.options;
    const target = token === undefined ? url : withQueryParam(url, tokenParam, token);
    let socket: WebSocketLike;
    try {
      socket = new this.options.WebSocket(target);
    } catch (error) {
      this.failAttempt(`could not open a WebSocket to ${url}`, error);
      return;
    }
    this.socket = socket;
    this.socketError = undefined;
    // Each socket event is an entry point. Each handler checks it still belongs to the current
    // socket: a replaced socket's late events must not touch the new connection.
    socket.onopen = () =>
      this.notifier.batch(() => {
        if (this.socket === socket) this.handleOpen();
      });
    socket.onmessage = (event) =>
      this.notifier.batch(() => {
        if (this.socket === socket) this.handleMessage(event.data);
      });
    socket.onerror = (event) => {
      if (this.socket === socket) this.socketError = event;
    };
    socket.onclose = (event) =>
      this.notifier.batch(() => {
        if (this.socket === socket) this.handleClose(event.code, event.reason);
      });
  }

  /** A token or socket failure before any close event: report it and back off. */
  private failAttempt(message: string, cause: unknown): void {
    this.dropConnection(CloseCode.CLIENT_RECONNECTING, 'connect failed');
    this.retry(new NearbyError(ErrorCode.CONNECTION_FAILED, message, cause === undefined ? {} : { cause }));
  }

  private handleOpen(): void {
    this.initSettings = { radiusKm: this.requestedRadiusKm, sharing: this.sharing };
    const init: InitFrame = {
      type: 'init',
      v: PROTOCOL_VERSION,
      ...(this.lastFix === undefined ? {} : { location: this.lastFix }),
      ...(this.radiusPending && this.requestedRadiusKm !== undefined ? { radiusKm: this.requestedRadiusKm } : {}),
      // "Not sharing" is always asserted: if the account's saved setting was lost, this device
      // must not let sharing come back on. A conflict between devices thus resolves to off.
      ...(this.sharingPending || !this.sharing ? { sharing: this.sharing } : {}),
    };
    this.newestSentTimestamp = this.lastFix?.timestamp;
    this.send(init);
  }

  /**
   * A fix dated well before one already sent, yet current by this device's clock: the clock was
   * set back. The server orders a connection's samples by their timestamps, so this fix and the
   * ones after it would look old to it.
   */
  private clockWentBack(sample: LocationSample): boolean {
    const newest = this.newestSentTimestamp;
    if (newest === undefined || newest - sample.timestamp <= CLOCK_SET_BACK_MS) return false;
    return Math.abs(this.timers.now() - sample.timestamp) <= CLOCK_SET_BACK_MS;
  }

  /**
   * Sends what was taken before the clock was set back, then an `init` with the new fix: an
   * init's location starts the connection's sample order afresh on the server. Its snapshot is
   * answered like a settings change.
   */
  private restartSampleOrder(sample: LocationSample): void {
    this.flush();
    if (this.state !== 'connected') return;
    if (this.send({ type: 'init', v: PROTOCOL_VERSION, location: sample })) {
      this.unansweredSettings++;
      this.newestSentTimestamp = sample.timestamp;
      this.lastSentPosition = sample;
    }
    this.scheduleFlush();
  }

  private handleClose(code: number, reason: string): void {
    const detail = `close code ${code}${reason ? `: ${reason}` : ''}`;
    const cause = this.socketError;
    this.dropConnection(undefined, '');
    if (TERMINAL_CLOSE_CODES.has(code)) {
      const error =
        code === CloseCode.UNAUTHORIZED
          ? new NearbyError(ErrorCode.UNAUTHORIZED, `the server rejected the credentials (${detail})`, { closeCode: code })
          : new NearbyError(ErrorCode.CONNECTION_FAILED, `the server refused this client for good (${detail})`, {
              closeCode: code,
            });
      this.shutdown(undefined, '', this.rejectionFor(error));
      this.report(error);
      return;
    }
    this.retry(
      new NearbyError(ErrorCode.CONNECTION_FAILED, `connection lost (${detail})`, {
        closeCode: code,
        ...(cause === undefined ? {} : { cause }),
      }),
    );
  }

  private onHeartbeatTimeout(timeoutMs: number): void {
    this.dropConnection(CloseCode.CLIENT_RECONNECTING, 'heartbeat timeout');
    this.retry(new NearbyError(ErrorCode.HEARTBEAT_TIMEOUT, `no frame from the server within ${timeoutMs} ms of a ping`));
  }

  /**
   * Ends the current connection's resources: socket (closed with `code` when given), its
   * timers and heartbeat. In-flight samples return to the buffer so the next connection
   * resends them.
   */
  private dropConnection(code: number | undefined, reason: string): void {
    this.generation++;
    this.clearConnectTimer();
    this.clearFlushTimer();
    this.clearAckTimer();
    this.heartbeat?.stop();
    const socket = this.socket;
    this.socket = undefined;
    if (socket !== undefined) {
      // No-ops rather than null: `ws` emits 'error' when a CONNECTING socket is closed, and an
      // EventEmitter 'error' without a listener would crash the Node process.
      socket.onopen = noop;
      socket.onmessage = noop;
      socket.onerror = noop;
      socket.onclose = noop;
      if (code !== undefined) {
        try {
          socket.close(code, reason);
        } catch {
          // Already closed or closing: nothing left to release.
        }
      }
    }
    this.outbox.requeueAll();
    this.sentSinceConnect = false;
    this.newestSentTimestamp = undefined;
    this.unansweredSettings = 0;
  }

  /** After a failure: wait for the backoff and try again, or stay closed if reconnecting is off. */
  private retry(error: NearbyError): void {
    const { reconnect } = this.options;
    if (reconnect === false) {
      this.shutdown(undefined, '', this.rejectionFor(error));
      this.report(error);
      return;
    }
    // The attempt counter resets only when a snapshot arrives: a socket that opens and dies at
    // once must keep backing off, or a broken server would be hammered.
    this.scheduleReconnect(backoffDelay(this.attempt++, reconnect, this.options.random));
    this.report(error);
  }

  private scheduleReconnect(delayMs: number): void {
    this.clearReconnectTimer();
    this.reconnectTimer = this.after(delayMs, () => {
      this.reconnectTimer = undefined;
      this.open();
    });
    this.setState('reconnecting');
  }

  /** Enters `closed`: every timer stopped, socket closed, list emptied, waiters rejected. */
  private shutdown(code: number | undefined, reason: string, rejection: NearbyError): void {
    this.dropConnection(code, reason);
    this.clearReconnectTimer();
    this.clearExpiryTimer();
    this.closedReason = rejection;
    // Whatever earlier entry points raised and a listener has not seen yet (this may be a
    // listener calling close()) describes the connection and list that end here.
    this.notifier.discardWaiting();
    const listChanged = this.friends.clear();
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(rejection);
    this.setState('closed');
    if (listChanged) this.notifier.emit('nearby', this.friends.list);
  }

  /** What `whenConnected()` rejects with after `error` closed the client. */
  private rejectionFor(error: NearbyError): NearbyError {
    if (error.code === ErrorCode.UNAUTHORIZED) return error;
    return new NearbyError(ErrorCode.CLOSED, `the client closed: ${error.message}`, {
      cause: error,
      ...(error.closeCode === undefined ? {} : { closeCode: error.closeCode }),
    });
  }

  // ------------------------------------------------------------------ inbound frames

  private handleMessage(data: unknown): void {
    this.heartbeat?.alive();
    if (typeof data !== 'string') {
      this.report(new NearbyError(ErrorCode.INVALID_FRAME, 'ignored a binary frame from the server'));
      return;
    }
    const result = decodeServerFrame(data);
    if (!result.ok) {
      // Frame types added by newer servers are skipped silently: that is how the protocol evolves.
      if (result.code !== ErrorCode.UNKNOWN_TYPE) {
        this.report(new NearbyError(ErrorCode.INVALID_FRAME, `ignored an invalid server frame: ${result.message}`));
      }
      return;
    }
    this.handleFrame(result.frame);
  }

  private handleFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'snapshot':
        this.handleSnapshot(frame);
        return;
      case 'friend_update': {
        const { friends, changed } = this.friends.upsert(frame.friends);
        if (changed) this.scheduleExpiry();
        for (const friend of friends) this.notifier.emit('friendUpdate', friend);
        if (changed) this.notifier.emit('nearby', this.friends.list);
        return;
      }
      case 'friend_left':
        this.removeFriend(frame.userId, frame.reason);
        return;
      case 'friend_added':
        this.notifier.emit('friendAdded', frame.userId);
        return;
      case 'friend_removed':
        this.notifier.emit('friendRemoved', frame.userId);
        this.removeFriend(frame.userId, LeaveReason.UNFRIENDED);
        return;
      case 'ack':
        if (this.outbox.remove(frame.seq) > 0) this.retryFailures = 0;
        this.notifier.emit('ack', { seq: frame.seq, count: frame.count });
        return;
      case 'error':
        this.handleErrorFrame(frame);
        return;
      case 'pong':
        // Liveness only; `handleMessage` already told the heartbeat.
        return;
      case 'reconnect': {
        // A planned move (the server is draining), not a failure: no error, no backoff growth.
        this.dropConnection(CloseCode.CLIENT_RECONNECTING, 'server draining');
        const { reconnect } = this.options;
        const jitterMs = this.options.random() * (reconnect === false ? DEFAULT_DRAIN_JITTER_MS : reconnect.initialDelayMs);
        this.scheduleReconnect(frame.delayMs + jitterMs);
        return;
      }
      default:
        return;
    }
  }

  private handleSnapshot(frame: SnapshotFrame): void {
    const first = this.state !== 'connected';
    this.userId = frame.userId;
    const resend = this.adoptSettings(frame, first);
    this.inactiveAfterMs = frame.inactiveAfterMs;
    this.clockOffsetMs = frame.serverTime - this.timers.now();
    // The snapshot is authoritative: ghosts disappear, missing friends appear.
    const changed = this.friends.replace(frame.friends);
    this.scheduleExpiry();
    if (first) {
      this.clearConnectTimer();
      this.attempt = 0;
      this.retryNotBefore = 0;
      this.retryFailures = 0;
      this.sentSinceConnect = false;
      this.heartbeat?.start();
      const waiters = this.waiters;
      this.waiters = [];
      for (const waiter of waiters) waiter.resolve();
      this.setState('connected');
    }
    if (changed) this.notifier.emit('nearby', this.friends.list);
    if (!first) return;
    // Settings changed while `init` was in flight: the snapshot does not reflect them yet.
    if (resend.radius && this.requestedRadiusKm !== undefined) {
      this.sendSetting({ type: 'radius', radiusKm: this.requestedRadiusKm });
    }
    if (resend.sharing) this.sendSetting({ type: 'sharing', enabled: this.sharing });
    // Everything not acknowledged on the previous connection goes out again right away.
    this.flush();
  }

  /**
   * Takes radius and sharing from a snapshot, unless it predates a change of ours: radius and
   * sharing belong to the account, so another device may change them, but a snapshot made
   * before the server saw our latest change must not revert it. Returns which settings must be
   * sent again because they changed while this connection's `init` was in flight.
   */
  private adoptSettings(frame: SnapshotFrame, first: boolean): { radius: boolean; sharing: boolean } {
    this.confirmedRadiusKm = frame.radiusKm;
    this.maxRadiusKm = frame.maxRadiusKm;
    if (first) {
      this.unansweredSettings = 0;
      const sent = this.initSettings;
      const radius = this.requestedRadiusKm !== undefined && this.requestedRadiusKm !== sent?.radiusKm;
      const sharing = sent !== undefined && this.sharing !== sent.sharing;
      if (!radius && this.requestedRadiusKm !== undefined) this.requestedRadiusKm = frame.radiusKm;
      if (!sharing) this.sharing = frame.sharing;
      // What this init carried is now the account's setting; later inits carry only new changes.
      if (!radius) this.radiusPending = false;
      if (!sharing) this.sharingPending = false;
      return { radius, sharing };
    }
    if (this.unansweredSettings > 0) this.unansweredSettings--;
    if (this.unansweredSettings === 0) {
      if (this.requestedRadiusKm !== undefined) this.requestedRadiusKm = frame.radiusKm;
      this.sharing = frame.sharing;
      this.radiusPending = false;
      this.sharingPending = false;
    }
    return { radius: false, sharing: false };
  }

  /** Sends a `radius` or `sharing` frame and counts it as awaiting the server's answer. */
  private sendSetting(frame: ClientFrame & { type: 'radius' | 'sharing' }): void {
    if (this.send(frame)) this.unansweredSettings++;
  }

  private handleErrorFrame(frame: ErrorFrame): void {
    const { code, message, seq } = frame;
    if (seq !== undefined && this.outbox.isInFlight(seq)) {
      // Refused for good (invalid_location, invalid_frame): resending cannot succeed.
      if (retryClassOf(code) === 'never') {
        this.outbox.remove(seq);
      } else {
        // history_unavailable, rate_limited, internal: the samples were not stored. Resend them
        // with the next batch, but not before a short, growing delay so a struggling server
        // is not hammered by early flushes.
        this.outbox.requeue(seq);
        this.retryFailures++;
        const delay = Math.min(
          Math.max(this.options.flushIntervalMs, RETRY_BASE_DELAY_MS),
          RETRY_BASE_DELAY_MS * 2 ** (this.retryFailures - 1),
        );
        this.retryNotBefore = this.timers.now() + delay;
        this.clearFlushTimer();
        this.scheduleFlush();
      }
    }
    if (code === ErrorCode.INVALID_RADIUS) {
      if (frame.frameType === 'radius' && this.unansweredSettings > 0) this.unansweredSettings--;
      // Stop asking for a radius the server refuses: the account's current radius (the last one
      // reported) applies again. Unless a newer change of ours is still on its way.
      if (this.unansweredSettings === 0) {
        this.requestedRadiusKm = undefined;
        this.radiusPending = false;
      }
    }
    this.report(new NearbyError(code, message, seq === undefined ? {} : { seq }));
  }

  private removeFriend(userId: string, reason: LeaveReason): void {
    if (!this.friends.remove(userId)) return;
    this.scheduleExpiry();
    this.notifier.emit('friendLeft', { userId, reason });
    this.notifier.emit('nearby', this.friends.list);
  }

  // ------------------------------------------------------------------ local expiry

  /** Arms one timer for the earliest expiry instead of polling the list. */
  private scheduleExpiry(): void {
    this.clearExpiryTimer();
    const oldest = this.friends.oldestUpdate();
    if (oldest === undefined) return;
    const dueLocal = oldest + this.inactiveAfterMs - this.clockOffsetMs;
    this.expiryTimer = this.after(dueLocal - this.timers.now(), () => {
      this.expiryTimer = undefined;
      this.expireFriends();
    });
  }

  private expireFriends(): void {
    const serverNow = this.timers.now() + this.clockOffsetMs;
    const removed = this.friends.removeUpdatedBefore(serverNow - this.inactiveAfterMs);
    this.scheduleExpiry();
    if (removed.length === 0) return;
    for (const userId of removed) this.notifier.emit('friendLeft', { userId, reason: LeaveReason.INACTIVE });
    this.notifier.emit('nearby', this.friends.list);
  }

  // ------------------------------------------------------------------ outbound location batches

  /** Flushes now, unless a transient refusal asked for a pause; then at the end of the pause. */
  private requestFlush(): void {
    const wait = this.retryNotBefore - this.timers.now();
    if (wait <= 0) {
      this.flush();
      return;
    }
    this.clearFlushTimer();
    this.flushTimer = this.after(wait, () => {
      this.flushTimer = undefined;
      this.flush();
    });
  }

  /** Arms the batch timer (one flush per `flushIntervalMs`) if samples wait and none is armed. */
  private scheduleFlush(): void {
    if (this.flushTimer !== undefined || this.state !== 'connected' || this.outbox.unsentCount === 0) return;
    const due = Math.max(this.lastFlushAt + this.options.flushIntervalMs, this.retryNotBefore);
    this.flushTimer = this.after(due - this.timers.now(), () => {
      this.flushTimer = undefined;
      this.flush();
    });
  }

  /** Sends every unsent sample, in frames of at most `Limits.MAX_SAMPLES_PER_FRAME`. */
  private flush(): void {
    this.clearFlushTimer();
    if (this.state !== 'connected') return;
    let sent = false;
    while (this.outbox.unsentCount > 0) {
      const frame = this.outbox.takeFrame(this.timers.now());
      if (frame === undefined) break;
      // On failure the batch stays in flight and returns to the buffer with the connection.
      if (!this.send(frame)) break;
      sent = true;
      this.lastSentPosition = frame.samples[frame.samples.length - 1];
      for (const sample of frame.samples) {
        if (this.newestSentTimestamp === undefined || sample.timestamp > this.newestSentTimestamp) {
          this.newestSentTimestamp = sample.timestamp;
        }
      }
    }
    if (sent) {
      this.sentSinceConnect = true;
      this.lastFlushAt = this.timers.now();
      this.scheduleAckCheck();
    }
  }

  /**
   * Arms one timer for the oldest unacknowledged batch. A frame the server dropped without a
   * word (over its frame budget) would otherwise stay in flight until the next reconnect.
   */
  private scheduleAckCheck(): void {
    if (this.ackTimer !== undefined) return;
    const oldest = this.outbox.oldestSentAt();
    if (oldest === undefined) return;
    this.ackTimer = this.after(oldest + this.options.ackTimeoutMs - this.timers.now(), () => {
      this.ackTimer = undefined;
      if (this.state !== 'connected') return;
      if (this.outbox.requeueSentBefore(this.timers.now() - this.options.ackTimeoutMs) > 0) this.scheduleFlush();
      this.scheduleAckCheck();
    });
  }

  private clearAckTimer(): void {
    if (this.ackTimer !== undefined) this.timers.clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  /** Sends a frame if the socket is open. A throwing `send` means a dead socket: reconnect. */
  private send(frame: ClientFrame): boolean {
    const socket = this.socket;
    if (socket === undefined || socket.readyState !== READY_STATE_OPEN) return false;
    try {
      socket.send(encodeFrame(frame));
      return true;
    } catch (error) {
      this.dropConnection(CloseCode.CLIENT_RECONNECTING, 'send failed');
      this.retry(new NearbyError(ErrorCode.CONNECTION_FAILED, 'could not send a frame', { cause: error }));
      return false;
    }
  }

  // ------------------------------------------------------------------ state and helpers

  private buildSnapshot(): NearbySnapshot {
    return {
      state: this.state,
      userId: this.userId,
      friends: this.friends.list,
      radiusKm: this.requestedRadiusKm ?? this.confirmedRadiusKm ?? null,
      maxRadiusKm: this.maxRadiusKm,
      sharing: this.sharing,
      pendingSamples: this.outbox.size,
      lastError: this.lastError,
    };
  }

  private setState(next: ConnectionState): void {
    const previous = this.state;
    if (previous === next) return;
    this.state = next;
    if (next === 'connected') this.lastError = null;
    this.notifier.emit('state', next, previous);
  }

  private report(error: NearbyError): void {
    this.lastError = error;
    this.notifier.emit('error', error);
  }

  /** `setTimeout` with the delay clamped to what timers support (longer ones fire at once). */
  private after(ms: number, callback: () => void): TimerHandle {
    return this.timers.setTimeout(callback, Math.min(Math.max(0, ms), MAX_TIMER_DELAY_MS));
  }

  private clearReconnectTimer(): void {
    if (this.reconnectTimer !== undefined) this.timers.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== undefined) this.timers.clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }

  private clearFlushTimer(): void {
    if (this.flushTimer !== undefined) this.timers.clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
  }

  private clearExpiryTimer(): void {
    if (this.expiryTimer !== undefined) this.timers.clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
  }
}
