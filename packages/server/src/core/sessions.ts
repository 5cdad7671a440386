import {
  CloseCode,
  ErrorCode,
  NearbyError,
  type ClientFrame,
  type InitFrame,
  type LocationFrame,
  type LocationSample,
} from '@nearby/protocol';
import { decodeClientFrame } from '@nearby/protocol/schemas';
import type { HistorySample } from '../adapters/types.js';
import { Connection, type ServerSocket } from './connection.js';
import { closeCodeLabel, type EngineConnection, type EngineContext } from './context.js';
import { FlushScheduler, type Backlog } from './flush-scheduler.js';
import { encodeAck, encodeDiscoveryState, encodePong } from './frames.js';
import type { LocalUser } from './local-user.js';
import type { QueueTiming } from './outbound-queue.js';
import { refuseDiscovery } from './strangers.js';

/**
 * Most frames parked per connection; at this many its socket stops being read until a slice
 * handled some. Parked frames are cheap (their text), and parked, a device's location frames in
 * a row share one live update, so under overload frames wait here rather than in the network.
 */
const MAX_PARKED_FRAMES = 256;

/**
 * The connections of this process and what their frames do: admission (rate limits,
 * validation), the session phases (`init` and the frames held meanwhile), and dispatch of
 * location, radius and sharing frames into the user's ordered queue.
 */
