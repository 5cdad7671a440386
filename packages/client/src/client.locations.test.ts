import { ErrorCode, type LocationSample } from '@nearby/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FakeWebSocket } from './test-utils/fake-server.js';
import { createHarness } from './test-utils/harness.js';

const T0 = 1_700_000_000_000;
const HOME = { lat: 37.5665, lon: 126.978 };
/** About `m` metres north of HOME (1° of latitude ≈ 111.2 km). */
const north = (m: number) => ({ lat: HOME.lat + m / 111_195, lon: HOME.lon });

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

function connected(options: Parameters<typeof createHarness>[0] = {}) {
  const h = createHarness(options);
  h.client.connect();
  const socket = h.server.accept();
  return { ...h, socket };
}

const sentSamples = (socket: FakeWebSocket): LocationSample[] => socket.framesOf('location').flatMap((f) => f.samples);

describe('batching', () => {
  it('sends the first fix at once, then holds fixes and sends them in one frame after flushIntervalMs', () => {
    const { client, socket, server } = connected();
    client.updateLocation(HOME);
    expect(socket.framesOf('location')).toEqual([{ type: 'location', seq: 0, samples: [{ ...HOME, timestamp: T0 }] }]);
    for (let i = 1; i <= 5; i++) {
      vi.advanceTimersByTime(5_000);
      client.updateLocation({ ...north(i * 10), accuracy: 8 });
    }
    expect(socket.framesOf('location')).toHaveLength(1);
    expect(client.getSnapshot().pendingSamples).toBe(6);
    vi.advanceTimersByTime(4_999); // t = 29.999 s
    expect(socket.framesOf('location')).toHaveLength(1);
    vi.advanceTimersByTime(1); // t = 30 s
    const frames = socket.framesOf('location');
    expect(frames).toHaveLength(2);
    expect(frames[1]?.seq).toBe(1);
    expect(frames[1]?.samples.map((s) => s.timestamp)).toEqual([5, 10, 15, 20, 25].map((s) => T0 + s * 1000));
    // Acknowledged, nothing pending → no flush or resend timer keeps firing.
    socket.push({ type: 'ack', seq: 0, count: 1 });
    socket.push({ type: 'ack', seq: 1, count: 5 });
    vi.advanceTimersByTime(120_000);
    expect(socket.framesOf('location')).toHaveLength(2);
    expect(server.protocolErrors).toEqual([]);
  });

  it('honours a custom flushIntervalMs', () => {
    const { client, socket } = connected({ flushIntervalMs: 5_000 });
    client.updateLocation(HOME);
    vi.advanceTimersByTime(1_000);
    client.updateLocation(north(5));
    vi.advanceTimersByTime(3_999);
    expect(socket.framesOf('location')).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(socket.framesOf('location')).toHaveLength(2);
  });

  it('flushes early when the newest fix is at least significantMoveMeters from the last sent one', () => {
    const { client, socket } = connected();
    client.updateLocation(HOME);
    vi.advanceTimersByTime(1_000);
    client.updateLocation(north(100));
    vi.advanceTimersByTime(1_000);
    client.updateLocation(north(450)); // 450 m from the last SENT fix: held
    expect(socket.framesOf('location')).toHaveLength(1);
    vi.advanceTimersByTime(1_000);
    client.updateLocation(north(520)); // 520 m from HOME: early flush of everything held
    const frames = socket.framesOf('location');
    expect(frames).toHaveLength(2);
    expect(frames[1]?.samples).toHaveLength(3);
    // The reference is now the last sent fix: another 100 m is not significant.
    client.updateLocation(north(620));
    expect(socket.framesOf('location')).toHaveLength(2);
    client.updateLocation(north(1100));
    expect(socket.framesOf('location')).toHaveLength(3);
  });

  it('splits a backlog into frames of at most 100 samples with consecutive seqs', () => {
    const h = createHarness();
    for (let i = 0; i < 250; i++) {
      h.client.updateLocation({ ...north(i), timestamp: T0 + i });
    }
    expect(h.client.getSnapshot().pendingSamples).toBe(250);
    h.client.connect();
    const socket = h.server.latest.open();
    expect(socket.framesOf('location')).toEqual([]); // nothing before the snapshot
    socket.push(h.server.snapshot());
    const frames = socket.framesOf('location');
    expect(frames.map((f) => f.samples.length)).toEqual([100, 100, 50]);
    expect(frames.map((f) => f.seq)).toEqual([0, 1, 2]);
    expect(sentSamples(socket).map((s) => s.timestamp)).toEqual(Array.from({ length: 250 }, (_, i) => T0 + i));
    expect(h.server.protocolErrors).toEqual([]);
  });

  it('puts the last fix in init and keeps fixes taken while connecting until the snapshot', () => {
    const h = createHarness();
    h.client.connect();
    const socket = h.server.latest.open();
    h.client.updateLocation(HOME);
    expect(socket.framesOf('location')).toEqual([]);
    socket.push(h.server.snapshot());
    expect(sentSamples(socket)).toEqual([{ ...HOME, timestamp: T0 }]);
    socket.serverClose(1012);
    vi.advanceTimersByTime(250);
    expect(h.server.latest.open().framesOf('init')[0]?.location).toEqual({ ...HOME, timestamp: T0 });
  });

  it('ignores fixes while sharing is off but still delivers what was buffered before', () => {
    const { client, socket } = connected();
    client.updateLocation(HOME);
    vi.advanceTimersByTime(1_000);
    client.updateLocation(north(10));
    client.setSharing(false);
    expect(socket.framesOf('sharing')).toEqual([{ type: 'sharing', enabled: false }]);
    client.updateLocation(north(20));
    client.updateLocation(north(5_000));
    expect(client.getSnapshot()).toMatchObject({ sharing: false, pendingSamples: 2 });
    vi.advanceTimersByTime(30_000);
    expect(sentSamples(socket)).toHaveLength(2);
  });
});

