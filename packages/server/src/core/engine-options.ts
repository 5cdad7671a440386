import { randomBytes } from 'node:crypto';
import { ErrorCode, Limits, NearbyError, checkOptionKeys, optionKeys } from '@nearby/protocol';
import type { FriendGraph, HistoryStore, LocationCache, PresenceRegistry, PubSubTransport, SettingsStore } from '../adapters/types.js';
import type { TokenBucketOptions } from './token-bucket.js';
import { globalTimers, type Timers } from '../timers.js';
import { consoleLogger } from './logging.js';
import type { NearbyLogger, NearbyTelemetry } from './telemetry.js';

/** Options of the protocol engine: everything a Nearby server needs except how sockets reach it. */
export interface NearbyEngineOptions {
  friends: FriendGraph;
  /** Location cache; a `MemoryLocationCache` (from `@nearby/server`) when omitted. */
  cache?: LocationCache;
  /**
   * Pub/Sub transport; a `MemoryPubSub` (from `@nearby/server`) when omitted. Given one, the server is taken to
   * share it with other processes, and `settings` and `presence` must be given too.
   */
  pubsub?: PubSubTransport;
  /**
   * Account settings store, shared by the processes on one `pubsub`. Default without `pubsub`:
   * a `MemorySettingsStore` (from `@nearby/server`). Required with `pubsub`: a store, or `false` to keep settings
   * only while the user stays connected to a process.
   */
  settings?: SettingsStore | false;
  /**
   * Presence registry, shared by the processes on one `pubsub`, deciding whether a sign-off is
   * announced. Default without `pubsub`: a `MemoryPresenceRegistry` (from `@nearby/server`). Required with
   * `pubsub`: a registry, or `false` to announce every sign-off, even while the user is
   * connected to another process.
   */
  presence?: PresenceRegistry | false;
  /** History store; a `MemoryHistoryStore` (from `@nearby/server`) when omitted. */
  history?: HistoryStore;
  /** Default radius in km for users who did not choose one. Default 8. */
  radiusKm?: number;
  /** Largest radius a user may choose, in km. Default 50. */
  maxRadiusKm?: number;
  /** A friend without a location update for this long disappears (and the cache TTL). Default 600 000 (10 min). */
  inactiveAfterMs?: number;
  /** Most friends loaded per user; the rest of the list is ignored. Default 5000. */
  maxFriends?: number;
  /**
   * When only the viewer moved, a friend already in the viewer's list is sent again once its
   * distance changed by at least this many km. A friend's own new position is always sent.
   * Default 0.1 (100 m); 0 sends on every move.
   */
  distanceRefreshKm?: number;
  /**
   * Inbound frames handled per event-loop turn as they arrive; beyond that they are parked and
   * handled in slices of this size after the turn's I/O, so flushes and timers keep running
   * under overload. Default 64.
   */
  inboundSliceFrames?: number;
  /** Per-connection token buckets. */
  rateLimit?: {
    /** Every inbound frame. Default capacity 40, 20 per second. */
    frames?: Partial<TokenBucketOptions>;
    /** `location` frames. Default capacity 20, one every 2 s. */
    locations?: Partial<TokenBucketOptions>;
    /** Frames dropped in a row after which the connection is closed with 4029. Default 100. */
    maxConsecutiveDrops?: number;
  };
  /** A connection that sends nothing (not even a ping) for this long is closed with 4008. 0 disables. Default 75 000. */
  idleTimeoutMs?: number;
  /** How often inactivity and idleness are checked. Default 5 000. */
  sweepIntervalMs?: number;
  /** Default window over which `drain()` moves clients off. Default 30 000. */
  drainWindowMs?: number;
  /** History batching: most samples per store call, backlog bound and store timeout. */
  historyWriter?: { maxBatchSamples?: number; maxPendingSamples?: number; timeoutMs?: number };
  /** Prefix of per-user Pub/Sub channel names. Default `nearby:u:`. */
  channelPrefix?: string;
  /**
   * How often the server publishes a probe on its own channel (`<probeChannelPrefix><serverId>`)
   * to learn whether Pub/Sub works. After probes stop coming back and then return, the server
   * publishes again the changes it announced meanwhile and re-reads what its users see
   * (friend lists, settings, cached positions), so changes made during an outage are not lost.
   * 0 turns probing, and with it that repair, off. Default 1 000.
   */
  busProbeIntervalMs?: number;
  /** Prefix of the probe channel. Default `nearby:probe:`. */
  probeChannelPrefix?: string;
  /** Identity of this server process on the bus. Default: random. */
  serverId?: string;
  /**
   * Receives every error that does not belong to one connection (adapter failures), each time it
   * happens. Default: none; the default logger prints them, collapsed (see `logger`).
   */
  onError?: (error: unknown) => void;
  /**
   * Structured log of lifecycle events (docs/server.md, "Logging"); a pino logger fits as it is.
   * `false` logs nothing. Default: one line per warning or error on the console, repeated
   * adapter failures collapsed, unless `onError` is given, in which case nothing is logged and
   * errors reach only `onError`.
   */
  logger?: NearbyLogger | false;
  /** Clock and timers; defaults use the globals at call time. */
  timers?: Timers;
  /** Uniform random numbers in [0, 1) (drain delays, the default server id). Default: `Math.random`, looked up at call time. */
  random?: () => number;
  /**
   * Observer of latencies and reader of the counters at scrape time: `createPrometheusMetrics()`
   * from `@nearby/server/metrics`, or any {@link NearbyTelemetry}. Default: none (nothing is timed).
   */
  telemetry?: NearbyTelemetry;
  /**
   * Nearby people ("strangers", protocol.md §20): users who opted in may see, and be seen by,
   * nearby users who are not their friends, by cell and under a pseudonym. Off when absent.
   */
  strangers?: StrangersOptions;
}

