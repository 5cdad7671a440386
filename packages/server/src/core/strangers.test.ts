import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode, NearbyError, decodeServerFrame, type NearbyStranger, type ServerFrame } from '@nearby/protocol';
import type { ServerSocket } from './connection.js';
import { createNearbyEngine, type EngineSession } from './engine.js';
import type { StrangersOptions } from './engine-options.js';
import { MemoryPresenceRegistry } from '../adapters/memory/presence-registry.js';
import { MemoryPubSub } from '../adapters/memory/pubsub.js';
import { MemorySettingsStore } from '../adapters/memory/settings-store.js';
import { manualTimers } from '../manual-timers.test-support.js';
import type { Timers } from '../timers.js';

/** Manual timers whose check phase (the immediates) runs when the test settles. */
function loopTimers(start: number) {
  const timers = manualTimers(start);
  let immediates: Array<() => void> = [];
  return {
    now: timers.now,
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    advance: timers.advance,
    setImmediate(callback: () => void) {
      immediates.push(callback);
    },
    turn() {
      const batch = immediates;
      immediates = [];
      for (const callback of batch) callback();
    },
    get queued() {
      return immediates.length;
    },
  } satisfies Timers & Record<string, unknown>;
}

class FakeSocket implements ServerSocket {
  readonly frames: ServerFrame[] = [];
  bufferedAmount = 0;
  session: EngineSession | undefined;

  send(data: string, callback?: (error?: Error) => void): void {
    const decoded = decodeServerFrame(data);
    if (!decoded.ok) throw new Error(`the engine wrote an invalid frame: ${data}`);
    this.frames.push(decoded.frame);
    callback?.();
  }

  close(): void {}
  terminate(): void {}

  send_(frame: object): void {
    this.session!.receive(JSON.stringify(frame));
  }

  strangers(): NearbyStranger[] {
    return this.frames.flatMap((frame) => (frame.type === 'stranger_update' ? frame.strangers : []));
  }

  take(): ServerFrame[] {
    return this.frames.splice(0);
  }
}

const START = Date.UTC(2026, 0, 1, 12, 0, 0);
const SEOUL = { lat: 37.5665, lon: 126.978 };

async function setUp(strangers: StrangersOptions) {
  const timers = loopTimers(START);
  const engine = createNearbyEngine({
    friends: { getFriends: async () => [] },
    busProbeIntervalMs: 0,
    idleTimeoutMs: 0,
    sweepIntervalMs: 60_000,
    rateLimit: { frames: { capacity: 1e6, refillPerSecond: 1e6 }, locations: { capacity: 1e6, refillPerSecond: 1e6 } },
    timers,
    strangers,
  });
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 1000; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      if (timers.queued === 0) {
        await new Promise((resolve) => setImmediate(resolve));
        if (timers.queued === 0) return;
      }
      timers.turn();
    }
    throw new Error('the engine kept scheduling work');
  };
  await engine.start();
  const connect = (userId: string) => {
    const socket = new FakeSocket();
    socket.session = engine.accept(socket, userId);
    return socket;
  };
  let seq = 0;
  const move = (socket: FakeSocket, lat: number, lon: number) =>
    socket.send_({ type: 'location', seq: seq++, samples: [{ lat, lon, timestamp: timers.now() }] });
  return { engine, timers, settle, connect, move };
}

