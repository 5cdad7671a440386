import { CloseCode, ErrorCode, LeaveReason, Limits, NearbyError } from '@nearby/protocol';
import { checkOptionKeys, optionKeys } from '@nearby/protocol';
import type { HistoryStore, LocationCache, PresenceRegistry, PubSubTransport, SettingsStore } from '../adapters/types.js';
import { MemoryHistoryStore } from '../adapters/memory/history-store.js';
import { MemoryLocationCache } from '../adapters/memory/location-cache.js';
import { MemoryPresenceRegistry } from '../adapters/memory/presence-registry.js';
import { MemoryPubSub } from '../adapters/memory/pubsub.js';
import { MemorySettingsStore } from '../adapters/memory/settings-store.js';
import { AdapterMonitor } from './adapter-health.js';
import { BusRouter } from './bus-router.js';
import { Channels } from './channels.js';
import type { ServerSocket } from './connection.js';
import { copyCounters, zeroCounters, type CoreCounters, type EngineConnection, type EngineContext } from './context.js';
import { resolveEngineOptions, type NearbyEngineOptions, type ResolvedEngineOptions } from './engine-options.js';
import { encodeReconnect } from './frames.js';
import { Friendships } from './friendships.js';
import { HistoryWriter } from './history-writer.js';
import { EngineLog } from './logging.js';
import { Recovery } from './recovery.js';
import { RetryQueue } from './retry-queue.js';
import { Sessions } from './sessions.js';
import { Strangers, type StrangerStats } from './strangers.js';
import type { AdapterHealth, AdapterName, TelemetrySource } from './telemetry.js';
import { Users } from './users.js';
import { VersionClock } from './version-clock.js';

/** Pause between attempts of a write that must not be lost (settings, withdrawals, sign-off checks). */
const RETRY_INTERVAL_MS = 2_000;
/** Time a closing socket gets to finish its close handshake before it is cut. */
const CLOSE_GRACE_MS = 3_000;

/** Lifecycle of a {@link NearbyEngine}. */
export type NearbyEngineState = 'idle' | 'running' | 'draining' | 'closed';

/** Counters and gauges of a running engine. */
export interface NearbyEngineStats extends CoreCounters, StrangerStats {
  connections: number;
  users: number;
  /** Pub/Sub channels this process is subscribed to (one per followed user, however many followers). */
  channels: number;
  historyBatches: number;
  historyPending: number;
  /** The Pub/Sub transport's own counters, when it keeps any. */
  pubsub: Readonly<Record<string, number>> | undefined;
}

const NO_STRANGERS: StrangerStats = { strangerCells: 0, strangersKnown: 0, strangerViewers: 0, strangersShown: 0, strangersPublished: 0 };

export interface DrainOptions {
  /** Window over which clients are moved off, in waves. Default: the engine's `drainWindowMs`. */
  windowMs?: number;
  /** Number of waves. Default: 10 (fewer with fewer clients). */
  waves?: number;
}

const DRAIN_OPTION_KEYS = optionKeys<DrainOptions>()(['windowMs', 'waves']);

/** What the transport feeds the engine for one accepted socket. */
export interface EngineSession {
  /** One inbound WebSocket message: its text, or `undefined` for a binary message. Never throws. */
  receive(data: string | undefined): void;
  /** The socket closed with `code` (as received from the client, or 1006). Call once. */
  closed(code: number): void;
}

/**
 * The Nearby protocol engine of one process, apart from any transport: it takes authenticated
 * sockets (a user id and a socket-like object), and runs the sessions, the fan-out, the bus,
 * the inactivity sweep and draining. `createNearbyServer` wires it to Node's `ws` and `http`.
 */
export interface NearbyEngine {
  readonly state: NearbyEngineState;
  /** This process's identity on the Pub/Sub bus. */
  readonly serverId: string;
  /** Whether new sockets are welcome (running, not draining or closed). */
  readonly accepting: boolean;
  /** Connects the adapters (failing with their error), then starts the sweep and the bus probe. */
  start(): Promise<void>;
  /** Registers a socket authenticated as `userId`; feed its messages and its close to the returned session. */
  accept(socket: ServerSocket, userId: string): EngineSession;
  friendAdded(a: string, b: string): Promise<void>;
  friendRemoved(a: string, b: string): Promise<void>;
  /** Stops accepting and moves connected clients off in waves (`reconnect` frame, close 1012); resolves when none is left. */
  drain(options?: DrainOptions): Promise<void>;
  /** Closes every connection (1001), waits for pending work, and closes the adapters the engine created. */
  close(): Promise<void>;
  stats(): NearbyEngineStats;
  /** Each adapter's health as its last calls (and, for `pubsub`, the bus probe) showed it. */
  adapterHealth(): Partial<Record<AdapterName, AdapterHealth>>;
  /** The engine's structured log, for the transport in front of it (`server_listening`, `auth_refused`). */
  readonly log: EngineLog;
}

