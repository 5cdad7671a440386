import { CloseCode, ErrorCode, NearbyError, PROTOCOL_VERSION } from '@nearby/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NearbyClient } from './client.js';
import { FakeServer } from './test-utils/fake-server.js';
import { createHarness } from './test-utils/harness.js';
import { ManualTimers } from './test-utils/manual-timers.js';

const T0 = 1_700_000_000_000;

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('connecting', () => {
  it('goes idle → connecting → connected and sends init with version, the chosen settings and the last fix', () => {
    const h = createHarness({ radiusKm: 3, sharing: true });
    expect(h.client.getSnapshot().state).toBe('idle');
    h.client.updateLocation({ lat: 37.5, lon: 127, accuracy: 5 });
    h.client.connect();
    expect(h.client.getSnapshot().state).toBe('connecting');
    const socket = h.server.latest.open();
    expect(socket.frames[0]).toEqual({
      type: 'init',
      v: PROTOCOL_VERSION,
      location: { lat: 37.5, lon: 127, accuracy: 5, timestamp: T0 },
      radiusKm: 3,
      sharing: true,
    });
    expect(h.client.getSnapshot().state).toBe('connecting');
    socket.push(h.server.snapshot({ userId: 'alice', radiusKm: 3 }));
    expect(h.client.getSnapshot()).toMatchObject({ state: 'connected', userId: 'alice', radiusKm: 3 });
    expect(h.of('state')).toEqual([
      ['connecting', 'idle'],
      ['connected', 'connecting'],
    ]);
    expect(h.server.protocolErrors).toEqual([]);
  });

  it('omits radius and location from init when unknown', () => {
    const h = createHarness({ sharing: false });
    h.client.connect();
    expect(h.server.latest.open().frames[0]).toEqual({ type: 'init', v: PROTOCOL_VERSION, sharing: false });
  });

  it('appends the URL-encoded token under tokenParam, keeping an existing query string', () => {
    const h = createHarness({ url: 'wss://nearby.test/ws?region=kr', token: 'a b&c', tokenParam: 'auth' });
    h.client.connect();
    expect(h.server.latest.url).toBe('wss://nearby.test/ws?region=kr&auth=a%20b%26c');
  });

  it('calls getToken before every attempt; a rejection counts as a failed attempt and backs off', async () => {
    let n = 0;
    const getToken = vi.fn(async () => {
      n++;
      if (n === 2) throw new Error('token service down');
      return `token-${n}`;
    });
    const h = createHarness({ token: undefined, getToken });
    h.client.connect();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.server.latest.url).toBe('wss://nearby.test/ws?access_token=token-1');
    h.server.latest.fail(); // attempt 0 failed → backoff 0.5 · 500 = 250 ms
    expect(h.client.getSnapshot().state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(250);
    expect(getToken).toHaveBeenCalledTimes(2); // rejected: attempt 1 failed → 0.5 · 1000 = 500 ms
    expect(h.server.sockets).toHaveLength(1);
    const tokenError = h.of('error').at(-1)?.[0];
    expect(tokenError?.code).toBe(ErrorCode.CONNECTION_FAILED);
    expect((tokenError?.cause as Error).message).toBe('token service down');
    await vi.advanceTimersByTimeAsync(499);
    expect(getToken).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(getToken).toHaveBeenCalledTimes(3);
    expect(h.server.latest.url).toBe('wss://nearby.test/ws?access_token=token-3');
  });

  it('treats a synchronously throwing getToken as a failed attempt', () => {
    const h = createHarness({
      token: undefined,
      getToken: () => {
        throw new Error('no session');
      },
    });
    h.client.connect();
    expect(h.client.getSnapshot().state).toBe('reconnecting');
    expect(h.errorCodes()).toEqual([ErrorCode.CONNECTION_FAILED]);
  });

  it('connect() is a no-op while connecting or connected', () => {
    const h = createHarness();
    h.client.connect();
    h.client.connect();
    expect(h.server.sockets).toHaveLength(1);
    h.server.accept();
    h.client.connect();
    expect(h.server.sockets).toHaveLength(1);
  });

  it('connect() while reconnecting skips the rest of the backoff wait', () => {
    const h = createHarness();
    h.client.connect();
    h.server.latest.fail();
    expect(h.client.getSnapshot().state).toBe('reconnecting');
    h.client.connect();
    expect(h.server.sockets).toHaveLength(2);
    expect(h.client.getSnapshot().state).toBe('connecting');
    vi.advanceTimersByTime(9_999); // the cancelled backoff timer does not open a third socket
    expect(h.server.sockets).toHaveLength(2);
  });

  it('whenConnected resolves on the next connected state, and at once when connected', async () => {
    const h = createHarness();
    const pending = h.client.whenConnected();
    h.client.connect();
    h.server.accept();
    await expect(pending).resolves.toBeUndefined();
    await expect(h.client.whenConnected()).resolves.toBeUndefined();
  });

  it('close(): closes with 1000, stops every timer, rejects whenConnected; connect() works again', async () => {
    const h = createHarness();
    h.client.connect();
    const pending = h.client.whenConnected();
    const socket = h.server.latest;
    h.client.close();
    expect(socket.closedByClient).toEqual({ code: CloseCode.NORMAL, reason: 'client closed' });
    expect(h.client.getSnapshot().state).toBe('closed');
    await expect(pending).rejects.toMatchObject({ name: 'NearbyError', code: ErrorCode.CLOSED });
    await expect(h.client.whenConnected()).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    expect(vi.getTimerCount()).toBe(0);
    h.client.close(); // idempotent
    expect(h.of('state')).toHaveLength(2);

    h.client.connect();
    expect(h.server.sockets).toHaveLength(2);
    h.server.accept();
    expect(h.client.getSnapshot().state).toBe('connected');
  });

  it('close() when connected empties the list and stops heartbeat, expiry and flush timers', () => {
    const h = createHarness();
    h.client.connect();
    h.server.accept({ friends: [{ userId: 'bob', lat: 1, lon: 2, distanceKm: 1, updatedAt: T0 }] });
    h.client.updateLocation({ lat: 1, lon: 2 });
    h.client.updateLocation({ lat: 1, lon: 2 });
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    h.client.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(h.client.getSnapshot().friends).toEqual([]);
    expect(h.of('nearby').at(-1)).toEqual([[]]);
  });
});