/** What `strangers.identify` may reveal about a stranger to one viewer. */
export interface StrangerIdentity {
  /** A real id to show instead of the pseudonym (1 … 64 characters). */
  id?: string;
  /** Any JSON value (a name, an avatar URL, …), at most 1 KiB as JSON text. */
  display?: unknown;
}

/** The `strangers` option: nearby people who opted in (protocol.md §20). */
export interface StrangersOptions {
  /** Default true once `strangers` is given. */
  enabled?: boolean;
  /** Geohash length of the channel cells, an integer 4–7. Default 5 (about 4.9 × 4.9 km at the equator). */
  precision?: number;
  /** Geohash length of the cell a stranger is shown at, an integer 3–7. Default 6 (about 1.2 × 0.6 km at the equator). */
  displayPrecision?: number;
  /** Most strangers in one viewer's list, 1 … 100. Default 20. */
  maxPerViewer?: number;
  /** A stranger already in a viewer's list is sent again at most this often, in ms. Default 5 000. */
  refreshMs?: number;
  /** A discoverable user's moves within one display cell are published at most this often, in ms. Default 5 000. */
  publishIntervalMs?: number;
  /** How long an answer of `canSee` (and of `identify`) is kept per (viewer, stranger), in ms. Default 60 000. */
  canSeeCacheMs?: number;
  /**
   * Key of the pseudonymous ids (at least 16 characters). Required with a shared `pubsub`: every
   * process must derive the same ids. Default without `pubsub`: random per process.
   */
  secret?: string;
  /** Whether `userId` may turn `discoverable` on (`'discoverable'`) or `seeStrangers` on (`'see'`). Default: allowed. */
  allow?: (userId: string, what: 'discoverable' | 'see') => boolean | Promise<boolean>;
  /** Whether `viewerId` may see `strangerId` (blocks, age rules); decided before anything is sent. Default: yes. */
  canSee?: (viewerId: string, strangerId: string) => boolean | Promise<boolean>;
  /** A real id and/or a display value to show `viewerId` for `strangerId`. Default: the pseudonym alone. */
  identify?: (viewerId: string, strangerId: string) => StrangerIdentity | undefined | Promise<StrangerIdentity | undefined>;
  /** Prefix of the cell channels. Default `nearby:g:`. */
  channelPrefix?: string;
}

export const STRANGERS_OPTION_KEYS = optionKeys<StrangersOptions>()([
  'enabled',
  'precision',
  'displayPrecision',
  'maxPerViewer',
  'refreshMs',
  'publishIntervalMs',
  'canSeeCacheMs',
  'secret',
  'allow',
  'canSee',
  'identify',
  'channelPrefix',
]);

/** `strangers` after defaults; absent when nearby people are off. */
export interface ResolvedStrangersOptions {
  precision: number;
  displayPrecision: number;
  maxPerViewer: number;
  refreshMs: number;
  publishIntervalMs: number;
  canSeeCacheMs: number;
  secret: string;
  allow: StrangersOptions['allow'];
  canSee: StrangersOptions['canSee'];
  identify: StrangersOptions['identify'];
  channelPrefix: string;
}

/**
 * Every key of {@link NearbyEngineOptions}; any other is refused. Objects the host supplies
 * (adapters, `friends`, `timers`, `logger`, `telemetry`) are not looked into.
 */
