import { ErrorCode, Limits, NearbyError, checkOptionKeys, optionKeys } from '@nearby/protocol';
import type { BackoffOptions } from './backoff.js';
import type { ListenerErrorHandler } from './emitter.js';
import { MAX_TIMER_DELAY_MS, defaultRandom, resolveTimers, rethrowAsync, type Timers } from './environment.js';
import { browserAppState, browserNetwork, type AppStateSource, type NetworkSource } from './lifecycle.js';
import type { SampleStorage } from './persist.js';
import { platformWebSocket, type WebSocketConstructor } from './websocket.js';

/** Reconnect backoff settings; see {@link backoffDelay}. */
export type ReconnectOptions = BackoffOptions;

/** Application-level heartbeat settings (React Native cannot send WebSocket ping frames). */
export interface HeartbeatOptions {
  /** Interval between `ping` frames while connected, in ms. Default 25 000. */
  intervalMs: number;
  /** How long to wait for ANY inbound frame after a ping before presuming the socket dead, in ms. Default 10 000. */
  timeoutMs: number;
}

/** Options of {@link NearbyClient}. Only `url` is required. */
export interface NearbyClientOptions {
  /** Server endpoint, `ws://` or `wss://`. May carry a query string; must not carry a fragment. */
  url: string;
  /** Access token, sent as the `tokenParam` query parameter. Mutually exclusive with `getToken`. */
  token?: string;
  /**
   * Called before every connection attempt for a fresh token (e.g. to refresh an expired one).
   * If it throws or rejects, the attempt counts as failed and the client backs off and retries.
   */
  getToken?: () => string | Promise<string>;
  /** Name of the query parameter carrying the token. Default `access_token`. */
  tokenParam?: string;
  /** Radius in km to request in every `init`; the server default applies when omitted. */
  radiusKm?: number;
  /** Whether to share this user's location. Default `true`. */
  sharing?: boolean;
  /** Whether others may see this user among nearby people (see `setDiscoverable`). Default `false`. */
  discoverable?: boolean;
  /** Whether to see nearby people who chose to be discoverable (see `setSeeingStrangers`). Default `false`. */
  seeStrangers?: boolean;
  /** Period of location batches, in ms. Default 30 000. */
  flushIntervalMs?: number;
  /** Distance from the last sent fix that triggers an early flush, in metres. Default 500; `Infinity` disables. */
  significantMoveMeters?: number;
  /** Capacity of the offline buffer (unsent plus in-flight samples). Default 1000. */
  maxBufferedSamples?: number;
  /** Backoff settings, or `false` to stay `closed` after a lost connection. Defaults 500 / 30 000 / 2. */
  reconnect?: Partial<ReconnectOptions> | false;
  /** Heartbeat settings, or `false` to disable. Defaults 25 000 / 10 000. */
  heartbeat?: Partial<HeartbeatOptions> | false;
  /** Time allowed from starting to open a socket until the first snapshot, in ms. Default 10 000. */
  connectTimeoutMs?: number;
  /**
   * A location batch not acknowledged this long after it was sent is sent again (the server
   * stores samples idempotently, so a late ack costs only a duplicate write). Default 60 000.
   */
  ackTimeoutMs?: number;
  /** Local expiry of friends without updates, in ms, until the server's snapshot says otherwise. Default 600 000. */
  inactiveAfterMs?: number;
  /**
   * WebSocket constructor to use instead of the platform's (`globalThis.WebSocket`, looked up at
   * each attempt; in Node without one, the optional peer `ws`).
   */
  WebSocket?: WebSocketConstructor;
  /**
   * Whether the app is in the foreground. Default in browsers: `document.visibilityState`; none
   * elsewhere (in React Native pass `fromAppState(AppState)`). `false` disables.
   */
  appState?: AppStateSource | false;
  /**
   * Whether the device is online. Default in browsers: `navigator.onLine` and the `online` /
   * `offline` events; none elsewhere (in React Native pass `fromNetInfo(NetInfo)`). `false` disables.
   */
  network?: NetworkSource | false;
  /**
   * How long the socket stays open after the app went to the background, in ms; then it closes
   * with 4100 until the app returns. Default 30 000; `Infinity` keeps it open and reconnecting.
   */
  backgroundTimeoutMs?: number;
  /**
   * Where to keep unacknowledged samples across app restarts (AsyncStorage has this shape).
   * Default: memory only.
   */
  storage?: SampleStorage;
  /** Storage key of the sample buffer. Default `'@nearby/client:outbox'`. */
  storageKey?: string;
  /** Replacement timer and clock functions (for tests or special runtimes); missing ones default to the globals, looked up lazily. */
  timers?: Partial<Timers>;
  /** Uniform random source in [0, 1) for backoff jitter. Default `Math.random`. */
  random?: () => number;
  /**
   * Receives exceptions thrown by event or `subscribe` listeners. The client always catches them
   * so it keeps running; by default it rethrows them from a microtask so they reach the platform's
   * global error handler.
   */
  onListenerError?: ListenerErrorHandler;
}

