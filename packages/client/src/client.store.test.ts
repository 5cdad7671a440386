import { ErrorCode, Limits, NearbyError } from '@nearby/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NearbyClient } from './client.js';
import { createHarness } from './test-utils/harness.js';

const T0 = 1_700_000_000_000;

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('getSnapshot / subscribe', () => {
  it('returns the same frozen object until something changes, then notifies subscribers', () => {
    const h = createHarness();
    const first = h.client.getSnapshot();
    expect(Object.isFrozen(first)).toBe(true);
    expect(h.client.getSnapshot()).toBe(first);
    expect(first).toEqual({
      state: 'idle',
      userId: null,
      friends: [],
      radiusKm: null,
      maxRadiusKm: null,
      sharing: true,
      strangers: [],
      discoverable: false,
      seeingStrangers: false,
      inactiveAfterMs: 600_000,
      serverTimeOffsetMs: 0,
      pendingSamples: 0,
      lastError: null,
    });
    const listener = vi.fn();
    const unsubscribe = h.client.subscribe(listener);
    h.client.connect();
    expect(listener).toHaveBeenCalledTimes(1);
    const second = h.client.getSnapshot();
    expect(second).not.toBe(first);
    expect(second.state).toBe('connecting');
    h.server.latest.open(); // init sent: nothing visible changed
    expect(h.client.getSnapshot()).toBe(second);
    h.server.latest.push(h.server.snapshot({ friends: [] }));
    const third = h.client.getSnapshot();
    expect(third).not.toBe(second);
    expect(listener).toHaveBeenCalledTimes(2); // radius, user id and state change together, once
    expect(third.maxRadiusKm).toBe(50);
    h.server.latest.push({ type: 'pong', serverTime: T0 });
    h.server.latest.push(h.server.snapshot({ friends: [] }));
    expect(h.client.getSnapshot()).toBe(third);
    unsubscribe();
    h.client.setRadius(2);
    expect(listener).toHaveBeenCalledTimes(2);
    expect(h.client.getSnapshot().radiusKm).toBe(2);
  });

  it('publishes a snapshot in which only maxRadiusKm changed', () => {
    const h = createHarness();
    h.client.connect();
    const socket = h.server.accept({ maxRadiusKm: 50 });
    const before = h.client.getSnapshot();
    const listener = vi.fn();
    h.client.subscribe(listener);
    socket.push(h.server.snapshot({ maxRadiusKm: 30 }));
    expect(listener).toHaveBeenCalledTimes(1);
    expect(h.client.getSnapshot()).not.toBe(before);
    expect(h.client.getSnapshot()).toEqual({ ...before, maxRadiusKm: 30 });
  });

  it('subscribe and getSnapshot work unbound, as useSyncExternalStore calls them', () => {
    const h = createHarness();
    const { subscribe, getSnapshot } = h.client;
    const listener = vi.fn();
    const unsubscribe = subscribe(listener);
    h.client.connect();
    expect(getSnapshot().state).toBe('connecting');
    expect(listener).toHaveBeenCalledTimes(1);
    unsubscribe();
  });
});

