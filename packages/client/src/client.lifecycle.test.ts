import { CloseCode, ErrorCode } from '@nearby/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NearbyClient } from './client.js';
import { fromAppState, fromNetInfo, type AppStateLike, type NetInfoLike } from './lifecycle.js';
import type { NearbyClientOptions } from './options.js';
import { createHarness } from './test-utils/harness.js';
import { ManualTimers } from './test-utils/manual-timers.js';

/** A boolean the test flips, with the subscribe half of a source. */
function flag(initial: boolean) {
  let value = initial;
  const listeners = new Set<(value: boolean) => void>();
  return {
    get: () => value,
    set(next: boolean) {
      value = next;
      for (const listener of [...listeners]) listener(next);
    },
    subscribe(listener: (value: boolean) => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get listeners() {
      return listeners.size;
    },
  };
}

const HOME = { lat: 37.5665, lon: 126.978 };
const FAR = { lat: 37.6665, lon: 126.978 }; // 11 km north: a significant move

function setup(options: Partial<NearbyClientOptions> = {}, { foreground = true, online = true } = {}) {
  const timers = new ManualTimers();
  const app = flag(foreground);
  const net = flag(online);
  const h = createHarness({
    timers,
    appState: { isForeground: app.get, subscribe: app.subscribe },
    network: { isOnline: net.get, subscribe: net.subscribe },
    heartbeat: { intervalMs: 25_000, timeoutMs: 10_000 },
    ...options,
  });
  return { ...h, timers, app, net };
}

function connected(options: Partial<NearbyClientOptions> = {}) {
  const s = setup(options);
  s.client.connect();
  const socket = s.server.accept();
  return { ...s, socket };
}

describe('app in the background', () => {
  it('flushes buffered samples at once', () => {
    const { client, socket, app } = connected();
    client.updateLocation(HOME); // the first fix of a connection goes out at once
    client.updateLocation({ ...HOME, timestamp: Date.now() + 1 }); // waits for the 30 s batch
    expect(socket.framesOf('location')).toHaveLength(1);
    app.set(false);
    expect(socket.framesOf('location')).toHaveLength(2);
  });

  it('keeps the socket for backgroundTimeoutMs, then closes with 4100 and does not reconnect until the foreground', () => {
    const { client, socket, app, timers, server, states, errorCodes } = connected({ backgroundTimeoutMs: 30_000 });
    app.set(false);
    timers.advance(29_999);
    expect(socket.closedByClient).toBeUndefined();
    timers.advance(1);
    expect(socket.closedByClient).toEqual({ code: CloseCode.CLIENT_RECONNECTING, reason: 'app in background' });
    expect(client.getSnapshot().state).toBe('reconnecting');
    expect(errorCodes()).toEqual([]); // parking is not a failure

    // Fixes taken in the background are buffered; nothing reconnects, however long it takes.
    client.updateLocation(HOME);
    client.updateLocation(FAR);
    timers.advance(3_600_000);
    expect(server.sockets).toHaveLength(1);
    expect(client.getSnapshot().pendingSamples).toBe(2);
    expect(timers.pending).toBe(0);

    // Back in the foreground: a new socket at once (no backoff), a fresh init and snapshot,
    // then the buffered fixes.
    app.set(true);
    expect(server.sockets).toHaveLength(2);
    const second = server.accept();
    expect(second.framesOf('init')[0]).toMatchObject({ location: FAR });
    expect(second.framesOf('location').flatMap((frame) => frame.samples)).toHaveLength(2);
    expect(states()).toEqual(['connecting', 'connected', 'reconnecting', 'connecting', 'connected']);
  });

  it('returning before the timeout keeps the socket and checks it with a ping at once', () => {
    const { socket, app, timers, server } = connected();
    timers.advance(5_000);
    app.set(false);
    timers.advance(20_000);
    const pings = socket.framesOf('ping').length;
    app.set(true);
    expect(socket.framesOf('ping')).toHaveLength(pings + 1);
    expect(socket.closedByClient).toBeUndefined();
    timers.advance(3_600_000); // the timeout was cancelled
    expect(socket.closedByClient).toBeUndefined();
    expect(server.sockets).toHaveLength(1);
  });

  it('a ping probe that gets no answer is a heartbeat timeout', () => {
    const { client, socket, app, server, timers, errorCodes } = connected();
    server.autoPong = false;
    app.set(false);
    timers.advance(1_000);
    app.set(true);
    timers.advance(10_000);
    expect(errorCodes()).toEqual([ErrorCode.HEARTBEAT_TIMEOUT]);
    expect(socket.closedByClient?.code).toBe(CloseCode.CLIENT_RECONNECTING);
    expect(client.getSnapshot().state).toBe('reconnecting');
  });

  it('a connection lost in the background after the timeout is not retried; before it, it is', () => {
    const { client, socket, app, timers, server } = connected();
    app.set(false);
    socket.fail();
    expect(client.getSnapshot().state).toBe('reconnecting');
    timers.advance(1_000); // backoff 250 ms with random 0.5: retried
    expect(server.sockets).toHaveLength(2);
    server.latest.fail();
    timers.advance(30_000); // parked at 30 s; the retry timer never opens
    const count = server.sockets.length;
    timers.advance(3_600_000);
    expect(server.sockets).toHaveLength(count);
    app.set(true);
    expect(server.sockets).toHaveLength(count + 1);
    expect(client.getSnapshot().state).toBe('connecting');
  });

  it('with backgroundTimeoutMs: Infinity stays connected in the background', () => {
    const { socket, app, timers } = connected({ backgroundTimeoutMs: Number.POSITIVE_INFINITY });
    app.set(false);
    timers.advance(3_600_000);
    expect(socket.closedByClient).toBeUndefined();
    expect(socket.framesOf('ping').length).toBeGreaterThan(100); // heartbeats go on
  });

  it('connecting while already in the background parks after the timeout too', () => {
    const s = setup({}, { foreground: false });
    s.client.connect();
    const socket = s.server.accept();
    s.timers.advance(30_000);
    expect(socket.closedByClient?.code).toBe(CloseCode.CLIENT_RECONNECTING);
  });
});

describe('network offline', () => {
  it('stops reconnect attempts without growing the backoff, and reconnects at once when back online', () => {
    const { client, socket, net, timers, server, errorCodes } = connected();
    net.set(false);
    expect(socket.closedByClient).toBeUndefined(); // a socket may survive a network switch
    socket.fail();
    expect(errorCodes()).toEqual([ErrorCode.OFFLINE]);
    expect(client.getSnapshot()).toMatchObject({ state: 'reconnecting', lastError: { code: ErrorCode.OFFLINE } });
    timers.advance(3_600_000);
    expect(server.sockets).toHaveLength(1);
    expect(timers.pending).toBe(0);

    net.set(true);
    expect(server.sockets).toHaveLength(2);
    // The backoff starts over: the next failure waits at most initialDelayMs (× random 0.5).
    server.latest.fail();
    expect(errorCodes()).toEqual([ErrorCode.OFFLINE, ErrorCode.CONNECTION_FAILED]);
    timers.advance(249);
    expect(server.sockets).toHaveLength(2);
    timers.advance(1);
    expect(server.sockets).toHaveLength(3);
  });

  it('a pending backoff timer does not open a socket while offline', () => {
    const { socket, net, timers, server } = connected();
    socket.fail(); // retry in 250 ms
    net.set(false);
    timers.advance(60_000);
    expect(server.sockets).toHaveLength(1);
    net.set(true);
    expect(server.sockets).toHaveLength(2);
  });

  it('back online while connected probes the socket with a ping', () => {
    const { socket, net } = connected();
    net.set(false);
    net.set(true);
    expect(socket.framesOf('ping')).toHaveLength(1);
  });

  it('connect() while offline still tries (the call is explicit); its failure then waits for the network', () => {
    const s = setup({}, { online: false });
    s.client.connect();
    expect(s.server.sockets).toHaveLength(1);
    s.server.latest.fail();
    expect(s.errorCodes()).toEqual([ErrorCode.OFFLINE]);
    s.timers.advance(600_000);
    expect(s.server.sockets).toHaveLength(1);
  });
});

describe('source subscriptions', () => {
  it('are taken on connect() and released when the client closes', () => {
    const { client, app, net } = setup();
    expect(app.listeners + net.listeners).toBe(0);
    client.connect();
    expect([app.listeners, net.listeners]).toEqual([1, 1]);
    client.connect(); // no-op: still one each
    expect([app.listeners, net.listeners]).toEqual([1, 1]);
    client.close();
    expect(app.listeners + net.listeners).toBe(0);
    client.connect();
    expect([app.listeners, net.listeners]).toEqual([1, 1]);
  });

  it('are released when the server refuses the client for good', () => {
    const { client, app, server } = setup();
    client.connect();
    server.latest.open().serverClose(CloseCode.UNAUTHORIZED, 'unauthorized');
    expect(client.getSnapshot().state).toBe('closed');
    expect(app.listeners).toBe(0);
  });

  it('changes while idle or closed do nothing', () => {
    const { client, app, server } = setup();
    app.set(false);
    app.set(true);
    expect(server.sockets).toHaveLength(0);
    expect(client.getSnapshot().state).toBe('idle');
  });

  it('false disables a source; invalid ones are refused at construction', () => {
    expect(() => createHarness({ appState: false, network: false })).not.toThrow();
    for (const [option, value] of [
      ['appState', {}],
      ['appState', { isForeground: () => true }],
      ['network', { isOnline: true, subscribe: () => () => {} }],
      ['network', 'online'],
      ['backgroundTimeoutMs', -1],
      ['backgroundTimeoutMs', Number.NaN],
    ] as const) {
      expect(() => createHarness({ [option]: value } as Partial<NearbyClientOptions>)).toThrowError(
        expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT, message: expect.stringContaining(`options.${option}`) }),
      );
    }
  });
});