/**
 * Every key of {@link NearbyClientOptions}; any other is refused. Objects the host supplies
 * (`WebSocket`, `appState`, `network`, `storage`, `timers`) are not looked into.
 */
const CLIENT_OPTION_KEYS = optionKeys<NearbyClientOptions>()([
  'url',
  'token',
  'getToken',
  'tokenParam',
  'radiusKm',
  'sharing',
  'discoverable',
  'seeStrangers',
  'flushIntervalMs',
  'significantMoveMeters',
  'maxBufferedSamples',
  'reconnect',
  'heartbeat',
  'connectTimeoutMs',
  'ackTimeoutMs',
  'inactiveAfterMs',
  'WebSocket',
  'appState',
  'network',
  'backgroundTimeoutMs',
  'storage',
  'storageKey',
  'timers',
  'random',
  'onListenerError',
]);

/** Options after validation and defaulting. */
export interface ResolvedOptions {
  url: string;
  token: string | undefined;
  getToken: (() => string | Promise<string>) | undefined;
  tokenParam: string;
  radiusKm: number | undefined;
  sharing: boolean;
  /** `undefined` when not given: the app did not choose. */
  discoverable: boolean | undefined;
  seeStrangers: boolean | undefined;
  flushIntervalMs: number;
  significantMoveMeters: number;
  maxBufferedSamples: number;
  reconnect: ReconnectOptions | false;
  heartbeat: HeartbeatOptions | false;
  connectTimeoutMs: number;
  ackTimeoutMs: number;
  inactiveAfterMs: number;
  /** The WebSocket constructor for the next attempt. */
  WebSocket: () => WebSocketConstructor | undefined;
  appState: AppStateSource | undefined;
  network: NetworkSource | undefined;
  backgroundTimeoutMs: number;
  storage: SampleStorage | undefined;
  storageKey: string;
  timers: Timers;
  random: () => number;
  onListenerError: ListenerErrorHandler;
}

/** How a rejected value is shown in a message: JSON for strings and objects, so `""` and `{}` stay visible. */
function show(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  try {
    if (typeof value === 'string' || typeof value === 'object') return JSON.stringify(value);
  } catch {
    // A cyclic object: its String() form below.
  }
  return String(value);
}

/**
 * The error for a bad argument or option: `<name> must be <requirement> (got <value>)`. Every
 * validation message has this one shape, naming the option (`options.heartbeat.timeoutMs`) or
 * argument and the value it was given.
 */
export function invalidArgument(name: string, requirement: string, value: unknown): NearbyError {
  return new NearbyError(ErrorCode.INVALID_ARGUMENT, `${name} must be ${requirement} (got ${show(value)})`);
}

/** The values a numeric option accepts. */
interface Range {
  min: number;
  /** `min` itself is refused: an interval or timeout of 0 would fire in a loop. */
  above?: boolean;
  /** Largest value; default: the longest delay timers support. */
  max?: number;
  integer?: boolean;
  /** `Infinity` is accepted too: it switches off what the option limits. */
  infinity?: boolean;
}

/** A delay in ms: ≥ 0. */
const DELAY: Range = { min: 0 };
/** An interval or timeout in ms: > 0. */
const TIMEOUT: Range = { min: 0, above: true };