describe('acknowledgement and at-least-once delivery', () => {
  it('forgets acknowledged frames and emits ack', () => {
    const { client, socket, of } = connected();
    client.updateLocation(HOME);
    expect(client.getSnapshot().pendingSamples).toBe(1);
    socket.push({ type: 'ack', seq: 0, count: 1 });
    expect(client.getSnapshot().pendingSamples).toBe(0);
    expect(of('ack')).toEqual([[{ seq: 0, count: 1 }]]);
  });

  it('on disconnect puts in-flight samples back, resends them after the next snapshot, nothing lost or duplicated', () => {
    const h = connected();
    const taken: number[] = [];
    const fix = (metres: number) => {
      h.client.updateLocation(north(metres));
      taken.push(Date.now());
      vi.advanceTimersByTime(1_000);
    };
    fix(0); // seq 0, sent at once
    fix(10);
    fix(20);
    vi.advanceTimersByTime(30_000); // seq 1 carries the two held samples
    expect(h.socket.framesOf('location').map((f) => f.samples.length)).toEqual([1, 2]);
    h.socket.push({ type: 'ack', seq: 0, count: 1 });
    h.socket.serverClose(1006); // seq 1 was never acknowledged
    fix(30); // taken offline
    fix(40);
    expect(h.client.getSnapshot().pendingSamples).toBe(4);

    const acked: number[] = h.socket.framesOf('location')[0]!.samples.map((s) => s.timestamp);
    vi.advanceTimersByTime(250);
    const second = h.server.latest.open();
    expect(second.framesOf('location')).toEqual([]);
    second.push(h.server.snapshot());
    const resent = second.framesOf('location');
    expect(resent).toHaveLength(1);
    expect(resent[0]!.samples.map((s) => s.timestamp)).toEqual(taken.slice(1));
    second.push({ type: 'ack', seq: resent[0]!.seq, count: resent[0]!.samples.length });
    acked.push(...resent[0]!.samples.map((s) => s.timestamp));
    expect(acked).toEqual(taken);
    expect(h.client.getSnapshot().pendingSamples).toBe(0);
    // Another reconnect resends nothing: every sample was acknowledged.
    second.serverClose(1012);
    vi.advanceTimersByTime(250);
    h.server.accept();
    expect(h.server.latest.framesOf('location')).toEqual([]);
  });

  it('history_unavailable for a seq puts its samples back; they are resent with the next flush', () => {
    const { client, socket, of } = connected();
    client.updateLocation(HOME);
    socket.push({ type: 'error', code: 'history_unavailable', message: 'store down', seq: 0 });
    const error = of('error')[0]?.[0];
    expect(error).toMatchObject({ code: ErrorCode.HISTORY_UNAVAILABLE, seq: 0, message: 'store down' });
    expect(client.getSnapshot().pendingSamples).toBe(1);
    vi.advanceTimersByTime(29_999);
    expect(socket.framesOf('location')).toHaveLength(1);
    vi.advanceTimersByTime(1);
    const frames = socket.framesOf('location');
    expect(frames).toHaveLength(2);
    expect(frames[1]).toMatchObject({ seq: 1, samples: [{ ...HOME, timestamp: T0 }] });
  });

  it('rate_limited for a seq: a significant move does not resend before a short backoff', () => {
    const { client, socket } = connected();
    client.updateLocation(HOME);
    socket.push({ type: 'error', code: 'rate_limited', message: 'slow down', seq: 0 });
    vi.advanceTimersByTime(100);
    client.updateLocation(north(1_000));
    expect(socket.framesOf('location')).toHaveLength(1);
    vi.advanceTimersByTime(899);
    expect(socket.framesOf('location')).toHaveLength(1);
    vi.advanceTimersByTime(1); // 1 s after the refusal
    const frames = socket.framesOf('location');
    expect(frames).toHaveLength(2);
    expect(frames[1]?.samples.map((s) => s.timestamp)).toEqual([T0, T0 + 100]);
  });

  it.each(['invalid_location', 'invalid_frame'] as const)('%s for a seq drops its samples for good', (code) => {
    const { client, socket, errorCodes } = connected();
    client.updateLocation(HOME);
    socket.push({ type: 'error', code, message: 'no', seq: 0 });
    expect(errorCodes()).toEqual([code]);
    expect(client.getSnapshot().pendingSamples).toBe(0);
    vi.advanceTimersByTime(60_000);
    expect(socket.framesOf('location')).toHaveLength(1);
  });

  it('a code from a newer server for a seq keeps its samples; they are resent with the next flush', () => {
    const { client, socket, errorCodes } = connected();
    client.updateLocation(HOME);
    socket.pushRaw(JSON.stringify({ type: 'error', code: 'history_busy', message: 'later', seq: 0 }));
    expect(errorCodes()).toEqual(['history_busy']);
    expect(client.getSnapshot().pendingSamples).toBe(1);
    vi.advanceTimersByTime(30_000);
    const frames = socket.framesOf('location');
    expect(frames).toHaveLength(2);
    expect(frames[1]).toMatchObject({ seq: 1, samples: [{ ...HOME, timestamp: T0 }] });
  });

  it('an error about an unknown seq changes nothing but is still reported', () => {
    const { client, socket, errorCodes } = connected();
    client.updateLocation(HOME);
    socket.push({ type: 'error', code: 'history_unavailable', message: 'x', seq: 42 });
    expect(errorCodes()).toEqual([ErrorCode.HISTORY_UNAVAILABLE]);
    expect(client.getSnapshot().pendingSamples).toBe(1);
    socket.push({ type: 'ack', seq: 0, count: 1 });
    expect(client.getSnapshot().pendingSamples).toBe(0);
  });
});

