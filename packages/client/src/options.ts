import { ErrorCode, Limits, NearbyError } from '@nearby/protocol';
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

/** Options after validation and defaulting. */
export interface ResolvedOptions {
  url: string;
  token: string | undefined;
  getToken: (() => string | Promise<string>) | undefined;
  tokenParam: string;
  radiusKm: number | undefined;
  sharing: boolean;
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

function invalid(option: string, requirement: string, value: unknown): NearbyError {
  let shown: string;
  try {
    shown = typeof value === 'function' ? 'a function' : JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  return new NearbyError(ErrorCode.INVALID_ARGUMENT, `options.${option} must be ${requirement} (got ${shown})`);
}

/** Numeric option check; `max` defaults to the longest delay timers support. */
function checkNumber(
  option: string,
  value: unknown,
  { min, minExclusive = false, integer = false, max = MAX_TIMER_DELAY_MS, allowInfinity = false }: {
    min: number;
    minExclusive?: boolean;
    integer?: boolean;
    max?: number;
    allowInfinity?: boolean;
  },
): number {
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    (Number.isFinite(value) || (allowInfinity && value === Number.POSITIVE_INFINITY)) &&
    (minExclusive ? value > min : value >= min) &&
    (value <= max || (allowInfinity && value === Number.POSITIVE_INFINITY)) &&
    (!integer || Number.isInteger(value));
  if (!ok) {
    const range = `${minExclusive ? '>' : '≥'} ${min}${Number.isFinite(max) ? ` and ≤ ${max}` : ''}`;
    throw invalid(option, `${integer ? 'an integer' : 'a number'} ${range}${allowInfinity ? ' (or Infinity)' : ''}`, value);
  }
  return value;
}

function checkFunction<F>(option: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalid(option, 'a function', value);
  return value as F;
}

/** An `appState` / `network` option: a source with `method` and `subscribe`, `false`, or the platform default. */
function checkSource<S>(option: string, value: unknown, method: string, platform: () => S | undefined): S | undefined {
  if (value === false) return undefined;
  if (value === undefined) return platform();
  const source = value as Record<string, unknown>;
  if (typeof source !== 'object' || source === null || typeof source[method] !== 'function' || typeof source.subscribe !== 'function') {
    throw invalid(option, `false or an object with ${method}() and subscribe()`, value);
  }
  return value as S;
}

/** Validates a radius argument: finite, > 0 and ≤ {@link Limits.MAX_RADIUS_KM}. */
export function checkRadius(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > Limits.MAX_RADIUS_KM) {
    throw new NearbyError(
      ErrorCode.INVALID_ARGUMENT,
      `${name} must be a finite number > 0 and ≤ ${Limits.MAX_RADIUS_KM} km (got ${String(value)})`,
    );
  }
  return value;
}

const WS_URL = /^wss?:\/\/[^\s/?#]+[^\s#]*$/i;

/**
 * Validates `options` and fills in defaults. Throws a {@link NearbyError} with code
 * `invalid_argument` naming the first bad option: misconfiguration should fail at construction,
 * not as a reconnect loop later.
 */
export function resolveOptions(options: NearbyClientOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new NearbyError(ErrorCode.INVALID_ARGUMENT, 'options must be an object with at least a url');
  }
  const { url } = options;
  if (typeof url !== 'string' || !WS_URL.test(url)) {
    throw invalid('url', 'a ws:// or wss:// URL without a fragment', url);
  }
  if (options.token !== undefined && typeof options.token !== 'string') {
    throw invalid('token', 'a string', options.token);
  }
  const getToken = checkFunction<() => string | Promise<string>>('getToken', options.getToken);
  if (options.token !== undefined && getToken !== undefined) {
    throw new NearbyError(ErrorCode.INVALID_ARGUMENT, 'options.token and options.getToken are mutually exclusive');
  }
  const tokenParam = options.tokenParam ?? 'access_token';
  if (typeof tokenParam !== 'string' || tokenParam.length === 0) {
    throw invalid('tokenParam', 'a non-empty string', tokenParam);
  }
  const radiusKm = options.radiusKm === undefined ? undefined : checkRadius('options.radiusKm', options.radiusKm);
  const sharing = options.sharing ?? true;
  if (typeof sharing !== 'boolean') throw invalid('sharing', 'a boolean', sharing);

  const flushIntervalMs = checkNumber('flushIntervalMs', options.flushIntervalMs ?? 30_000, { min: 0 });
  const significantMoveMeters = checkNumber('significantMoveMeters', options.significantMoveMeters ?? 500, {
    min: 0,
    max: Number.POSITIVE_INFINITY,
    allowInfinity: true,
  });
  const maxBufferedSamples = checkNumber('maxBufferedSamples', options.maxBufferedSamples ?? 1000, {
    min: 1,
    integer: true,
    max: Number.MAX_SAFE_INTEGER,
  });

  let reconnect: ReconnectOptions | false = false;
  if (options.reconnect !== false) {
    const given = options.reconnect ?? {};
    if (typeof given !== 'object' || given === null) throw invalid('reconnect', 'an object or false', given);
    const initialDelayMs = checkNumber('reconnect.initialDelayMs', given.initialDelayMs ?? 500, { min: 0 });
    const maxDelayMs = checkNumber('reconnect.maxDelayMs', given.maxDelayMs ?? 30_000, { min: 0 });
    if (maxDelayMs < initialDelayMs) {
      throw invalid('reconnect.maxDelayMs', `≥ reconnect.initialDelayMs (${initialDelayMs})`, maxDelayMs);
    }
    const multiplier = checkNumber('reconnect.multiplier', given.multiplier ?? 2, { min: 1, max: 1000 });
    reconnect = { initialDelayMs, maxDelayMs, multiplier };
  }

  let heartbeat: HeartbeatOptions | false = false;
  if (options.heartbeat !== false) {
    const given = options.heartbeat ?? {};
    if (typeof given !== 'object' || given === null) throw invalid('heartbeat', 'an object or false', given);
    heartbeat = {
      intervalMs: checkNumber('heartbeat.intervalMs', given.intervalMs ?? 25_000, { min: 0, minExclusive: true }),
      timeoutMs: checkNumber('heartbeat.timeoutMs', given.timeoutMs ?? 10_000, { min: 0, minExclusive: true }),
    };
  }

  const connectTimeoutMs = checkNumber('connectTimeoutMs', options.connectTimeoutMs ?? 10_000, {
    min: 0,
    minExclusive: true,
  });
  const ackTimeoutMs = checkNumber('ackTimeoutMs', options.ackTimeoutMs ?? 60_000, { min: 0, minExclusive: true });
  const inactiveAfterMs = checkNumber('inactiveAfterMs', options.inactiveAfterMs ?? 600_000, {
    min: 0,
    minExclusive: true,
  });

  const given = checkFunction<WebSocketConstructor>('WebSocket', options.WebSocket);
  const WebSocket = given === undefined ? platformWebSocket : () => given;
  // Fail at construction, not as a reconnect loop; `ws`'s loader throws its own clear error.
  if (WebSocket() === undefined) {
    throw new NearbyError(ErrorCode.INVALID_ARGUMENT, 'this runtime has no global WebSocket: pass options.WebSocket');
  }
  const appState = checkSource<AppStateSource>('appState', options.appState, 'isForeground', browserAppState);
  const network = checkSource<NetworkSource>('network', options.network, 'isOnline', browserNetwork);
  const backgroundTimeoutMs = checkNumber('backgroundTimeoutMs', options.backgroundTimeoutMs ?? 30_000, {
    min: 0,
    allowInfinity: true,
  });
  const { storage, storageKey = '@nearby/client:outbox' } = options;
  if (storage !== undefined && (typeof storage?.getItem !== 'function' || typeof storage.setItem !== 'function')) {
    throw invalid('storage', 'an object with getItem and setItem (AsyncStorage-like)', storage);
  }
  if (typeof storageKey !== 'string' || storageKey.length === 0) {
    throw invalid('storageKey', 'a non-empty string', storageKey);
  }
  if (options.timers !== undefined) {
    if (typeof options.timers !== 'object' || options.timers === null) {
      throw invalid('timers', 'an object', options.timers);
    }
    for (const name of ['setTimeout', 'clearTimeout', 'now'] as const) {
      checkFunction(`timers.${name}`, options.timers[name]);
    }
  }
  const random = checkFunction<() => number>('random', options.random) ?? defaultRandom;
  const onListenerError = checkFunction<ListenerErrorHandler>('onListenerError', options.onListenerError) ?? rethrowAsync;

  return {
    url,
    token: options.token,
    getToken,
    tokenParam,
    radiusKm,
    sharing,
    flushIntervalMs,
    significantMoveMeters,
    maxBufferedSamples,
    reconnect,
    heartbeat,
    connectTimeoutMs,
    ackTimeoutMs,
    inactiveAfterMs,
    WebSocket,
    appState,
    network,
    backgroundTimeoutMs,
    storage,
    storageKey,
    timers: resolveTimers(options.timers),
    random,
    onListenerError,
  };
}
