import type {
  CacheEntry,
  FriendGraph,
  HistoryQuery,
  HistorySample,
  HistoryStore,
  LocationCache,
  PresenceRegistry,
  PubSubMessageHandler,
  PubSubTransport,
  SettingsStore,
  UserSettings,
} from '../adapters/types.js';
import type { Timers } from '../timers.js';
import type { EngineLog } from './logging.js';
import type { AdapterHealth, AdapterName, NearbyTelemetry } from './telemetry.js';

/** What is known of one adapter. */
interface AdapterState {
  readonly name: AdapterName;
  /** The last call failed. */
  failed: boolean;
  /** Only `pubsub`: the bus probe says the bus is down. */
  busDown: boolean;
  reason: string | undefined;
  /** Server time (ms) of the last change between up and down. */
  since: number;
  /** Failed calls since the adapter went down. */
  failures: number;
}

type AdapterCall = NonNullable<NearbyTelemetry['adapterCall']>;

/**
 * Watches every call the engine makes to its adapters. The adapters are wrapped once, at engine
 * construction, by plain forwarding objects: each async call is timed with `performance.now()`,
 * reported to `telemetry.adapterCall`, and its outcome decides the adapter's health — down
 * after a failed call (the reason is the error's message), up again after its next successful
 * call. `pubsub` is also down while the bus probe says so.
 */
export class AdapterMonitor {
  readonly #timers: Timers;
  readonly #log: EngineLog;
  readonly #observe: AdapterCall | undefined;
  readonly #states = new Map<AdapterName, AdapterState>();
  /** Errors already counted here, so the engine's report of the same error does not count it again. */
  readonly #seen = new WeakSet<object>();

  constructor(timers: Timers, log: EngineLog, telemetry: NearbyTelemetry | undefined) {
    this.#timers = timers;
    this.#log = log;
    const adapterCall = telemetry?.adapterCall;
    this.#observe = adapterCall === undefined ? undefined : adapterCall.bind(telemetry);
  }

  /** Each watched adapter's health. */
  health(): Partial<Record<AdapterName, AdapterHealth>> {
    const health: Partial<Record<AdapterName, AdapterHealth>> = {};
    for (const state of this.#states.values()) {
      const up = !state.failed && !state.busDown;
      health[state.name] = up ? { up, since: state.since } : { up, reason: state.reason ?? 'down', since: state.since };
    }
    return health;
  }

  /** Whether `error` came out of a watched adapter call (and so was logged already). */
  seen(error: unknown): boolean {
    return typeof error === 'object' && error !== null && this.#seen.has(error);
  }

  /** The bus probe says the bus is down (`true`) or carries probes again (`false`). */
  busDown(down: boolean): void {
    const state = this.#states.get('pubsub');
    if (state === undefined || state.busDown === down) return;
    const wasUp = !state.failed && !state.busDown;
    state.busDown = down;
    if (down) {
      if (wasUp) {
        state.since = this.#timers.now();
        state.reason = 'probes stopped coming back';
      }
    } else if (!state.failed) {
      state.since = this.#timers.now();
      state.reason = undefined;
    }
  }

  cache(cache: LocationCache): LocationCache {
    const s = this.#state('cache');
    return {
      set: (userId: string, entry: CacheEntry, ttlMs: number) => this.#call(s, 'set', () => cache.set(userId, entry, ttlMs)),
      getMany: (userIds: readonly string[]) => this.#call(s, 'getMany', () => cache.getMany(userIds)),
    };
  }

  pubsub(pubsub: PubSubTransport): PubSubTransport {
    const s = this.#state('pubsub');
    return {
      publish: (channel: string, message: string) => this.#call(s, 'publish', () => pubsub.publish(channel, message)),
      subscribe: (channels: readonly string[]) => this.#call(s, 'subscribe', () => pubsub.subscribe(channels)),
      unsubscribe: (channels: readonly string[]) => this.#call(s, 'unsubscribe', () => pubsub.unsubscribe(channels)),
      onMessage: (handler: PubSubMessageHandler) => pubsub.onMessage(handler),
      get stats() {
        return pubsub.stats;
      },
    };
  }

  history(history: HistoryStore): HistoryStore {
    const s = this.#state('history');
    return {
      append: (samples: readonly HistorySample[]) => this.#call(s, 'append', () => history.append(samples)),
      query: (query: HistoryQuery) => history.query(query),
      prune: (before: number) => this.#call(s, 'prune', () => history.prune(before)),
    };
  }

  settings(settings: SettingsStore): SettingsStore {
    const s = this.#state('settings');
    return {
      get: (userId: string) => this.#call(s, 'get', () => settings.get(userId)),
      set: (userId: string, value: UserSettings) => this.#call(s, 'set', () => settings.set(userId, value)),
    };
  }

  presence(presence: PresenceRegistry): PresenceRegistry {
    const s = this.#state('presence');
    const wrapped: PresenceRegistry = {
      add: (userId: string, serverId: string) => this.#call(s, 'add', () => presence.add(userId, serverId)),
      remove: (userId: string, serverId: string) => this.#call(s, 'remove', () => presence.remove(userId, serverId)),
    };
    return Object.defineProperty(wrapped, 'expiryMs', { get: () => presence.expiryMs, enumerable: true });
  }

  friends(friends: FriendGraph): FriendGraph {
    const s = this.#state('friends');
    return { getFriends: (userId: string) => this.#call(s, 'getFriends', () => friends.getFriends(userId)) };
  }

  #state(name: AdapterName): AdapterState {
    const state: AdapterState = { name, failed: false, busDown: false, reason: undefined, since: this.#timers.now(), failures: 0 };
    this.#states.set(name, state);
    return state;
  }

  #call<T>(state: AdapterState, operation: string, run: () => Promise<T>): Promise<T> {
    const start = performance.now();
    let pending: Promise<T>;
    try {
      pending = run();
    } catch (error) {
      pending = Promise.reject(error);
    }
    return pending.then(
      (value) => {
        this.#observe?.(state.name, operation, (performance.now() - start) / 1000, true);
        if (state.failed) this.#recovered(state);
        return value;
      },
      (error: unknown) => {
        this.#observe?.(state.name, operation, (performance.now() - start) / 1000, false);
        this.#failed(state, operation, error);
        throw error;
      },
    );
  }

  #failed(state: AdapterState, operation: string, error: unknown): void {
    if (typeof error === 'object' && error !== null) this.#seen.add(error);
    if (!state.failed) {
      if (!state.busDown) state.since = this.#timers.now();
      state.failed = true;
      state.failures = 0;
    }
    state.failures++;
    state.reason = error instanceof Error ? error.message : String(error);
    this.#log.adapterFailed(state.name, operation, error);
  }

  #recovered(state: AdapterState): void {
    const now = this.#timers.now();
    const downMs = now - state.since;
    state.failed = false;
    if (!state.busDown) {
      state.since = now;
      state.reason = undefined;
    } else {
      state.reason = 'probes stopped coming back';
    }
    this.#log.adapterRecovered(state.name, downMs, state.failures);
  }
}