describe('offline buffer', () => {
  it('drops the oldest unsent samples on overflow and reports how many', () => {
    const h = createHarness({ maxBufferedSamples: 5 });
    for (let i = 0; i < 8; i++) h.client.updateLocation({ ...north(i), timestamp: T0 + i });
    expect(h.client.getSnapshot().pendingSamples).toBe(5);
    const errors = h.of('error').map(([e]) => e);
    expect(errors).toHaveLength(3);
    expect(errors.every((e) => e.code === ErrorCode.BUFFER_OVERFLOW)).toBe(true);
    expect(errors[0]?.message).toMatch(/dropped the 1 oldest/);
    expect(h.client.getSnapshot().lastError?.code).toBe(ErrorCode.BUFFER_OVERFLOW);
    h.client.connect();
    h.server.accept();
    expect(sentSamples(h.server.latest).map((s) => s.timestamp)).toEqual([3, 4, 5, 6, 7].map((i) => T0 + i));
  });

  it('counts in-flight samples against the capacity', () => {
    const { client, errorCodes } = connected({ maxBufferedSamples: 2 });
    client.updateLocation(HOME); // in flight
    client.updateLocation(north(1));
    expect(errorCodes()).toEqual([]);
    client.updateLocation(north(2));
    expect(errorCodes()).toEqual([ErrorCode.BUFFER_OVERFLOW]);
    expect(client.getSnapshot().pendingSamples).toBe(2);
  });
});

describe('updateLocation validation', () => {
  it.each([
    ['NaN latitude', { lat: Number.NaN, lon: 0 }],
    ['infinite longitude', { lat: 0, lon: Number.POSITIVE_INFINITY }],
    ['latitude above 90', { lat: 90.5, lon: 0 }],
    ['longitude below -180', { lat: 0, lon: -181 }],
    ['a string latitude', { lat: '1' as unknown as number, lon: 0 }],
    ['negative accuracy', { lat: 0, lon: 0, accuracy: -1 }],
    ['NaN accuracy', { lat: 0, lon: 0, accuracy: Number.NaN }],
    ['negative timestamp', { lat: 0, lon: 0, timestamp: -1 }],
    ['negative fractional timestamp', { lat: 0, lon: 0, timestamp: -0.4 }],
    ['NaN timestamp', { lat: 0, lon: 0, timestamp: Number.NaN }],
    ['infinite timestamp', { lat: 0, lon: 0, timestamp: Number.POSITIVE_INFINITY }],
    ['a string timestamp', { lat: 0, lon: 0, timestamp: '1700000000000' as unknown as number }],
    ['a timestamp beyond the protocol limit', { lat: 0, lon: 0, timestamp: 1e16 }],
  ])('throws invalid_location for %s', (_name, fix) => {
    const { client } = createHarness();
    expect(() => client.updateLocation(fix)).toThrowError(expect.objectContaining({ code: ErrorCode.INVALID_LOCATION }));
    expect(client.getSnapshot().pendingSamples).toBe(0);
  });

  it('rounds fractional timestamps to the millisecond, the given one and the clock\'s', () => {
    const { client, server } = createHarness({ timers: { now: () => 1_700_000_000_000.6 } });
    client.updateLocation({ lat: 1, lon: 1, timestamp: 1_700_000_000_000.4 });
    client.updateLocation({ lat: 1, lon: 1, timestamp: 1_700_000_000_001.5 });
    client.updateLocation({ lat: 1, lon: 1 });
    client.connect();
    server.latest.open().push(server.snapshot());
    expect(sentSamples(server.latest).map((s) => s.timestamp)).toEqual([
      1_700_000_000_000, 1_700_000_000_002, 1_700_000_000_001,
    ]);
  });

  it('accepts the boundaries and defaults the timestamp to now', () => {
    const { client } = createHarness();
    client.updateLocation({ lat: 90, lon: -180, accuracy: 0, timestamp: 0 });
    client.updateLocation({ lat: -90, lon: 180 });
    expect(client.getSnapshot().pendingSamples).toBe(2);
  });
});