describe('setRadius / setSharing', () => {
  it('sends radius when connected and uses it in every future init', () => {
    const h = createHarness();
    h.client.setRadius(3); // not connected: remembered only
    h.client.connect();
    const socket = h.server.accept({ radiusKm: 3 });
    expect(socket.framesOf('init')[0]?.radiusKm).toBe(3);
    h.client.setRadius(4.5);
    expect(socket.framesOf('radius')).toEqual([{ type: 'radius', radiusKm: 4.5 }]);
    h.client.setRadius(4.5); // unchanged: nothing sent
    expect(socket.framesOf('radius')).toHaveLength(1);
    socket.serverClose(1012);
    vi.advanceTimersByTime(250);
    expect(h.server.latest.open().framesOf('init')[0]?.radiusKm).toBe(4.5);
  });

  it('falls back to the last confirmed radius when the server refuses one', () => {
    const h = createHarness();
    h.client.connect();
    const socket = h.server.accept({ radiusKm: 8 });
    h.client.setRadius(100);
    expect(h.client.getSnapshot().radiusKm).toBe(100);
    socket.push({ type: 'error', code: 'invalid_radius', message: 'max 50', frameType: 'radius' });
    expect(h.client.getSnapshot()).toMatchObject({ radiusKm: 8, lastError: { code: ErrorCode.INVALID_RADIUS } });
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, Limits.MAX_RADIUS_KM + 1, '5' as unknown as number])(
    'setRadius(%s) throws invalid_argument',
    (km) => {
      const h = createHarness();
      expect(() => h.client.setRadius(km)).toThrowError(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    },
  );

  it('sends sharing when connected and uses it in init', () => {
    const h = createHarness();
    h.client.setSharing(false);
    expect(h.client.getSnapshot().sharing).toBe(false);
    h.client.connect();
    const socket = h.server.accept({ sharing: false });
    expect(socket.framesOf('init')[0]?.sharing).toBe(false);
    h.client.setSharing(true);
    expect(socket.framesOf('sharing')).toEqual([{ type: 'sharing', enabled: true }]);
    expect(() => h.client.setSharing('yes' as unknown as boolean)).toThrowError(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
  });
});

describe('listener isolation', () => {
  it('a throwing event or subscribe listener does not break the client', () => {
    const h = createHarness();
    h.client.on('state', () => {
      throw new Error('state listener bug');
    });
    h.client.on('nearby', () => {
      throw new Error('nearby listener bug');
    });
    h.client.subscribe(() => {
      throw new Error('subscriber bug');
    });
    h.client.connect();
    h.server.accept({ friends: [{ userId: 'ann', lat: 1, lon: 2, distanceKm: 1, updatedAt: T0 }] });
    h.client.updateLocation({ lat: 1, lon: 2 });
    expect(h.client.getSnapshot()).toMatchObject({ state: 'connected', friends: [{ userId: 'ann' }] });
    expect(h.server.latest.framesOf('location')).toHaveLength(1);
    expect(h.of('nearby')).toHaveLength(1); // the recording listener still ran
    expect(h.listenerErrors.map((e) => (e as Error).message)).toEqual(
      expect.arrayContaining(['state listener bug', 'nearby listener bug', 'subscriber bug']),
    );
  });

  it('by default rethrows listener errors from a microtask instead of into the client', () => {
    const queued: (() => void)[] = [];
    vi.stubGlobal('queueMicrotask', (task: () => void) => queued.push(task));
    const client = new NearbyClient({ url: 'ws://x', WebSocket: createHarness().server.WebSocket });
    client.on('state', () => {
      throw new Error('bug');
    });
    expect(() => client.connect()).not.toThrow();
    expect(client.getSnapshot().state).toBe('connecting');
    expect(queued).toHaveLength(1);
    expect(() => queued[0]?.()).toThrow('bug');
  });

  it('a listener may close the client from inside an event', () => {
    const h = createHarness();
    h.client.on('state', (state) => {
      if (state === 'connected') h.client.close();
    });
    h.client.connect();
    h.client.updateLocation({ lat: 1, lon: 2 });
    h.server.accept({ friends: [{ userId: 'ann', lat: 1, lon: 2, distanceKm: 1, updatedAt: T0 }] });
    expect(h.client.getSnapshot()).toMatchObject({ state: 'closed', friends: [], pendingSamples: 1 });
    // The snapshot was handled in full (buffered samples sent) before the listener ran; closing
    // put the unacknowledged sample back into the buffer.
    expect(h.server.latest.framesOf('location')).toHaveLength(1);
    expect(h.server.latest.closedByClient?.code).toBe(1000);
    // The list of the connection it closed was never delivered.
    expect(h.of('nearby')).toEqual([[[]]]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('on() returns an unsubscribe and off() removes a listener', () => {
    const h = createHarness();
    const a = vi.fn();
    const b = vi.fn();
    const offA = h.client.on('state', a);
    h.client.on('state', b);
    offA();
    h.client.off('state', b);
    h.client.connect();
    expect(a).not.toHaveBeenCalled();
    expect(b).not.toHaveBeenCalled();
  });
});

describe('options validation', () => {
  const base = { url: 'wss://nearby.test/ws', WebSocket: createHarness().server.WebSocket };
  it.each([
    ['url', { url: 'http://nearby.test' }],
    ['url', { url: 'wss://nearby.test/ws#x' }],
    ['url', { url: 42 }],
    ['token', { token: 5 }],
    ['getToken', { getToken: 'abc' }],
    ['getToken', { token: 'a', getToken: () => 'b' }],
    ['tokenParam', { tokenParam: '' }],
    ['radiusKm', { radiusKm: 0 }],
    ['sharing', { sharing: 'yes' }],
    ['flushIntervalMs', { flushIntervalMs: -1 }],
    ['significantMoveMeters', { significantMoveMeters: Number.NaN }],
    ['maxBufferedSamples', { maxBufferedSamples: 0 }],
    ['maxBufferedSamples', { maxBufferedSamples: 1.5 }],
    ['reconnect.initialDelayMs', { reconnect: { initialDelayMs: -1 } }],
    ['reconnect.maxDelayMs', { reconnect: { initialDelayMs: 1000, maxDelayMs: 10 } }],
    ['reconnect.multiplier', { reconnect: { multiplier: 0.5 } }],
    ['heartbeat.intervalMs', { heartbeat: { intervalMs: 0 } }],
    ['heartbeat.timeoutMs', { heartbeat: { timeoutMs: Number.POSITIVE_INFINITY } }],
    ['connectTimeoutMs', { connectTimeoutMs: 0 }],
    ['inactiveAfterMs', { inactiveAfterMs: -5 }],
    ['WebSocket', { WebSocket: {} }],
    ['timers.now', { timers: { now: 1 } }],
    ['random', { random: 0.5 }],
  ])('throws invalid_argument naming options.%s', (name, patch) => {
    let thrown: unknown;
    try {
      new NearbyClient({ ...base, ...patch } as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(NearbyError);
    expect(thrown).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    expect((thrown as Error).message).toContain(name);
  });

  it('accepts the documented extremes', () => {
    expect(
      () =>
        new NearbyClient({
          ...base,
          flushIntervalMs: 0,
          significantMoveMeters: Number.POSITIVE_INFINITY,
          reconnect: false,
          heartbeat: false,
          radiusKm: Limits.MAX_RADIUS_KM,
        }),
    ).not.toThrow();
  });
});

describe('settings races', () => {
  it('a snapshot made before our latest change does not undo it locally', () => {
    const h = createHarness();
    h.client.connect();
    const socket = h.server.accept({ radiusKm: 8, sharing: true });
    h.client.setRadius(3);
    h.client.setSharing(false);
    // Stale: produced before the server saw either frame (e.g. another device's init).
    socket.push(h.server.snapshot({ radiusKm: 8, sharing: true }));
    expect(h.client.getSnapshot()).toMatchObject({ radiusKm: 3, sharing: false });
    h.client.updateLocation({ lat: 1, lon: 2 });
    expect(h.client.getSnapshot().pendingSamples).toBe(0); // sharing is still off
    // The answers arrive.
    socket.push(h.server.snapshot({ radiusKm: 3, sharing: true }));
    socket.push(h.server.snapshot({ radiusKm: 3, sharing: false }));
    expect(h.client.getSnapshot()).toMatchObject({ radiusKm: 3, sharing: false });
  });

  it('follows a change made by another device of the account', () => {
    const h = createHarness({ radiusKm: 5 });
    h.client.connect();
    const socket = h.server.accept({ radiusKm: 5 });
    socket.push(h.server.snapshot({ radiusKm: 12, sharing: false }));
    expect(h.client.getSnapshot()).toMatchObject({ radiusKm: 12, sharing: false });
    socket.serverClose(1012);
    vi.advanceTimersByTime(250);
    // The account's settings are the server's: a reconnecting device does not send them back,
    // so it cannot undo a change another device makes meanwhile.
    const init = h.server.latest.open().framesOf('init')[0]!;
    expect(init).not.toHaveProperty('radiusKm');
    // "Not sharing" is the one setting always asserted: lost server state must not turn sharing on.
    expect(init).toMatchObject({ sharing: false });
  });

  it('does not assert sharing on when it only follows the account', () => {
    const h = createHarness();
    h.client.connect();
    const socket = h.server.accept({ sharing: true });
    socket.serverClose(1012);
    vi.advanceTimersByTime(1_000);
    expect(h.server.latest.open().framesOf('init')[0]).not.toHaveProperty('sharing');
  });

  it('keeps sending a change in init until a snapshot confirms it', () => {
    const h = createHarness();
    h.client.connect();
    const socket = h.server.accept();
    h.client.setSharing(false);
    expect(socket.framesOf('sharing')).toEqual([{ type: 'sharing', enabled: false }]);
    socket.serverClose(1006); // lost before the server answered
    vi.advanceTimersByTime(1_000);
    expect(h.server.latest.open().framesOf('init')[0]).toMatchObject({ sharing: false });
  });

  it('re-sends settings changed while init was in flight once the first snapshot arrives', () => {
    const h = createHarness({ radiusKm: 5 });
    h.client.connect();
    const socket = h.server.latest.open(); // init carries radius 5, sharing true
    h.client.setRadius(2);
    h.client.setSharing(false);
    expect(socket.framesOf('radius')).toEqual([]);
    socket.push(h.server.snapshot({ radiusKm: 5, sharing: true }));
    expect(socket.framesOf('radius')).toEqual([{ type: 'radius', radiusKm: 2 }]);
    expect(socket.framesOf('sharing')).toEqual([{ type: 'sharing', enabled: false }]);
    expect(h.client.getSnapshot()).toMatchObject({ radiusKm: 2, sharing: false });
  });

  it('an invalid radius in init falls back to the account radius without re-sending it', () => {
    const h = createHarness({ radiusKm: 100 });
    h.client.connect();
    const socket = h.server.latest.open();
    socket.push({ type: 'error', code: 'invalid_radius', message: 'max 50', frameType: 'init' });
    socket.push(h.server.snapshot({ radiusKm: 8 }));
    expect(socket.framesOf('radius')).toEqual([]);
    expect(h.client.getSnapshot().radiusKm).toBe(8);
    socket.serverClose(1012);
    vi.advanceTimersByTime(250);
    expect(h.server.latest.open().framesOf('init')[0]?.radiusKm).toBeUndefined();
  });
});