describe('fromAppState', () => {
  function fakeAppState(currentState: string) {
    const listeners = new Set<(state: string) => void>();
    const appState = {
      currentState,
      addEventListener: (_type: 'change', listener: (state: string) => void) => {
        listeners.add(listener);
        return { remove: () => listeners.delete(listener) };
      },
      emit(state: string) {
        appState.currentState = state;
        for (const listener of listeners) listener(state);
      },
      listeners,
    };
    return appState;
  }

  it('maps background to false, active, inactive and unknown to true, and unsubscribes', () => {
    const appState = fakeAppState('unknown');
    const source = fromAppState(appState);
    expect(source.isForeground()).toBe(true);
    const seen: boolean[] = [];
    const unsubscribe = source.subscribe((foreground) => seen.push(foreground));
    for (const state of ['active', 'inactive', 'background', 'active']) appState.emit(state);
    expect(seen).toEqual([true, true, false, true]);
    appState.emit('background');
    expect(source.isForeground()).toBe(false);
    unsubscribe();
    expect(appState.listeners.size).toBe(0);
  });

  it('drives the client: background for the timeout parks it, active resumes it', () => {
    const appState = fakeAppState('active');
    const timers = new ManualTimers();
    const h = createHarness({ timers, appState: fromAppState(appState) });
    h.client.connect();
    h.server.accept();
    appState.emit('background');
    timers.advance(30_000);
    expect(h.client.getSnapshot().state).toBe('reconnecting');
    appState.emit('active');
    expect(h.server.sockets).toHaveLength(2);
  });

  it('refuses anything else', () => {
    expect(() => fromAppState(undefined as unknown as AppStateLike)).toThrowError(/AppState/);
    expect(() => fromAppState({} as AppStateLike)).toThrowError(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
  });
});

describe('fromNetInfo', () => {
  it('is online until told otherwise, offline only on isConnected: false', () => {
    let listener: ((state: { isConnected: boolean | null }) => void) | undefined;
    const unsubscribe = vi.fn();
    const netInfo: NetInfoLike = {
      addEventListener: (l) => {
        listener = l;
        return unsubscribe;
      },
    };
    const source = fromNetInfo(netInfo);
    expect(source.isOnline()).toBe(true);
    const seen: boolean[] = [];
    const stop = source.subscribe((online) => seen.push(online));
    listener!({ isConnected: false });
    expect(source.isOnline()).toBe(false);
    listener!({ isConnected: null }); // unknown yet: not known to be offline
    listener!({ isConnected: true });
    expect(seen).toEqual([false, true, true]);
    stop();
    expect(unsubscribe).toHaveBeenCalledOnce();
  });

  it('refuses anything else', () => {
    expect(() => fromNetInfo({} as NetInfoLike)).toThrowError(/netinfo/);
  });
});

describe('browser defaults', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('follow document visibility and navigator.onLine with the online / offline events', () => {
    const doc = Object.assign(new EventTarget(), { visibilityState: 'visible' });
    const win = new EventTarget();
    const nav = { onLine: true };
    vi.stubGlobal('document', doc);
    vi.stubGlobal('window', win);
    vi.stubGlobal('navigator', nav);
    const timers = new ManualTimers();
    const h = createHarness({ timers });
    h.client.connect();
    h.server.accept();

    doc.visibilityState = 'hidden';
    doc.dispatchEvent(new Event('visibilitychange'));
    timers.advance(30_000);
    expect(h.client.getSnapshot().state).toBe('reconnecting');
    doc.visibilityState = 'visible';
    doc.dispatchEvent(new Event('visibilitychange'));
    expect(h.server.sockets).toHaveLength(2);

    nav.onLine = false;
    win.dispatchEvent(new Event('offline'));
    h.server.latest.fail();
    expect(h.errorCodes()).toEqual([ErrorCode.OFFLINE]);
    timers.advance(60_000);
    expect(h.server.sockets).toHaveLength(2);
    nav.onLine = true;
    win.dispatchEvent(new Event('online'));
    expect(h.server.sockets).toHaveLength(3);

    h.client.close();
    nav.onLine = false;
    win.dispatchEvent(new Event('offline'));
    nav.onLine = true;
    win.dispatchEvent(new Event('online')); // unsubscribed: nothing opens
    expect(h.server.sockets).toHaveLength(3);
  });

  it('are absent outside a browser (Node here, React Native: no document, no window.addEventListener)', () => {
    vi.stubGlobal('navigator', { product: 'ReactNative' });
    vi.stubGlobal('window', {});
    const timers = new ManualTimers();
    const h = createHarness({ timers });
    h.client.connect();
    h.server.accept();
    timers.advance(3_600_000);
    expect(h.client.getSnapshot().state).toBe('connected');
  });
});

it('NearbyClient constructs with a React Native-shaped environment', () => {
  expect(() => new NearbyClient({ url: 'ws://h/p', WebSocket: createHarness().server.WebSocket })).not.toThrow();
});