describe('acknowledgement timeout', () => {
  it('resends a batch that got neither ack nor error within ackTimeoutMs, and ignores the late ack', () => {
    const { client, socket } = connected({ ackTimeoutMs: 20_000 });
    client.updateLocation(HOME); // seq 0, sent at once; the server silently drops it
    vi.advanceTimersByTime(19_999);
    expect(socket.framesOf('location')).toHaveLength(1);
    expect(client.getSnapshot().pendingSamples).toBe(1);
    vi.advanceTimersByTime(1); // t = 20 s: back to the buffer
    vi.advanceTimersByTime(10_000); // t = 30 s: the next regular flush carries it again
    const frames = socket.framesOf('location');
    expect(frames).toHaveLength(2);
    expect(frames[1]).toMatchObject({ seq: 1, samples: [{ ...HOME, timestamp: T0 }] });

    socket.push({ type: 'ack', seq: 0, count: 1 }); // the first copy's ack, late: nothing to forget
    expect(client.getSnapshot().pendingSamples).toBe(1);
    socket.push({ type: 'ack', seq: 1, count: 1 });
    expect(client.getSnapshot().pendingSamples).toBe(0);
    // Acknowledged: no further resends.
    vi.advanceTimersByTime(120_000);
    expect(socket.framesOf('location')).toHaveLength(2);
  });

  it('rejects a non-positive ackTimeoutMs', () => {
    expect(() => createHarness({ ackTimeoutMs: 0 })).toThrow(/ackTimeoutMs/);
  });
});

describe('device clock set back', () => {
  it('sends what was taken before, then restarts the sample order with an init carrying the new fix', () => {
    const { client, socket, server } = connected({ flushIntervalMs: 1_000 });
    // The device clock runs 5 minutes ahead.
    client.updateLocation({ ...HOME, timestamp: T0 + 300_000 });
    vi.advanceTimersByTime(500);
    client.updateLocation({ ...north(10), timestamp: T0 + 300_500 });
    expect(socket.framesOf('init')).toHaveLength(1);
    // Corrected: the next fix is dated 5 minutes before the last one sent, and is current by the device's clock.
    vi.setSystemTime(T0 + 1_000);
    client.updateLocation(north(20));
    const inits = socket.framesOf('init');
    expect(inits).toHaveLength(2);
    expect(inits[1]).toEqual({ type: 'init', v: 1, location: { ...north(20), timestamp: T0 + 1_000 } });
    // The samples taken before the correction went first, in a batch of their own.
    const order = socket.frames.map((frame) => frame.type);
    expect(order.lastIndexOf('location')).toBeLessThan(order.lastIndexOf('init'));
    expect(sentSamples(socket).map((s) => s.timestamp)).toContain(T0 + 300_500);
    // The re-init's snapshot is taken like any other, and later fixes batch as usual.
    socket.push(server.snapshot());
    vi.advanceTimersByTime(1_000);
    client.updateLocation(north(30));
    expect(socket.framesOf('init')).toHaveLength(2);
    expect(client.getSnapshot().state).toBe('connected');
  });

  it('does not restart for a late fix (its timestamp is far from the device clock) or for a small disorder', () => {
    const { client, socket } = connected();
    client.updateLocation(HOME);
    vi.advanceTimersByTime(10_000);
    client.updateLocation({ ...north(10), timestamp: T0 + 9_000 }); // 1 s older than the clock: a small disorder at most
    client.updateLocation({ ...north(20), timestamp: T0 - 60_000 }); // a fix taken a minute before: late, not a clock change
    expect(socket.framesOf('init')).toHaveLength(1);
  });
});