/** Checks a number against `range`; throws naming `name` and the accepted values. */
function checkNumber(name: string, value: unknown, range: Range): number {
  const { min, above, max = MAX_TIMER_DELAY_MS, integer, infinity } = range;
  if (
    typeof value === 'number' &&
    (value === Infinity
      ? infinity
      : (above ? value > min : value >= min) && value <= max && (!integer || Number.isInteger(value)))
  ) {
    return value;
  }
  const bounds = `${above ? '>' : '≥'} ${min}${max < Infinity ? ` and ≤ ${max}` : ''}`;
  throw invalidArgument(name, `${integer ? 'an integer' : 'a number'} ${bounds}${infinity ? ' (or Infinity)' : ''}`, value);
}

/** Numeric options of one object: their default and the values they accept, checked in this order. */
type NumberTable = Record<string, readonly [fallback: number, range: Range]>;
/** A table of every option of `T` and no other. */
type TableOf<T> = { readonly [K in keyof T]-?: readonly [fallback: number, range: Range] };

const NUMBER_OPTIONS = {
  flushIntervalMs: [30_000, DELAY],
  significantMoveMeters: [500, { min: 0, max: Infinity, infinity: true }],
  maxBufferedSamples: [1000, { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true }],
  connectTimeoutMs: [10_000, TIMEOUT],
  ackTimeoutMs: [60_000, TIMEOUT],
  inactiveAfterMs: [600_000, TIMEOUT],
  backgroundTimeoutMs: [30_000, { min: 0, infinity: true }],
} as const satisfies NumberTable;

const RECONNECT_OPTIONS = {
  initialDelayMs: [500, DELAY],
  maxDelayMs: [30_000, DELAY],
  multiplier: [2, { min: 1, max: 1000 }],
} as const satisfies TableOf<ReconnectOptions>;

const HEARTBEAT_OPTIONS = {
  intervalMs: [25_000, TIMEOUT],
  timeoutMs: [10_000, TIMEOUT],
} as const satisfies TableOf<HeartbeatOptions>;

/** The options of `table` read from `given` (a missing one takes its default), each checked. */
function checkNumbers<T extends NumberTable>(given: object, prefix: string, table: T): { [K in keyof T]: number } {
  const resolved: Record<string, number> = {};
  for (const [name, [fallback, range]] of Object.entries(table)) {
    resolved[name] = checkNumber(prefix + name, (given as Record<string, unknown>)[name] ?? fallback, range);
  }
  return resolved as { [K in keyof T]: number };
}

/** `reconnect` / `heartbeat`: `false`, or an object of numeric options (missing ones take their defaults). */
function checkGroup<T extends NumberTable>(option: string, value: unknown, table: T): { [K in keyof T]: number } | false {
  if (value === false) return false;
  const given = value ?? {};
  if (typeof given !== 'object' || given === null) throw invalidArgument(`options.${option}`, 'an object or false', given);
  checkOptionKeys(given, Object.keys(table), `${option}.`);
  return checkNumbers(given, `options.${option}.`, table);
}

function checkFunction<F>(option: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalidArgument(`options.${option}`, 'a function', value);
  return value as F;
}

function checkNonEmpty(option: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw invalidArgument(`options.${option}`, 'a non-empty string', value);
  return value;
}

/** An `appState` / `network` option: a source with `method` and `subscribe`, `false`, or the platform default. */
function checkSource<S>(option: string, value: unknown, method: string, platform: () => S | undefined): S | undefined {
  if (value === false) return undefined;
  if (value === undefined) return platform();
  const source = value as Record<string, unknown>;
  if (typeof source !== 'object' || source === null || typeof source[method] !== 'function' || typeof source.subscribe !== 'function') {
    throw invalidArgument(`options.${option}`, `false or an object with ${method}() and subscribe()`, value);
  }
  return value as S;
}

const RADIUS: Range = { min: 0, above: true, max: Limits.MAX_RADIUS_KM };

