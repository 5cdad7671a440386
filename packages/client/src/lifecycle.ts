import { ErrorCode, NearbyError } from '@nearby/protocol';
import { Timer, type Timers } from './environment.js';
import type { ResolvedOptions } from './options.js';

/** Tells the client whether the app is in the foreground, and when that changes. */
export interface AppStateSource {
  /** True while the app is in the foreground (visible to the user). */
  isForeground(): boolean;
  /** Calls `onChange` when the app moves to or from the foreground; returns the unsubscribe function. */
  subscribe(onChange: (foreground: boolean) => void): () => void;
}

/** Tells the client whether the device has a network, and when that changes. */
export interface NetworkSource {
  /** False only when the device is known to be offline. */
  isOnline(): boolean;
  /** Calls `onChange` when the device goes on- or offline; returns the unsubscribe function. */
  subscribe(onChange: (online: boolean) => void): () => void;
}

/** The part of React Native's `AppState` that {@link fromAppState} uses. */
export interface AppStateLike {
  readonly currentState: string | null | undefined;
  addEventListener(type: 'change', listener: (state: string) => void): { remove(): void };
}

/** The part of `@react-native-community/netinfo`'s default export that {@link fromNetInfo} uses. */
export interface NetInfoLike {
  addEventListener(listener: (state: { isConnected: boolean | null }) => void): () => void;
}

function expect(ok: boolean, what: string): void {
  if (!ok) throw new NearbyError(ErrorCode.INVALID_ARGUMENT, `expected ${what}`);
}

/**
 * An {@link AppStateSource} from React Native's `AppState`: the app is in the foreground unless
 * its state is `background` (iOS's brief `inactive`, during the app switcher or a system
 * sheet, counts as foreground).
 *
 * ```ts
 * import { AppState } from 'react-native';
 * new NearbyClient({ url, getToken, appState: fromAppState(AppState) });
 * ```
 */
export function fromAppState(appState: AppStateLike): AppStateSource {
  expect(typeof appState?.addEventListener === 'function', "React Native's AppState");
  const foreground = (state: string | null | undefined): boolean => state !== 'background';
  return {
    isForeground: () => foreground(appState.currentState),
    subscribe(onChange) {
      const subscription = appState.addEventListener('change', (state) => onChange(foreground(state)));
      return () => subscription.remove();
    },
  };
}

/**
 * A {@link NetworkSource} from `@react-native-community/netinfo`: offline when NetInfo reports
 * `isConnected: false`; online until its first report.
 *
 * ```ts
 * import NetInfo from '@react-native-community/netinfo';
 * new NearbyClient({ url, getToken, network: fromNetInfo(NetInfo) });
 * ```
 */
export function fromNetInfo(netInfo: NetInfoLike): NetworkSource {
  expect(typeof netInfo?.addEventListener === 'function', '@react-native-community/netinfo');
  let online = true;
  return {
    isOnline: () => online,
    subscribe: (onChange) =>
      netInfo.addEventListener((state) => {
        online = state.isConnected !== false;
        onChange(online);
      }),
  };
}

/** A source backed by `target`'s DOM events. */
function domSource(target: EventTarget, events: string[], read: () => boolean) {
  return (onChange: (value: boolean) => void): (() => void) => {
    const listener = (): void => onChange(read());
    for (const event of events) target.addEventListener(event, listener);
    return () => {
      for (const event of events) target.removeEventListener(event, listener);
    };
  };
}

/** In a browser: foreground while the page is visible. `undefined` elsewhere (React Native has no `document`). */
export function browserAppState(): AppStateSource | undefined {
  const doc = (globalThis as { document?: Document }).document;
  if (typeof doc?.addEventListener !== 'function') return undefined;
  const isForeground = (): boolean => doc.visibilityState !== 'hidden';
  return { isForeground, subscribe: domSource(doc, ['visibilitychange'], isForeground) };
}

/** In a browser: `navigator.onLine` and the `online` / `offline` events. `undefined` elsewhere. */
export function browserNetwork(): NetworkSource | undefined {
  const { window: win, navigator: nav } = globalThis as { window?: Window; navigator?: Navigator };
  if (typeof win?.addEventListener !== 'function' || typeof nav?.onLine !== 'boolean') return undefined;
  const isOnline = (): boolean => nav.onLine !== false;
  return { isOnline, subscribe: domSource(win, ['online', 'offline'], isOnline) };
}

/** What the lifecycle drives. */
export interface LifecycleHooks {
  /** The app went to the background: send what is buffered now. */
  flush(): void;
  /** The app stayed in the background for `backgroundTimeoutMs`: close until it returns. */
  park(): void;
  /** The app returned to the foreground or the network came back: reconnect at once. */
  resume(): void;
}

/** The client's view of the app state and network. */
export interface Lifecycle {
  /** True while reconnecting must wait: offline, or parked in the background. */
  held(): boolean;
  /** True when the device is known to be offline. */
  offline(): boolean;
  /** Subscribes to the sources (once) and reads their current values. */
  start(): void;
  /** Unsubscribes and forgets the background state (the client closed). */
  stop(): void;
}

/**
 * Follows the app state and network sources while the client is open (from `connect()` until
 * `closed`): flushes when the app goes to the background, parks the connection after
 * `backgroundTimeoutMs` there, holds reconnects while parked or offline, and resumes at once
 * when either ends. Source callbacks run through `batch` (they are entry points).
 */
export function createLifecycle(
  { appState, network, backgroundTimeoutMs }: Pick<ResolvedOptions, 'appState' | 'network' | 'backgroundTimeoutMs'>,
  timers: Timers,
  batch: (fn: () => void) => void,
  hooks: LifecycleHooks,
): Lifecycle {
  let foreground = true;
  let online = true;
  let parked = false;
  /** Parks the connection once the app stayed in the background for `backgroundTimeoutMs`. */
  const background = new Timer(timers, () => {
    parked = true;
    hooks.park();
  });
  let unsubscribers: (() => void)[] | undefined;

  const setForeground = (next: boolean): void => {
    if (next === foreground) return;
    foreground = next;
    background.stop();
    if (next) {
      parked = false;
      hooks.resume();
      return;
    }
    hooks.flush();
    if (backgroundTimeoutMs !== Number.POSITIVE_INFINITY) background.start(backgroundTimeoutMs);
  };
  const setOnline = (next: boolean): void => {
    if (next === online) return;
    online = next;
    if (next) hooks.resume();
  };

  return {
    held: () => !online || parked,
    offline: () => !online,
    start() {
      if (unsubscribers) return;
      unsubscribers = [
        appState?.subscribe((value) => batch(() => setForeground(value))),
        network?.subscribe((value) => batch(() => setOnline(value))),
      ].filter((unsubscribe) => typeof unsubscribe === 'function');
      online = network?.isOnline() !== false;
      setForeground(appState?.isForeground() !== false);
    },
    stop() {
      for (const unsubscribe of unsubscribers ?? []) unsubscribe();
      unsubscribers = undefined;
      background.stop();
      foreground = true;
      parked = false;
    },
  };
}