export const ENGINE_OPTION_KEYS = optionKeys<NearbyEngineOptions>()([
  'friends',
  'cache',
  'pubsub',
  'settings',
  'presence',
  'history',
  'radiusKm',
  'maxRadiusKm',
  'inactiveAfterMs',
  'maxFriends',
  'distanceRefreshKm',
  'inboundSliceFrames',
  'rateLimit',
  'idleTimeoutMs',
  'sweepIntervalMs',
  'drainWindowMs',
  'historyWriter',
  'channelPrefix',
  'busProbeIntervalMs',
  'probeChannelPrefix',
  'serverId',
  'onError',
  'timers',
  'random',
  'logger',
  'telemetry',
  'strangers',
]);

type RateLimitOptions = NonNullable<NearbyEngineOptions['rateLimit']>;
const RATE_LIMIT_KEYS = optionKeys<RateLimitOptions>()(['frames', 'locations', 'maxConsecutiveDrops']);
const BUCKET_KEYS = optionKeys<TokenBucketOptions>()(['capacity', 'refillPerSecond']);
const HISTORY_WRITER_KEYS = optionKeys<NonNullable<NearbyEngineOptions['historyWriter']>>()([
  'maxBatchSamples',
  'maxPendingSamples',
  'timeoutMs',
]);

/** Engine options after defaults, as the engine uses them. */
export interface ResolvedEngineOptions {
  friends: FriendGraph;
  radiusKm: number;
  maxRadiusKm: number;
  inactiveAfterMs: number;
  maxFriends: number;
  distanceRefreshKm: number;
  inboundSliceFrames: number;
  frameLimit: TokenBucketOptions;
  locationLimit: TokenBucketOptions;
  maxConsecutiveDrops: number;
  idleTimeoutMs: number;
  sweepIntervalMs: number;
  drainWindowMs: number;
  historyWriter: { maxBatchSamples?: number; maxPendingSamples?: number; timeoutMs?: number };
  channelPrefix: string;
  busProbeIntervalMs: number;
  probeChannelPrefix: string;
  serverId: string;
  onError: (error: unknown) => void;
  /** The logger records go to; undefined: none. */
  logger: NearbyLogger | undefined;
  timers: Timers;
  random: () => number;
  telemetry: NearbyTelemetry | undefined;
  strangers: ResolvedStrangersOptions | undefined;
}

export function invalidOption(message: string): NearbyError {
  return new NearbyError(ErrorCode.INVALID_ARGUMENT, message);
}