describe('nearby people in the engine (manual timers)', () => {
  it('re-sends a stranger already listed at most once per refreshMs, with the latest entry', async () => {
    const { timers, settle, connect, move } = await setUp({ refreshMs: 5_000, publishIntervalMs: 0, secret: 'sixteen-characters!' });
    const carol = connect('carol');
    const dan = connect('dan');
    carol.send_({ type: 'init', v: 1, location: { ...SEOUL, timestamp: timers.now() }, discoverable: true, seeStrangers: false });
    dan.send_({ type: 'init', v: 1, location: { lat: 37.57, lon: 126.99, timestamp: timers.now() }, discoverable: false, seeStrangers: true });
    await settle();
    move(carol, SEOUL.lat + 0.0001, SEOUL.lon); // the same cells: a publish, no change Dan could see
    await settle();
    const first = dan.strangers();
    expect(first).toHaveLength(1);
    const id = createHmac('sha256', 'sixteen-characters!').update('dan\u0000carol').digest('base64url').slice(0, 16);
    expect(first[0]!.id).toBe(id);
    dan.take();

    // Two moves to other display cells within the refresh window: nothing at once…
    timers.advance(1_000);
    move(carol, SEOUL.lat + 0.012, SEOUL.lon);
    await settle();
    timers.advance(1_000);
    move(carol, SEOUL.lat + 0.024, SEOUL.lon);
    await settle();
    expect(dan.strangers()).toEqual([]);
    // …then, once refreshMs since the last send has passed, one entry: the latest.
    timers.advance(2_999);
    await settle();
    expect(dan.strangers()).toEqual([]);
    timers.advance(1);
    await settle();
    const refreshed = dan.strangers();
    expect(refreshed).toHaveLength(1);
    expect(refreshed[0]!.id).toBe(id);
    expect(refreshed[0]!.lat).toBeGreaterThan(first[0]!.lat + 0.015);
    dan.take();

    // Nothing changed since: no frame at the next window either.
    timers.advance(10_000);
    move(carol, SEOUL.lat + 0.0241, SEOUL.lon);
    await settle();
    expect(dan.strangers()).toEqual([]);
  });

  it('publishes moves within one display cell at most once per publishIntervalMs, so updatedAt moves in 30 s steps', async () => {
    const { timers, settle, connect, move } = await setUp({ refreshMs: 0, publishIntervalMs: 10_000 });
    const carol = connect('carol');
    const dan = connect('dan');
    carol.send_({ type: 'init', v: 1, location: { ...SEOUL, timestamp: timers.now() }, discoverable: true });
    dan.send_({ type: 'init', v: 1, location: { lat: 37.57, lon: 126.99, timestamp: timers.now() }, seeStrangers: true });
    await settle();
    move(carol, SEOUL.lat + 0.0001, SEOUL.lon);
    await settle();
    const [entry] = dan.strangers();
    expect(entry!.updatedAt % 30_000).toBe(0);
    expect(entry!.updatedAt).toBeLessThanOrEqual(timers.now());
    expect(entry!.updatedAt).toBe(START);
    dan.take();
    // Published at 22 s (more than 10 s since the first publish): still the same 30 s bucket, nothing to send.
    timers.advance(22_000);
    move(carol, SEOUL.lat + 0.0002, SEOUL.lon);
    await settle();
    expect(dan.strangers()).toEqual([]);
    // At 31 s, only 9 s after the last publish: not published, so Dan's entry keeps its time.
    timers.advance(9_000);
    move(carol, SEOUL.lat + 0.0003, SEOUL.lon);
    await settle();
    expect(dan.strangers()).toEqual([]);
    // At 33 s it is: the time moves to the next 30 s step.
    timers.advance(2_000);
    move(carol, SEOUL.lat + 0.0004, SEOUL.lon);
    await settle();
    expect(dan.strangers().map((stranger) => stranger.updatedAt)).toEqual([START + 30_000]);
  });

  it('asks canSee once per pair per canSeeCacheMs, and a new refusal removes the stranger (not_allowed)', async () => {
    const answers = new Map<string, boolean>([['dan>carol', true]]);
    const asked: string[] = [];
    const { timers, settle, connect, move } = await setUp({
      refreshMs: 0,
      publishIntervalMs: 0,
      canSeeCacheMs: 60_000,
      canSee: (viewer, stranger) => {
        asked.push(`${viewer}>${stranger}`);
        return answers.get(`${viewer}>${stranger}`) ?? false;
      },
      identify: (_viewer, stranger) => ({ display: { name: stranger.toUpperCase() } }),
    });
    const carol = connect('carol');
    const dan = connect('dan');
    carol.send_({ type: 'init', v: 1, location: { ...SEOUL, timestamp: timers.now() }, discoverable: true });
    dan.send_({ type: 'init', v: 1, location: { lat: 37.57, lon: 126.99, timestamp: timers.now() }, seeStrangers: true });
    await settle();
    expect(dan.strangers().map((stranger) => stranger.display)).toEqual([{ name: 'CAROL' }]);
    for (let i = 1; i <= 5; i++) {
      timers.advance(5_000);
      move(carol, SEOUL.lat + (i % 2 === 0 ? 0.006 : 0.018), SEOUL.lon);
      await settle();
    }
    expect(asked).toEqual(['dan>carol']);
    expect(dan.strangers().length).toBeGreaterThan(1);
    // The host changes its mind; the next question after the cache expires gets the refusal.
    answers.set('dan>carol', false);
    dan.take();
    timers.advance(40_000);
    move(carol, SEOUL.lat + 0.006, SEOUL.lon);
    await settle();
    expect(asked).toEqual(['dan>carol', 'dan>carol']);
    expect(dan.take()).toEqual([{ type: 'stranger_left', id: expect.any(String), reason: 'not_allowed' }]);
    timers.advance(5_000);
    move(carol, SEOUL.lat + 0.018, SEOUL.lon);
    await settle();
    expect(dan.take()).toEqual([]);
  });

  it('allows one discovery frame per second per connection', async () => {
    const { timers, settle, connect } = await setUp({});
    const carol = connect('carol');
    carol.send_({ type: 'init', v: 1, location: { ...SEOUL, timestamp: timers.now() } });
    await settle();
    carol.take();
    carol.send_({ type: 'discovery', discoverable: true });
    carol.send_({ type: 'discovery', seeStrangers: true });
    await settle();
    expect(carol.take()).toEqual([
      { type: 'error', code: 'rate_limited', message: 'at most one discovery frame per second', frameType: 'discovery' },
      { type: 'discovery_state', discoverable: false, seeStrangers: false },
      { type: 'discovery_state', discoverable: true, seeStrangers: false },
    ]);
    timers.advance(1_000);
    carol.send_({ type: 'discovery', seeStrangers: true });
    await settle();
    expect(carol.take()).toEqual([{ type: 'discovery_state', discoverable: true, seeStrangers: true }]);
  });
});