describe('close codes', () => {
  it('4001 → closed with unauthorized, no reconnect, whenConnected rejects with unauthorized', async () => {
    const h = createHarness();
    h.client.connect();
    const pending = h.client.whenConnected();
    h.server.latest.serverClose(CloseCode.UNAUTHORIZED, 'bad token');
    expect(h.client.getSnapshot().state).toBe('closed');
    expect(h.errorCodes()).toEqual([ErrorCode.UNAUTHORIZED]);
    expect(h.client.getSnapshot().lastError).toMatchObject({ code: ErrorCode.UNAUTHORIZED, closeCode: 4001 });
    await expect(pending).rejects.toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    await expect(h.client.whenConnected()).rejects.toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    vi.advanceTimersByTime(10 * 60_000);
    expect(h.server.sockets).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it.each([CloseCode.PROTOCOL_VIOLATION, CloseCode.UNSUPPORTED_VERSION])(
    '%s → closed with connection_failed carrying the close code, no reconnect',
    async (code) => {
      const h = createHarness();
      h.client.connect();
      h.server.accept();
      const pending = h.client.whenConnected();
      await pending;
      h.server.latest.serverClose(code);
      expect(h.client.getSnapshot().state).toBe('closed');
      expect(h.of('error')[0]?.[0]).toMatchObject({ code: ErrorCode.CONNECTION_FAILED, closeCode: code });
      await expect(h.client.whenConnected()).rejects.toMatchObject({ code: ErrorCode.CLOSED, closeCode: code });
      vi.advanceTimersByTime(60_000);
      expect(h.server.sockets).toHaveLength(1);
    },
  );

  it.each([1006, 1001, 1011, 1012, 4029, 1000])('%s → reconnecting with backoff and a connection_failed error', (code) => {
    const h = createHarness();
    h.client.connect();
    h.server.accept();
    h.server.latest.serverClose(code);
    expect(h.client.getSnapshot().state).toBe('reconnecting');
    expect(h.of('error')[0]?.[0]).toMatchObject({ code: ErrorCode.CONNECTION_FAILED, closeCode: code });
    vi.advanceTimersByTime(249); // first retry: random 0.5 × 500 ms
    expect(h.server.sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(h.server.sockets).toHaveLength(2);
    expect(h.client.getSnapshot().state).toBe('connecting');
    h.server.accept();
    expect(h.client.getSnapshot()).toMatchObject({ state: 'connected', lastError: null });
  });

  it('keeps growing the backoff while sockets open and die before a snapshot; resets after one', () => {
    const h = createHarness();
    h.client.connect();
    const delays: number[] = [];
    let last = Date.now();
    for (let i = 0; i < 5; i++) {
      h.server.latest.open();
      h.server.latest.serverClose(1011);
      const count = h.server.sockets.length;
      while (h.server.sockets.length === count) vi.advanceTimersByTime(1);
      delays.push(Date.now() - last);
      last = Date.now();
    }
    expect(delays).toEqual([250, 500, 1000, 2000, 4000]);
    h.server.accept();
    h.server.latest.serverClose(1006);
    vi.advanceTimersByTime(250);
    expect(h.server.sockets).toHaveLength(7);
  });

  it('respects maxDelayMs and full jitter from the injected random source', () => {
    const h = createHarness({ reconnect: { initialDelayMs: 1000, maxDelayMs: 3000, multiplier: 3 }, random: () => 0.999 });
    h.client.connect();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      h.server.latest.fail();
      const start = Date.now();
      const count = h.server.sockets.length;
      while (h.server.sockets.length === count) vi.advanceTimersByTime(1);
      delays.push(Date.now() - start);
    }
    expect(delays).toEqual([999, 2997, 2997, 2997]);
  });

  it('connect timeout: no snapshot within connectTimeoutMs closes with 4100 and retries', () => {
    const h = createHarness({ connectTimeoutMs: 5000 });
    h.client.connect();
    const socket = h.server.latest.open();
    vi.advanceTimersByTime(4999);
    expect(socket.closedByClient).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(socket.closedByClient?.code).toBe(CloseCode.CLIENT_RECONNECTING);
    expect(h.errorCodes()).toEqual([ErrorCode.CONNECTION_FAILED]);
    expect(h.client.getSnapshot().state).toBe('reconnecting');
    vi.advanceTimersByTime(250);
    expect(h.server.sockets).toHaveLength(2);
  });

  it('connect timeout also covers a socket that never opens and a getToken that never settles', async () => {
    const h = createHarness({ token: undefined, getToken: () => new Promise<string>(() => {}), connectTimeoutMs: 1000 });
    h.client.connect();
    await vi.advanceTimersByTimeAsync(1000);
    expect(h.client.getSnapshot().state).toBe('reconnecting');
    expect(h.errorCodes()).toEqual([ErrorCode.CONNECTION_FAILED]);
  });

  it('reconnect: false → closed after a lost connection, whenConnected rejects with closed', async () => {
    const h = createHarness({ reconnect: false });
    h.client.connect();
    const pending = h.client.whenConnected();
    h.server.latest.fail();
    expect(h.client.getSnapshot().state).toBe('closed');
    await expect(pending).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    vi.advanceTimersByTime(60_000);
    expect(h.server.sockets).toHaveLength(1);
  });

  it('a drain notice closes with 4100 and reconnects after delayMs + jitter, without error or backoff growth', () => {
    const h = createHarness({ random: () => 0.5 });
    h.client.connect();
    h.server.latest.fail(); // attempt counter now 1
    vi.advanceTimersByTime(250);
    const socket = h.server.accept(); // snapshot resets the counter
    h.server.latest.push({ type: 'reconnect', reason: 'draining', delayMs: 2000 });
    expect(socket.closedByClient?.code).toBe(CloseCode.CLIENT_RECONNECTING);
    expect(h.client.getSnapshot().state).toBe('reconnecting');
    vi.advanceTimersByTime(2249); // 2000 + 0.5 × initialDelayMs (500)
    expect(h.server.sockets).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(h.server.sockets).toHaveLength(3);
    expect(h.errorCodes()).toEqual([ErrorCode.CONNECTION_FAILED]); // only the first failure
    // Not counted as a failure: the next unexpected close waits the attempt-0 delay.
    h.server.latest.fail();
    vi.advanceTimersByTime(250);
    expect(h.server.sockets).toHaveLength(4);
  });
});

describe('values a newer server may add', () => {
  it('a reconnect with another reason still closes with 4100 and reconnects after delayMs + jitter', () => {
    const h = createHarness({ random: () => 0.5 });
    h.client.connect();
    const socket = h.server.accept();
    socket.pushRaw(JSON.stringify({ type: 'reconnect', reason: 'rebalancing', delayMs: 1000 }));
    expect(socket.closedByClient?.code).toBe(CloseCode.CLIENT_RECONNECTING);
    expect(h.client.getSnapshot().state).toBe('reconnecting');
    vi.advanceTimersByTime(1249); // 1000 + 0.5 × initialDelayMs (500)
    expect(h.server.sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(h.server.sockets).toHaveLength(2);
    expect(h.errorCodes()).toEqual([]);
  });

  it('an error frame with another code reaches the error event unchanged; the connection stays up', () => {
    const h = createHarness();
    h.client.connect();
    const socket = h.server.accept();
    socket.pushRaw(JSON.stringify({ type: 'error', code: 'too_far_away', message: 'move closer', frameType: 'radius' }));
    expect(h.of('error')).toHaveLength(1);
    const [error] = h.of('error')[0]!;
    expect(error).toBeInstanceOf(NearbyError);
    expect(error).toMatchObject({ code: 'too_far_away', message: 'move closer' });
    expect(h.client.getSnapshot().state).toBe('connected');
    expect(h.server.sockets).toHaveLength(1);
  });
});

describe('heartbeat', () => {
  it('pings every intervalMs while connected; any frame keeps the connection alive', () => {
    const h = createHarness({ heartbeat: { intervalMs: 1000, timeoutMs: 500 } });
    h.client.connect();
    const socket = h.server.accept();
    vi.advanceTimersByTime(3000);
    expect(socket.framesOf('ping').map((p) => p.id)).toEqual([1, 2, 3]);
    expect(h.client.getSnapshot().state).toBe('connected');
  });

  it('no frame within timeoutMs after a ping → heartbeat_timeout, close 4100, reconnect', () => {
    const h = createHarness({ heartbeat: { intervalMs: 25_000, timeoutMs: 10_000 } });
    h.server.autoPong = false;
    h.client.connect();
    const socket = h.server.accept();
    vi.advanceTimersByTime(25_000);
    expect(socket.framesOf('ping')).toHaveLength(1);
    vi.advanceTimersByTime(9_999);
    expect(h.client.getSnapshot().state).toBe('connected');
    vi.advanceTimersByTime(1);
    expect(h.errorCodes()).toEqual([ErrorCode.HEARTBEAT_TIMEOUT]);
    expect(socket.closedByClient?.code).toBe(CloseCode.CLIENT_RECONNECTING);
    expect(h.client.getSnapshot().state).toBe('reconnecting');
    vi.advanceTimersByTime(250);
    expect(h.server.sockets).toHaveLength(2);
  });

  it('a frame other than pong also counts as liveness', () => {
    const h = createHarness({ heartbeat: { intervalMs: 1000, timeoutMs: 500 } });
    h.server.autoPong = false;
    h.client.connect();
    const socket = h.server.accept();
    vi.advanceTimersByTime(1400);
    socket.push({ type: 'friend_added', userId: 'zoe' });
    vi.advanceTimersByTime(200);
    expect(h.client.getSnapshot().state).toBe('connected');
  });

  it('heartbeat: false sends no pings', () => {
    const h = createHarness({ heartbeat: false });
    h.client.connect();
    const socket = h.server.accept();
    vi.advanceTimersByTime(120_000);
    expect(socket.framesOf('ping')).toEqual([]);
  });
});

describe('environment', () => {
  it('uses the global timers lazily: fake timers installed after construction still drive the client', () => {
    vi.useRealTimers();
    const server = new FakeServer();
    const client = new NearbyClient({ url: 'ws://x', WebSocket: server.WebSocket, random: () => 0.5 });
    vi.useFakeTimers({ now: T0 });
    client.connect();
    server.latest.fail();
    vi.advanceTimersByTime(250);
    expect(server.sockets).toHaveLength(2);
    client.updateLocation({ lat: 0, lon: 0 });
    expect(client.getSnapshot().pendingSamples).toBe(1);
    client.close();
  });

  it('runs entirely on injected timers and clock', () => {
    vi.useRealTimers();
    const timers = new ManualTimers(5_000_000);
    const server = new FakeServer({ now: timers.now });
    const client = new NearbyClient({ url: 'ws://x', WebSocket: server.WebSocket, timers, random: () => 1 });
    client.connect();
    server.accept();
    client.updateLocation({ lat: 0, lon: 0 });
    expect(server.latest.framesOf('location')[0]?.samples[0]?.timestamp).toBe(5_000_000);
    server.latest.serverClose(1012);
    expect(timers.pending).toBe(1);
    timers.advance(499);
    expect(server.sockets).toHaveLength(1);
    timers.advance(1);
    expect(server.sockets).toHaveLength(2);
    client.close();
    expect(timers.pending).toBe(0);
  });

  it('errors are NearbyError instances with a code', () => {
    const h = createHarness();
    h.client.connect();
    h.server.latest.fail();
    const error = h.of('error')[0]?.[0];
    expect(error).toBeInstanceOf(NearbyError);
    expect(error?.closeCode).toBe(1006);
  });
});