/** A finite number ≥ 0 (> 0 unless `allowZero`), or the fallback when absent. */
export function positiveOption(name: string, value: number | undefined, fallback: number, { allowZero = false } = {}): number {
  const resolved = value ?? fallback;
  if (typeof resolved !== 'number' || !Number.isFinite(resolved) || resolved < 0 || (!allowZero && resolved === 0)) {
    throw invalidOption(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} finite number, got ${String(value)}`);
  }
  return resolved;
}

function bucket(name: string, value: Partial<TokenBucketOptions> | undefined, fallback: TokenBucketOptions): TokenBucketOptions {
  if (value === undefined) return fallback;
  if (typeof value !== 'object' || value === null) throw invalidOption(`${name} must be { capacity, refillPerSecond }`);
  checkOptionKeys(value, BUCKET_KEYS, `${name}.`);
  // A field left out takes its default; a field given must be valid.
  const capacity = positiveOption(`${name}.capacity`, value.capacity, fallback.capacity);
  const refillPerSecond = positiveOption(`${name}.refillPerSecond`, value.refillPerSecond, fallback.refillPerSecond);
  if (capacity < 1) throw invalidOption(`${name}.capacity must be at least 1, got ${capacity}`);
  return { capacity, refillPerSecond };
}

/** `Math.random`, looked up at call time so a test may replace it. */
const globalRandom = (): number => Math.random();

function randomServerId(random: () => number, now: number): string {
  return `srv-${random().toString(36).slice(2, 10)}${now.toString(36)}`;
}

/**
 * Settings and presence must be a visible choice once processes share a bus: in-memory
 * defaults there would quietly keep settings per process and announce sign-offs of users still
 * connected elsewhere.
 */
function checkSharedState(options: NearbyEngineOptions): void {
  const { settings, presence } = options;
  if (settings !== undefined && settings !== false && (typeof settings?.get !== 'function' || typeof settings.set !== 'function')) {
    throw invalidOption('settings must be a SettingsStore with get(userId) and set(userId, settings), or false');
  }
  if (presence !== undefined && presence !== false && (typeof presence?.add !== 'function' || typeof presence.remove !== 'function')) {
    throw invalidOption('presence must be a PresenceRegistry with add(userId, serverId) and remove(userId, serverId), or false');
  }
  if (options.pubsub === undefined) return;
  const missing = [settings === undefined ? 'settings' : undefined, presence === undefined ? 'presence' : undefined].filter(
    (name) => name !== undefined,
  );
  if (missing.length === 0) return;
  throw invalidOption(
    `pubsub is shared between processes: give settings and presence stores (createRedisAdapters() returns both), ` +
      `or false to keep them per process (missing: ${missing.join(', ')})`,
  );
}

/** A nested options object (`rateLimit`, `historyWriter`): absent, or an object of known keys. */
function nestedOptions<T extends object>(name: string, value: T | undefined, keys: readonly string[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) throw invalidOption(`${name} must be an object, got ${String(value)}`);
  checkOptionKeys(value, keys, `${name}.`);
  return value;
}

/**
 * Applies defaults and rejects impossible configurations with a message naming the option.
 * `knownKeys`: the top-level keys accepted (those of a wider options type that embeds these).
 */
export function resolveEngineOptions(
  options: NearbyEngineOptions,
  knownKeys: readonly string[] = ENGINE_OPTION_KEYS,
): ResolvedEngineOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('options are required');
  checkOptionKeys(options, knownKeys);
  const rateLimit = nestedOptions('rateLimit', options.rateLimit, RATE_LIMIT_KEYS);
  const historyWriter = nestedOptions('historyWriter', options.historyWriter, HISTORY_WRITER_KEYS);
  if (typeof options.friends?.getFriends !== 'function') throw invalidOption('friends must be a FriendGraph with getFriends(userId)');
  checkSharedState(options);
  const maxRadiusKm = positiveOption('maxRadiusKm', options.maxRadiusKm, 50);
  if (maxRadiusKm > Limits.MAX_RADIUS_KM) throw invalidOption(`maxRadiusKm must be at most ${Limits.MAX_RADIUS_KM}`);
  const radiusKm = positiveOption('radiusKm', options.radiusKm, 8);
  if (radiusKm > maxRadiusKm) throw invalidOption(`radiusKm (${radiusKm}) must not exceed maxRadiusKm (${maxRadiusKm})`);
  const maxFriends = positiveOption('maxFriends', options.maxFriends, 5000);
  if (!Number.isInteger(maxFriends)) throw invalidOption('maxFriends must be an integer');
  const inboundSliceFrames = positiveOption('inboundSliceFrames', options.inboundSliceFrames, 64);
  if (!Number.isInteger(inboundSliceFrames)) throw invalidOption('inboundSliceFrames must be an integer');
  const timers = options.timers ?? globalTimers;
  const random = options.random ?? globalRandom;
  return {
    friends: options.friends,
    radiusKm,
    maxRadiusKm,
    inactiveAfterMs: positiveOption('inactiveAfterMs', options.inactiveAfterMs, 600_000),
    maxFriends,
    distanceRefreshKm: positiveOption('distanceRefreshKm', options.distanceRefreshKm, 0.1, { allowZero: true }),
    inboundSliceFrames,
    frameLimit: bucket('rateLimit.frames', rateLimit?.frames, { capacity: 40, refillPerSecond: 20 }),
    locationLimit: bucket('rateLimit.locations', rateLimit?.locations, { capacity: 20, refillPerSecond: 0.5 }),
    maxConsecutiveDrops: positiveOption('rateLimit.maxConsecutiveDrops', rateLimit?.maxConsecutiveDrops, 100),
    idleTimeoutMs: positiveOption('idleTimeoutMs', options.idleTimeoutMs, 75_000, { allowZero: true }),
    sweepIntervalMs: positiveOption('sweepIntervalMs', options.sweepIntervalMs, 5_000),
    drainWindowMs: positiveOption('drainWindowMs', options.drainWindowMs, 30_000, { allowZero: true }),
    historyWriter: historyWriter ?? {},
    channelPrefix: options.channelPrefix ?? 'nearby:u:',
    busProbeIntervalMs: positiveOption('busProbeIntervalMs', options.busProbeIntervalMs, 1_000, { allowZero: true }),
    probeChannelPrefix: options.probeChannelPrefix ?? 'nearby:probe:',
    serverId: options.serverId ?? randomServerId(random, timers.now()),
    onError: options.onError ?? (() => {}),
    logger: resolveLogger(options),
    timers,
    random,
    telemetry: telemetryOption(options.telemetry),
    strangers: strangersOption(options),
  };
}

/** An integer in [min, max], or the fallback when absent. */
function integerOption(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const resolved = value ?? fallback;
  if (typeof resolved !== 'number' || !Number.isInteger(resolved) || resolved < min || resolved > max) {
    throw invalidOption(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return resolved;
}

function atLeast(name: string, value: number, min: number): number {
  if (value < min) throw invalidOption(`${name} must be at least ${min}, got ${value}`);
  return value;
}

function hookOption<T>(name: string, value: T | undefined): T | undefined {
  if (value !== undefined && typeof value !== 'function') throw invalidOption(`${name} must be a function, got ${typeof value}`);
  return value;
}

function strangersOption(options: NearbyEngineOptions): ResolvedStrangersOptions | undefined {
  const value = nestedOptions('strangers', options.strangers, STRANGERS_OPTION_KEYS);
  if (value === undefined) return undefined;
  if (value.enabled !== undefined && typeof value.enabled !== 'boolean') {
    throw invalidOption(`strangers.enabled must be a boolean, got ${String(value.enabled)}`);
  }
  if (value.enabled === false) return undefined;
  const { secret } = value;
  if (secret !== undefined && (typeof secret !== 'string' || secret.length < 16)) {
    throw invalidOption('strangers.secret must be a string of at least 16 characters');
  }
  if (secret === undefined && options.pubsub !== undefined) {
    throw invalidOption(
      'strangers.secret is required when pubsub is shared between processes: every process must derive the same stranger ids',
    );
  }
  const channelPrefix = value.channelPrefix ?? 'nearby:g:';
  if (typeof channelPrefix !== 'string' || channelPrefix.length === 0) {
    throw invalidOption('strangers.channelPrefix must be a non-empty string');
  }
  if (channelPrefix === (options.channelPrefix ?? 'nearby:u:') || channelPrefix === (options.probeChannelPrefix ?? 'nearby:probe:')) {
    throw invalidOption('strangers.channelPrefix must differ from channelPrefix and probeChannelPrefix');
  }
  return {
    precision: integerOption('strangers.precision', value.precision, 5, 4, 7),
    displayPrecision: integerOption('strangers.displayPrecision', value.displayPrecision, 6, 3, 7),
    maxPerViewer: integerOption('strangers.maxPerViewer', value.maxPerViewer, 20, 1, Limits.MAX_STRANGERS_PER_FRAME),
    refreshMs: positiveOption('strangers.refreshMs', value.refreshMs, 5_000, { allowZero: true }),
    publishIntervalMs: positiveOption('strangers.publishIntervalMs', value.publishIntervalMs, 5_000, { allowZero: true }),
    canSeeCacheMs: atLeast('strangers.canSeeCacheMs', positiveOption('strangers.canSeeCacheMs', value.canSeeCacheMs, 60_000), 1_000),
    // A process that shares no bus: its pseudonyms agree with nobody's, but must not be guessable.
    secret: secret ?? randomBytes(32).toString('base64url'),
    allow: hookOption('strangers.allow', value.allow),
    canSee: hookOption('strangers.canSee', value.canSee),
    identify: hookOption('strangers.identify', value.identify),
    channelPrefix,
  };
}

const LOG_METHODS = ['debug', 'info', 'warn', 'error'] as const;

/**
 * The logger records go to: the host's, none (`false`), or by default the console at level
 * `warn` — unless the host gave `onError` alone, which then receives the errors by itself (so
 * no error is printed twice).
 */
function resolveLogger(options: NearbyEngineOptions): NearbyLogger | undefined {
  const { logger } = options;
  if (logger === false) return undefined;
  if (logger === undefined) return options.onError === undefined ? consoleLogger('warn') : undefined;
  if (typeof logger !== 'object' || logger === null || LOG_METHODS.some((method) => typeof logger[method] !== 'function')) {
    throw invalidOption('logger must be a logger with debug, info, warn and error methods (a pino logger fits), or false');
  }
  return logger;
}

const TELEMETRY_METHODS = ['bind', 'fanout', 'init', 'adapterCall'] as const;

/** A {@link NearbyTelemetry}: an object whose methods, those it has, are functions. */
function telemetryOption(telemetry: NearbyTelemetry | undefined): NearbyTelemetry | undefined {
  if (telemetry === undefined) return undefined;
  if (typeof telemetry !== 'object' || telemetry === null) {
    throw invalidOption('telemetry must be an object with bind, fanout, init and adapterCall methods (createPrometheusMetrics() returns one)');
  }
  for (const method of TELEMETRY_METHODS) {
    const value = telemetry[method];
    if (value !== undefined && typeof value !== 'function') throw invalidOption(`telemetry.${method} must be a function`);
  }
  return telemetry;
}