describe('the strangers option', () => {
  const friends = { getFriends: async () => [] as string[] };
  const refusal = (strangers: unknown, extra: Record<string, unknown> = {}): string => {
    try {
      createNearbyEngine({ friends, strangers: strangers as StrangersOptions, ...extra });
    } catch (error) {
      expect(error).toBeInstanceOf(NearbyError);
      expect((error as NearbyError).code).toBe(ErrorCode.INVALID_ARGUMENT);
      return (error as Error).message;
    }
    throw new Error('expected invalid_argument');
  };

  it.each([3, 8, 4.5, '5', Number.NaN])('refuses precision %s, naming it', (precision) => {
    expect(refusal({ precision })).toMatch(/^strangers\.precision must be an integer from 4 to 7/);
  });

  it('refuses other bad values, naming each', () => {
    expect(refusal({ displayPrecision: 9 })).toMatch(/^strangers\.displayPrecision must be an integer from 3 to 7/);
    expect(refusal({ maxPerViewer: 0 })).toMatch(/^strangers\.maxPerViewer must be an integer from 1 to 100/);
    expect(refusal({ maxPerViewer: 101 })).toMatch(/^strangers\.maxPerViewer/);
    expect(refusal({ refreshMs: -1 })).toMatch(/^strangers\.refreshMs/);
    expect(refusal({ canSeeCacheMs: Number.POSITIVE_INFINITY })).toMatch(/^strangers\.canSeeCacheMs/);
    expect(refusal({ canSeeCacheMs: 0 })).toMatch(/^strangers\.canSeeCacheMs must be a positive/);
    expect(refusal({ canSeeCacheMs: 999 })).toBe('strangers.canSeeCacheMs must be at least 1000, got 999');
    expect(refusal({ secret: 'short' })).toBe('strangers.secret must be a string of at least 16 characters');
    expect(refusal({ canSee: true })).toBe('strangers.canSee must be a function, got boolean');
    expect(refusal({ enabled: 'yes' })).toMatch(/^strangers\.enabled must be a boolean/);
    expect(refusal({ channelPrefix: 'nearby:u:' })).toMatch(/^strangers\.channelPrefix must differ/);
    expect(refusal(5)).toMatch(/^strangers must be an object/);
  });

  it('requires a secret when pubsub is shared, and not when strangers are off', () => {
    const shared = { pubsub: new MemoryPubSub(), settings: new MemorySettingsStore(), presence: new MemoryPresenceRegistry() };
    expect(refusal({}, shared)).toMatch(/^strangers\.secret is required when pubsub is shared/);
    expect(() => createNearbyEngine({ friends, ...shared, strangers: { enabled: false } })).not.toThrow();
    expect(() => createNearbyEngine({ friends, ...shared, strangers: { secret: 'x'.repeat(16) } })).not.toThrow();
  });
});