export class Sessions {
  readonly #ctx: EngineContext;
  readonly #connections = new Set<EngineConnection>();
  /** One flush pass per I/O phase for every connection that has frames queued. */
  readonly #flushes: FlushScheduler;
  readonly #countFrames = (count: number): void => {
    this.#ctx.counters.framesSent += count;
  };
  #nextConnectionId = 1;
  /** Waiting for the last connection to be released (drain, close). */
  #whenEmpty: Array<() => void> = [];
  /** While a backlog is drained: the newest own sample of its run of location frames, not yet applied. */
  #pendingLive: { connection: EngineConnection; user: LocalUser; sample: LocationSample; handledAt: number } | undefined;
  /** Latency observations for the outbound queues; undefined without a telemetry (nothing is timed). */
  readonly #timing: QueueTiming | undefined;
  #draining = false;

  constructor(ctx: EngineContext) {
    this.#ctx = ctx;
    this.#flushes = new FlushScheduler({ timers: ctx.options.timers, sliceSize: ctx.options.inboundSliceFrames });
    this.#timing = queueTiming(ctx);
  }

  get size(): number {
    return this.#connections.size;
  }

  values(): IterableIterator<EngineConnection> {
    return this.#connections.values();
  }

  /** Resolves once no connection is left. */
  untilEmpty(): Promise<void> {
    if (this.#connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#whenEmpty.push(resolve));
  }

  /** Registers an authenticated socket. The caller feeds the socket's messages and close to the returned connection. */
  accept(socket: ServerSocket, userId: string): EngineConnection {
    const { options, counters } = this.#ctx;
    const connection: EngineConnection = new Connection(
      this.#nextConnectionId++,
      userId,
      socket,
      {
        frames: options.frameLimit,
        locations: options.locationLimit,
        now: () => this.#ctx.now(),
        schedule: this.#flushes.schedule,
        timers: options.timers,
        onFramesSent: this.#countFrames,
        tally: counters,
        ...(this.#timing === undefined ? {} : { timing: this.#timing }),
      },
      () => {
        // The peer stopped reading and its backlog overflowed: a TCP-level close, since a close
        // frame would queue behind everything it is not reading.
        counters.slowConsumersClosed++;
        this.#ctx.log.slowConsumerClosed(connection.id, userId);
        socket.terminate();
      },
    );
    const backlog: Backlog = {
      drain: (max) => this.#drain(connection, max),
      get parked() {
        return connection.inbox.length > 0;
      },
    };
    connection.backlog = backlog;
    this.#connections.add(connection);
    return connection;
  }

  /**
   * Takes one inbound WebSocket message (`undefined`: a binary one). Never throws. It is handled
   * at once while the turn's inbound budget lasts; after that it is parked behind the
   * connection's earlier frames and handled in a slice of the check phase, in order.
   */
  receive(connection: EngineConnection, data: string | undefined): void {
    if (connection.phase === 'closed') return;
    const inbox = connection.inbox;
    if (inbox.length === 0 && this.#flushes.take()) {
      this.#handle(connection, data);
      return;
    }
    if (inbox.length === 0) this.#flushes.defer(connection.backlog!);
    inbox.push(data);
    // Enough parked: let the peer's further frames wait in the network until these are handled.
    if (inbox.length === MAX_PARKED_FRAMES) connection.socket.pause?.();
    this.#ctx.counters.framesParked++;
  }

  /** Handles up to `max` parked frames of `connection`; consecutive location frames share one live update. */
  #drain(connection: EngineConnection, max: number): number {
    const inbox = connection.inbox;
    const paused = inbox.length >= MAX_PARKED_FRAMES;
    const batch = inbox.splice(0, Math.min(max, inbox.length));
    this.#draining = true;
    try {
      for (const data of batch) {
        if (connection.phase === 'closed') break;
        this.#handle(connection, data);
      }
    } finally {
      this.#draining = false;
      this.#applyPendingLive();
    }
    if (connection.phase === 'closed') inbox.length = 0;
    else if (paused && inbox.length < MAX_PARKED_FRAMES) connection.socket.resume?.();
    return batch.length;
  }

  /** Applies the live position held back while draining, in the user's order. */
  #applyPendingLive(): void {
    const pending = this.#pendingLive;
    if (pending === undefined) return;
    this.#pendingLive = undefined;
    const { connection, user, sample, handledAt } = pending;
    user.order(
      () => this.#applyOwnSample(user, connection, sample, handledAt),
      (error) => this.#ctx.report('location update failed', error),
    );
  }

  /** Applies an own live position; its fan-out is timed from `handledAt` (`NaN`: not timed). */
  #applyOwnSample(user: LocalUser, connection: EngineConnection, sample: LocationSample, handledAt: number): void {
    if (this.#timing === undefined) {
      this.#ctx.users.applyOwnSample(user, connection, sample, false);
      return;
    }
    const stamp = this.#ctx.fanoutStamp;
    stamp.at = handledAt;
    try {
      this.#ctx.users.applyOwnSample(user, connection, sample, false);
    } finally {
      stamp.at = Number.NaN;
    }
  }

  #handle(connection: EngineConnection, data: string | undefined): void {
    const { counters } = this.#ctx;
    counters.framesIn++;
    const now = this.#ctx.now();
    connection.lastSeenAt = now;
    if (!connection.frameBudget.take()) {
      this.#dropOverBudget(connection, now);
      return;
    }
    connection.consecutiveDrops = 0;
    if (data === undefined) {
      counters.invalidFrames++;
      counters.framesInByType.invalid++;
      connection.sendError(ErrorCode.BAD_JSON, 'binary frames are not supported; send JSON text frames');
      connection.close(CloseCode.PROTOCOL_VIOLATION, 'binary frame');
      return;
    }
    const decoded = decodeClientFrame(data);
    if (!decoded.ok) {
      counters.invalidFrames++;
      // Typed (a client frame type, failing its schema or version) or not typed at all.
      const type = decoded.code === ErrorCode.UNKNOWN_TYPE || decoded.code === ErrorCode.BAD_JSON ? undefined : decoded.frameType;
      if (type !== undefined && Object.hasOwn(counters.framesInByType, type)) counters.framesInByType[type as ClientFrame['type']]++;
      else counters.framesInByType.invalid++;
      const extra = {
        ...(decoded.seq === undefined ? {} : { seq: decoded.seq }),
        ...(decoded.frameType === undefined ? {} : { frameType: decoded.frameType }),
      };
      connection.sendError(decoded.code, decoded.message, extra);
      if (decoded.fatal) {
        const code = decoded.code === ErrorCode.UNSUPPORTED_VERSION ? CloseCode.UNSUPPORTED_VERSION : CloseCode.PROTOCOL_VIOLATION;
        connection.close(code, decoded.code);
      }
      return;
    }
    counters.framesInByType[decoded.frame.type]++;
    this.#dispatch(connection, decoded.frame);
  }

  /**
   * Releases everything a closed socket held. A close the client started with 1000 means the
   * user signed off on purpose; a close the server started never does, whatever code the client
   * echoes.
   */
  release(connection: EngineConnection, code: number): void {
    if (connection.released) return;
    connection.released = true;
    const closes = this.#ctx.counters.closesByCode;
    closes[closeCodeLabel(code, closes)]++;
    const signedOff = code === CloseCode.NORMAL && !connection.closedByServer;
    connection.phase = 'closed';
    connection.queue.close();
    this.#connections.delete(connection);
    if (this.#connections.size === 0) for (const resolve of this.#whenEmpty.splice(0)) resolve();
    const user = connection.user;
    if (user === undefined) return;
    user.connections.delete(connection);
    if (user.connections.size === 0) this.#ctx.users.remove(user, signedOff);
  }

  #dispatch(connection: EngineConnection, frame: ClientFrame): void {
    // A held-back live position goes first: every other frame sees the user as it was sent.
    if (frame.type !== 'location' && frame.type !== 'ping') this.#applyPendingLive();
    if (frame.type === 'ping') {
      connection.queue.control(encodePong(frame.id, this.#ctx.now()), 'pong');
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
    const user = connection.user;
    if (connection.phase !== 'ready' || user === undefined) {
      connection.sendError(ErrorCode.NOT_INITIALIZED, `send init before ${frame.type}`, {
        frameType: frame.type,
        ...(frame.type === 'location' ? { seq: frame.seq } : {}),
      });
      return;
    }
    const { users, channels } = this.#ctx;
    switch (frame.type) {
      case 'location':
        this.#location(connection, user, frame);
        return;
      case 'radius':
        if (!users.validRadius(frame.radiusKm)) {
          connection.sendError(ErrorCode.INVALID_RADIUS, users.radiusMessage(frame.radiusKm), { frameType: 'radius' });
          return;
        }
        user
          .run(() => {
            users.changeRadius(user, frame.radiusKm);
            channels.sendSnapshot(user);
          })
          .catch((error: unknown) => this.#ctx.report('radius change failed', error));
        return;
      case 'sharing':
        void users.changeSharing(user, frame.enabled);
        return;
      case 'discovery': {
        const strangers = this.#ctx.strangers;
        if (strangers === undefined) refuseDiscovery(connection, frame, 'discovery');
        else strangers.discovery(connection, user, frame);
        return;
      }
    }
  }

  #dropOverBudget(connection: EngineConnection, now: number): void {
    const { counters, options } = this.#ctx;
    counters.framesDropped++;
    connection.consecutiveDrops++;
    if (connection.consecutiveDrops > options.maxConsecutiveDrops) {
      connection.close(CloseCode.RATE_LIMITED, 'rate limit exceeded');
      return;
    }
    // One notice per second at most: answering every dropped frame would amplify a flood.
    if (now - connection.lastRateNoticeAt >= 1000) {
      connection.lastRateNoticeAt = now;
      connection.sendError(ErrorCode.RATE_LIMITED, `frame dropped: more than ${options.frameLimit.refillPerSecond} frames/s`);
    }
  }

  async #init(connection: EngineConnection, frame: InitFrame): Promise<void> {
    const { users, channels, strangers } = this.#ctx;
    // Timed from here to the write of the snapshot that answers it.
    if (this.#timing !== undefined) connection.queue.awaitSnapshot(performance.now());
    connection.phase = 'initializing';
    try {
      const radiusOk = frame.radiusKm === undefined || users.validRadius(frame.radiusKm);
      if (!radiusOk) connection.sendError(ErrorCode.INVALID_RADIUS, users.radiusMessage(frame.radiusKm!), { frameType: 'init' });
      // The init's settings are applied below like changes, so they are saved and announced.
      const user = connection.user ?? users.obtain(connection.userId);
      if (connection.user === undefined) {
        connection.user = user;
        user.connections.add(connection);
      }
      await user.ready;
      await user.run(async () => {
        if (radiusOk && frame.radiusKm !== undefined && frame.radiusKm !== user.radiusKm) {
          // The snapshot below reaches this server's devices; the user's devices elsewhere learn it from the bus.
          users.changeRadius(user, frame.radiusKm);
        }
        if (frame.sharing !== undefined) await users.setSharing(user, frame.sharing);
        // Before the location: a user who opts in here is published with the position below.
        if (strangers !== undefined) await strangers.init(connection, user, frame);
        // The device says where it is now: its sample order starts afresh (a clock set back shows at once).
        if (frame.location !== undefined) users.applyOwnSample(user, connection, frame.location, true);
      });
      if (connection.released) return; // closed meanwhile
      connection.phase = 'ready';
      // Every device of the user gets the snapshot: a radius or sharing change from this init changed their list too.
      channels.sendSnapshot(user);
      if (frame.discoverable !== undefined || frame.seeStrangers !== undefined) {
        if (strangers === undefined) refuseDiscovery(connection, frame, 'init');
        connection.queue.control(encodeDiscoveryState(user.discoverable, user.seeStrangers), 'discovery_state');
      }
    } catch (error: unknown) {
      if (connection.released) return;
      this.#ctx.report('init failed', error);
      connection.sendError(ErrorCode.INTERNAL, 'could not load the friend list; try again');
      connection.close(CloseCode.INTERNAL_ERROR, 'init failed');
      return;
    }
    for (const next of connection.deferred.splice(0)) {
      if (connection.phase !== 'ready') break;
      this.#dispatch(connection, next);
    }
  }

  #location(connection: EngineConnection, user: LocalUser, frame: LocationFrame): void {
    const { counters, history } = this.#ctx;
    if (!connection.locationBudget.take()) {
      connection.sendError(ErrorCode.RATE_LIMITED, 'location frame refused: too many location frames; resend later', {
        seq: frame.seq,
        frameType: 'location',
      });
      return;
    }
    counters.locationFrames++;
    counters.samplesIn += frame.samples.length;
    const receivedAt = this.#ctx.now();
    const handledAt = this.#timing === undefined ? Number.NaN : performance.now();
    let newest: LocationSample = frame.samples[0]!;
    const records: HistorySample[] = [];
    for (const sample of frame.samples) {
      if (sample.timestamp > newest.timestamp) newest = sample;
      const record: HistorySample = { userId: user.id, lat: sample.lat, lon: sample.lon, recordedAt: sample.timestamp, receivedAt };
      if (sample.accuracy !== undefined) record.accuracy = sample.accuracy;
      records.push(record);
    }
    // The ack waits for the store; the live path below does not wait for it.
    history.write(records).then(
      () => {
        counters.samplesAcked += records.length;
        connection.queue.control(encodeAck(frame.seq, records.length), 'ack');
      },
      (error: unknown) => {
        counters.historyFailures++;
        const message = error instanceof NearbyError ? error.message : 'history store is unavailable';
        connection.sendError(ErrorCode.HISTORY_UNAVAILABLE, message, { seq: frame.seq, frameType: 'location' });
      },
    );
    if (this.#draining) {
      // Parked location frames in a row: every sample is stored and acked, but only the newest
      // becomes the live position (latest wins, before any fan-out is spent on the others).
      const pending = this.#pendingLive;
      if (pending !== undefined && pending.connection === connection) {
        counters.liveSamplesCoalesced++;
        if (pending.sample.timestamp > newest.timestamp) return;
      } else {
        this.#applyPendingLive();
      }
      this.#pendingLive = { connection, user, sample: newest, handledAt };
      return;
    }
    // In order behind every change of the user still in progress: a position sent after
    // "sharing off" is never shared, whatever that change is still waiting for.
    user.order(
      () => this.#applyOwnSample(user, connection, newest, handledAt),
      (error) => this.#ctx.report('location update failed', error),
    );
  }
}

/** The queues' timing from the engine's telemetry, when it has one with `fanout` or `init`. */
function queueTiming(ctx: EngineContext): QueueTiming | undefined {
  const telemetry = ctx.options.telemetry;
  if (telemetry === undefined || (telemetry.fanout === undefined && telemetry.init === undefined)) return undefined;
  return {
    stamp: ctx.fanoutStamp,
    fanout: (seconds) => telemetry.fanout?.(seconds),
    snapshot: (seconds) => telemetry.init?.(seconds),
  };
}