/** Validates a radius argument: > 0 and ≤ {@link Limits.MAX_RADIUS_KM}. */
export function checkRadius(name: string, value: unknown): number {
  return checkNumber(name, value, RADIUS);
}

const WS_URL = /^wss?:\/\/[^\s/?#]+[^\s#]*$/i;

/**
 * Validates `options` and fills in defaults. Throws a {@link NearbyError} with code
 * `invalid_argument` naming the first bad option: misconfiguration should fail at construction,
 * not as a reconnect loop later.
 */
export function resolveOptions(options: NearbyClientOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'an object with at least a url', options);
  }
  checkOptionKeys(options, CLIENT_OPTION_KEYS);
  const { url, token } = options;
  if (typeof url !== 'string' || !WS_URL.test(url)) {
    throw invalidArgument('options.url', 'a ws:// or wss:// URL without a fragment', url);
  }
  if (token !== undefined && typeof token !== 'string') throw invalidArgument('options.token', 'a string', token);
  const getToken = checkFunction<() => string | Promise<string>>('getToken', options.getToken);
  if (token !== undefined && getToken !== undefined) {
    throw new NearbyError(ErrorCode.INVALID_ARGUMENT, 'options.token and options.getToken are mutually exclusive');
  }
  const tokenParam = checkNonEmpty('tokenParam', options.tokenParam ?? 'access_token');
  const radiusKm = options.radiusKm === undefined ? undefined : checkRadius('options.radiusKm', options.radiusKm);
  const { sharing = true, discoverable, seeStrangers } = options;
  for (const [name, value] of Object.entries({ sharing, discoverable, seeStrangers })) {
    if (value !== undefined && typeof value !== 'boolean') throw invalidArgument(`options.${name}`, 'a boolean', value);
  }
  const numbers = checkNumbers(options, 'options.', NUMBER_OPTIONS);

  const reconnect = checkGroup('reconnect', options.reconnect, RECONNECT_OPTIONS);
  if (reconnect && reconnect.maxDelayMs < reconnect.initialDelayMs) {
    throw invalidArgument(
      'options.reconnect.maxDelayMs',
      `≥ reconnect.initialDelayMs (${reconnect.initialDelayMs})`,
      reconnect.maxDelayMs,
    );
  }
  const heartbeat = checkGroup('heartbeat', options.heartbeat, HEARTBEAT_OPTIONS);

  const given = checkFunction<WebSocketConstructor>('WebSocket', options.WebSocket);
  const WebSocket = given === undefined ? platformWebSocket : () => given;
  // Fail at construction, not as a reconnect loop; `ws`'s loader throws its own clear error.
  if (WebSocket() === undefined) {
    throw new NearbyError(ErrorCode.INVALID_ARGUMENT, 'this runtime has no global WebSocket: pass options.WebSocket');
  }
  const appState = checkSource<AppStateSource>('appState', options.appState, 'isForeground', browserAppState);
  const network = checkSource<NetworkSource>('network', options.network, 'isOnline', browserNetwork);
  const { storage, timers } = options;
  if (storage !== undefined && (typeof storage?.getItem !== 'function' || typeof storage.setItem !== 'function')) {
    throw invalidArgument('options.storage', 'an object with getItem and setItem (AsyncStorage-like)', storage);
  }
  const storageKey = checkNonEmpty('storageKey', options.storageKey ?? '@nearby/client:outbox');
  if (timers !== undefined) {
    if (typeof timers !== 'object' || timers === null) throw invalidArgument('options.timers', 'an object', timers);
    for (const name of ['setTimeout', 'clearTimeout', 'now'] as const) checkFunction(`timers.${name}`, timers[name]);
  }

  return {
    ...numbers,
    url,
    token,
    getToken,
    tokenParam,
    radiusKm,
    sharing,
    discoverable,
    seeStrangers,
    reconnect,
    heartbeat,
    WebSocket,
    appState,
    network,
    storage,
    storageKey,
    timers: resolveTimers(timers),
    random: checkFunction<() => number>('random', options.random) ?? defaultRandom,
    onListenerError: checkFunction<ListenerErrorHandler>('onListenerError', options.onListenerError) ?? rethrowAsync,
  };
}