/**
 * Creates a protocol engine. In-memory adapters are used for whatever is omitted; with a
 * `pubsub`, `settings` and `presence` must be given (a store, or `false`).
 */
export function createNearbyEngine(options: NearbyEngineOptions): NearbyEngine {
  return new Engine(resolveEngineOptions(options), options);
}

class Engine implements NearbyEngine {
  readonly #options: ResolvedEngineOptions;
  readonly #ctx: EngineContext;
  readonly #sessions: Sessions;
  readonly #channels: Channels;
  readonly #bus: BusRouter;
  readonly #recovery: Recovery;
  readonly #friendships: Friendships;
  readonly #retries: RetryQueue;
  readonly #writer: HistoryWriter;
  readonly #adapters: Adapter[];
  readonly #log: EngineLog;
  readonly #monitor: AdapterMonitor;
  readonly #owned: Adapter[] = [];
  readonly #timers = new Set<unknown>();
  #state: NearbyEngineState = 'idle';
  #drainPromise: Promise<void> | undefined;

  constructor(resolved: ResolvedEngineOptions, raw: NearbyEngineOptions) {
    const { timers } = resolved;
    this.#log = new EngineLog(resolved.logger, timers);
    const monitor = new AdapterMonitor(timers, this.#log, resolved.telemetry);
    this.#monitor = monitor;
    // Every call the roles make to the host's friend graph goes through the monitor too.
    const options: ResolvedEngineOptions = { ...resolved, friends: monitor.friends(resolved.friends) };
    this.#options = options;
    const cache = raw.cache ?? this.#own(new MemoryLocationCache({ now: () => timers.now() }));
    const pubsub = raw.pubsub ?? this.#own(new MemoryPubSub());
    const history = raw.history ?? this.#own(new MemoryHistoryStore());
    // Omitted only without a pubsub (resolveEngineOptions refuses it otherwise): one process.
    const settings = raw.settings === false ? undefined : (raw.settings ?? this.#own(new MemorySettingsStore()));
    const presence = raw.presence === false ? undefined : (raw.presence ?? this.#own(new MemoryPresenceRegistry()));
    // Connected and closed as given; called by the roles through the monitor's wrappers.
    this.#adapters = [cache, pubsub, history, settings, presence].filter((adapter) => adapter !== undefined);
    this.#writer = new HistoryWriter(monitor.history(history), { ...options.historyWriter, timers });
    const counters = zeroCounters();
    this.#retries = new RetryQueue({
      timers,
      intervalMs: RETRY_INTERVAL_MS,
      onFailure: () => {
        counters.writeRetries++;
      },
    });
    // The roles reach each other through the context; they are assigned right below.
    const ctx = {
      options,
      cache: monitor.cache(cache),
      pubsub: monitor.pubsub(pubsub),
      settings: settings === undefined ? undefined : monitor.settings(settings),
      presence: presence === undefined ? undefined : monitor.presence(presence),
      history: this.#writer,
      log: this.#log,
      counters,
      fanoutStamp: { at: Number.NaN },
      clock: new VersionClock(() => timers.now()),
      retries: this.#retries,
      now: () => timers.now(),
      report: (context: string, error: unknown) => this.#report(context, error),
      later: (ms: number, callback: () => void) => this.#later(ms, callback),
    } as Partial<{ -readonly [K in keyof EngineContext]: EngineContext[K] }> as { -readonly [K in keyof EngineContext]: EngineContext[K] };
    this.#ctx = ctx;
    this.#channels = new Channels(ctx);
    ctx.channels = this.#channels;
    this.#bus = new BusRouter(ctx);
    ctx.bus = this.#bus;
    ctx.users = new Users(ctx);
    this.#friendships = new Friendships(ctx);
    ctx.friendships = this.#friendships;
    ctx.strangers = options.strangers === undefined ? undefined : new Strangers(ctx, options.strangers);
    this.#sessions = new Sessions(ctx);
    this.#recovery = new Recovery(ctx);
    options.telemetry?.bind?.(this.#telemetrySource());
  }

  /** What a telemetry exporter reads at scrape time. */
  #telemetrySource(): TelemetrySource {
    return {
      stats: () => this.stats(),
      adapterHealth: () => this.adapterHealth(),
    };
  }

  get log(): EngineLog {
    return this.#log;
  }

  adapterHealth(): Partial<Record<AdapterName, AdapterHealth>> {
    return this.#monitor.health();
  }

  get state(): NearbyEngineState {
    return this.#state;
  }

  get serverId(): string {
    return this.#options.serverId;
  }

  get accepting(): boolean {
    return this.#state === 'running';
  }

  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new NearbyError(ErrorCode.INVALID_ARGUMENT, `start() called on a ${this.#state} engine`);
    // Backends first: a process that cannot reach its Redis or database should not accept users.
    const connected = await Promise.allSettled([...new Set(this.#adapters)].map((adapter) => adapter.connect?.()));
    const failed = connected.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    this.#state = 'running';
    this.#scheduleSweep();
    const probe = this.#bus.probeChannel;
    if (probe !== undefined) this.#channels.subscribeRaw(probe);
    let downAt = 0;
    this.#bus.start({
      onDown: () => {
        downAt = this.#options.timers.now();
        this.#monitor.busDown(true);
        this.#log.busDown();
        this.#recovery.onDown();
      },
      onUp: () => {
        this.#monitor.busDown(false);
        this.#log.busUp(this.#options.timers.now() - downAt);
        this.#recovery.onUp();
        this.#ctx.strangers?.busUp();
      },
    });
  }

  accept(socket: ServerSocket, userId: string): EngineSession {
    const connection = this.#sessions.accept(socket, userId);
    this.#log.connectionAccepted(connection.id, userId);
    return {
      receive: (data) => this.#sessions.receive(connection, data),
      closed: (code) => {
        const byServer = connection.closeCode !== undefined;
        this.#log.connectionClosed(connection.id, userId, connection.closeCode ?? code, connection.closeReason, byServer);
        this.#sessions.release(connection, code);
      },
    };
  }

  async friendAdded(a: string, b: string): Promise<void> {
    checkPair('friendAdded', a, b);
    await Promise.all([this.#friendships.change('fa', a, b), this.#friendships.change('fa', b, a)]);
  }

  async friendRemoved(a: string, b: string): Promise<void> {
    checkPair('friendRemoved', a, b);
    await Promise.all([this.#friendships.change('fr', a, b), this.#friendships.change('fr', b, a)]);
  }

  drain(options: DrainOptions = {}): Promise<void> {
    try {
      checkOptionKeys(options, DRAIN_OPTION_KEYS);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#state === 'closed') return Promise.resolve();
    this.#drainPromise ??= this.#drain(options);
    return this.#drainPromise;
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    for (const connection of this.#sessions.values()) connection.close(CloseCode.GOING_AWAY, 'server closing');
    await this.#untilNoConnection(CLOSE_GRACE_MS);
    await this.#ctx.users.settle();
    await this.#ctx.channels.settled();
    this.#bus.stop();
    this.#recovery.stop();
    this.#retries.stop();
    for (const handle of this.#timers) this.#options.timers.clearTimeout(handle);
    this.#timers.clear();
    await this.#writer.flush();
    const results = await Promise.allSettled(this.#owned.map((adapter) => adapter.close?.()));
    for (const result of results) {
      if (result.status !== 'rejected') continue;
      this.#options.onError(result.reason);
      this.#log.internalError('adapter close failed', result.reason);
    }
    this.#log.stop();
  }

  stats(): NearbyEngineStats {
    return {
      ...copyCounters(this.#ctx.counters),
      connections: this.#sessions.size,
      users: this.#ctx.users.size,
      channels: this.#ctx.channels.size,
      historyBatches: this.#writer.batches,
      historyPending: this.#writer.pending,
      pubsub: this.#ctx.pubsub.stats,
      ...(this.#ctx.strangers?.stats() ?? NO_STRANGERS),
    };
  }

  async #drain(options: DrainOptions): Promise<void> {
    if (this.#state === 'running' || this.#state === 'idle') this.#state = 'draining';
    const windowMs = options.windowMs ?? this.#options.drainWindowMs;
    const connections = [...this.#sessions.values()];
    const waves = Math.max(1, Math.min(options.waves ?? 10, connections.length));
    const startedAt = this.#options.timers.now();
    this.#log.drainStarted(connections.length, windowMs, waves);
    const perWave = Math.ceil(connections.length / waves);
    const spacing = waves > 1 ? windowMs / waves : 0;
    for (let wave = 0; wave < waves; wave++) {
      // Not `#later`: a drain cut short by close() still finishes its waves (on closed connections).
      if (wave > 0 && spacing > 0) await new Promise<void>((resolve) => this.#options.timers.setTimeout(resolve, spacing));
      for (const connection of connections.slice(wave * perWave, (wave + 1) * perWave)) {
        if (connection.phase === 'closed') continue;
        // Spread this wave's reconnects over the gap before the next wave.
        connection.queue.control(encodeReconnect(Math.floor(this.#options.random() * Math.max(spacing, 1))), 'reconnect');
        connection.close(CloseCode.SERVICE_RESTART, 'draining');
      }
    }
    const cut = await this.#untilNoConnection(CLOSE_GRACE_MS);
    this.#log.drainFinished(connections.length, cut, this.#options.timers.now() - startedAt);
  }

  /** Resolves, to the number of connections cut, when every connection is released, cutting those still open after `graceMs`. */
  async #untilNoConnection(graceMs: number): Promise<number> {
    if (this.#sessions.size === 0) return 0;
    const { timers } = this.#options;
    let timer: unknown;
    let cutCount = 0;
    const cut = new Promise<void>((resolve) => {
      timer = timers.setTimeout(() => {
        const open = [...this.#sessions.values()];
        cutCount = open.length;
        for (const connection of open) connection.socket.terminate();
        resolve();
      }, graceMs);
    });
    await Promise.race([this.#sessions.untilEmpty(), cut]);
    timers.clearTimeout(timer);
    return cutCount;
  }

  /** Expires inactive friends and closes idle connections, every `sweepIntervalMs`. */
  #sweep(): void {
    const { channels } = this.#ctx;
    const now = this.#ctx.now();
    const { inactiveAfterMs, idleTimeoutMs } = this.#options;
    for (const state of channels.states()) {
      if (state.last !== undefined && now - state.last.t >= inactiveAfterMs) channels.withdraw(state, LeaveReason.INACTIVE);
    }
    this.#ctx.strangers?.sweep(now);
    if (idleTimeoutMs > 0) {
      for (const connection of this.#sessions.values()) {
        if (now - connection.lastSeenAt >= idleTimeoutMs) connection.close(CloseCode.IDLE_TIMEOUT, 'idle timeout');
      }
    }
  }

  #scheduleSweep(): void {
    this.#later(this.#options.sweepIntervalMs, () => {
      try {
        this.#sweep();
      } catch (error) {
        this.#options.onError(error);
        this.#log.internalError('inactivity sweep failed', error);
      }
      this.#scheduleSweep();
    });
  }

  #later(ms: number, callback: () => void): void {
    if (this.#state === 'closed') return;
    const handle = this.#options.timers.setTimeout(() => {
      this.#timers.delete(handle);
      if (this.#state !== 'closed') callback();
    }, ms);
    this.#timers.add(handle);
  }

  #own<T extends Adapter>(adapter: T): T {
    this.#owned.push(adapter);
    return adapter;
  }

  /**
   * Hands an error to `onError`, every time, and to the log once: a failure of an adapter call
   * was logged already by the monitor, under its adapter and operation (the `context` names
   * the same operation in words: "location cache write failed" is `cache.set`), and collapsed
   * with the others of its kind; the bus outage is `bus_down`; anything else is `internal_error`.
   */
  #report(context: string, error: unknown): void {
    try {
      this.#options.onError(
        error instanceof NearbyError ? error : new NearbyError(ErrorCode.INTERNAL, `${context}: ${describe(error)}`, { cause: error }),
      );
    } catch {
      // An onError that throws must not take the server down.
    }
    if (context === 'pubsub' && error instanceof NearbyError && error.code === ErrorCode.ADAPTER_UNAVAILABLE) return;
    if (this.#monitor.seen(error)) return;
    this.#log.internalError(context, error);
  }
}

/** Anything the engine connects at start and, when it created it, closes. */
type Adapter = LocationCache | PubSubTransport | HistoryStore | SettingsStore | PresenceRegistry;

/** Both ids valid and different; otherwise `invalid_argument`. */
function checkPair(method: string, a: string, b: string): void {
  for (const id of [a, b]) {
    if (typeof id !== 'string' || id.length === 0 || id.length > Limits.MAX_USER_ID_LENGTH) {
      throw new NearbyError(ErrorCode.INVALID_ARGUMENT, `${method}: user ids must be non-empty strings, got ${String(id)}`);
    }
  }
  if (a === b) throw new NearbyError(ErrorCode.INVALID_ARGUMENT, `${method}: a user cannot be their own friend (${a})`);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export type { EngineConnection };
