import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode, NearbyError, decodeServerFrame, distanceKm, type NearbyStranger, type ServerFrame } from '@nearby/protocol';
import type { ServerSocket } from './connection.js';
import { createNearbyEngine, type EngineSession } from './engine.js';
import { blockOf, cellOf, centreOf } from './geocells.js';
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

  it('takes a stranger off the list as soon as they become a friend, and lists them again when the friendship ends', async () => {
    const { engine, timers, settle, connect } = await setUp({ refreshMs: 0, publishIntervalMs: 0, secret: 'sixteen-characters!' });
    const carol = connect('carol');
    const dan = connect('dan');
    carol.send_({ type: 'init', v: 1, location: { ...SEOUL, timestamp: timers.now() }, discoverable: true });
    dan.send_({ type: 'init', v: 1, location: { lat: 37.57, lon: 126.99, timestamp: timers.now() }, seeStrangers: true });
    await settle();
    const [listed] = dan.strangers();
    expect(listed).toBeDefined();
    dan.take();
    await engine.friendAdded('carol', 'dan');
    await settle();
    const frames = dan.take();
    expect(frames).toContainEqual({ type: 'stranger_left', id: listed!.id, reason: 'not_allowed' });
    expect(frames.some((frame) => frame.type === 'stranger_update')).toBe(false);
    await engine.friendRemoved('carol', 'dan');
    await settle();
    // No move needed: the ex-friend is a stranger again, under the same pseudonym.
    expect(dan.strangers().map((stranger) => stranger.id)).toEqual([listed!.id]);
  });

  it('lets a stranger who stood still take the place of one who moved farther away in a full list', async () => {
    const secret = 'sixteen-characters!';
    const { timers, settle, connect, move } = await setUp({ maxPerViewer: 2, refreshMs: 0, publishIntervalMs: 0, secret });
    const viewer = connect('viewer');
    viewer.send_({ type: 'init', v: 1, location: { ...SEOUL, timestamp: timers.now() }, seeStrangers: true });
    const near = connect('near');
    const middle = connect('middle');
    const far = connect('far');
    near.send_({ type: 'init', v: 1, location: { lat: SEOUL.lat + 0.001, lon: SEOUL.lon, timestamp: timers.now() }, discoverable: true });
    middle.send_({ type: 'init', v: 1, location: { lat: SEOUL.lat + 0.02, lon: SEOUL.lon, timestamp: timers.now() }, discoverable: true });
    far.send_({ type: 'init', v: 1, location: { lat: SEOUL.lat + 0.03, lon: SEOUL.lon, timestamp: timers.now() }, discoverable: true });
    await settle();
    const name = new Map(['near', 'middle', 'far'].map((id) => [createHmac('sha256', secret).update(`viewer\u0000${id}`).digest('base64url').slice(0, 16), id]));
    const list = new Set<string>();
    const apply = () => {
      for (const frame of viewer.take()) {
        if (frame.type === 'stranger_update') for (const stranger of frame.strangers) list.add(name.get(stranger.id)!);
        if (frame.type === 'stranger_left') list.delete(name.get(frame.id)!);
      }
      return [...list].sort();
    };
    expect(apply()).toEqual(['middle', 'near']);
    // `near` goes beyond `far`; `far` publishes nothing, yet it is now among the nearest two.
    timers.advance(1_000);
    move(near, SEOUL.lat + 0.04, SEOUL.lon);
    await settle();
    expect(apply()).toEqual(['far', 'middle']);
  });

  it('finds a stranger across the antimeridian and far north, where degrees of longitude are short', async () => {
    for (const [lat, west, east] of [
      [-16.5, 179.995, -179.985], // Fiji: about 2 km apart across ±180°
      [69.65, 18.95, 18.99], // Tromsø: about 1.5 km apart east–west
    ] as const) {
      const { timers, settle, connect, move } = await setUp({ refreshMs: 0, publishIntervalMs: 0 });
      const viewer = connect('viewer');
      viewer.send_({ type: 'init', v: 1, location: { lat, lon: west, timestamp: timers.now() }, seeStrangers: true });
      await settle();
      const stranger = connect('stranger');
      stranger.send_({ type: 'init', v: 1, location: { lat: lat + 0.01, lon: east, timestamp: timers.now() }, discoverable: true });
      await settle();
      expect(viewer.strangers(), `at ${lat}`).toHaveLength(1);
      expect(viewer.strangers()[0]!.distanceKm).toBeLessThanOrEqual(3);
      viewer.take();
      // A move within the radius keeps it listed; no stranger_left.
      timers.advance(1_000);
      move(stranger, lat - 0.01, east);
      await settle();
      expect(viewer.take().filter((frame) => frame.type === 'stranger_left')).toEqual([]);
    }
  });

  it('chooses among people of one display cell by a rank that stays the same for the viewer', async () => {
    const { timers, settle, connect, move } = await setUp({ maxPerViewer: 2, refreshMs: 0, publishIntervalMs: 0 });
    const viewer = connect('viewer');
    viewer.send_({ type: 'init', v: 1, location: { lat: SEOUL.lat + 0.02, lon: SEOUL.lon, timestamp: timers.now() }, seeStrangers: true });
    const crowd = Array.from({ length: 6 }, (_, i) => connect(`crowd-${i}`));
    crowd.forEach((socket, i) =>
      socket.send_({ type: 'init', v: 1, location: { lat: SEOUL.lat + i * 0.0001, lon: SEOUL.lon, timestamp: timers.now() }, discoverable: true }),
    );
    await settle();
    const list = new Set<string>();
    const apply = () => {
      for (const frame of viewer.take()) {
        if (frame.type === 'stranger_update') for (const stranger of frame.strangers) list.add(stranger.id);
        if (frame.type === 'stranger_left') list.delete(frame.id);
      }
      return [...list].sort();
    };
    const first = apply();
    expect(first).toHaveLength(2);
    // The viewer walks (each step rebuilds the list) and the crowd shuffles within its cell: the same two stay.
    for (let step = 1; step <= 4; step++) {
      timers.advance(1_000);
      move(viewer, SEOUL.lat + 0.02 + step * 0.0015, SEOUL.lon);
      crowd.forEach((socket, i) => move(socket, SEOUL.lat + ((i + step) % 6) * 0.0001, SEOUL.lon));
      await settle();
      expect(apply()).toEqual(first);
    }
  });

  it('keeps every viewer\'s list the nearest maxPerViewer as many people move in one dense area', async () => {
    const secret = 'sixteen-characters!';
    const maxPerViewer = 3;
    const { engine, timers, settle, connect, move } = await setUp({ maxPerViewer, refreshMs: 0, publishIntervalMs: 0, secret });
    // A fixed pseudo-random walk: 40 people, each discoverable and seeing strangers, in about 6 × 6 km.
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const place = () => ({ lat: SEOUL.lat + (random() - 0.5) * 0.055, lon: SEOUL.lon + (random() - 0.5) * 0.07 });
    const people = Array.from({ length: 40 }, (_, i) => ({ id: `p${i}`, socket: connect(`p${i}`), at: place(), list: new Map<string, number>() }));
    for (const person of people) {
      person.socket.send_({ type: 'init', v: 1, location: { ...person.at, timestamp: timers.now() }, discoverable: true, seeStrangers: true });
    }
    await settle();
    const pseudonym = (viewer: string, stranger: string) => createHmac('sha256', secret).update(`${viewer}\u0000${stranger}`).digest('base64url').slice(0, 16);
    // The nearest maxPerViewer by distance band (the whole km shown): everyone in a band before
    // the cut is listed, and the rest are in the cut's band (which of them is the server's choice).
    const candidates = (viewer: (typeof people)[number]) => {
      const block = new Set(blockOf(cellOf(viewer.at.lat, viewer.at.lon, 5)));
      return people
        .filter((other) => other !== viewer && block.has(cellOf(other.at.lat, other.at.lon, 5)))
        .map((other) => {
          const centre = centreOf(cellOf(other.at.lat, other.at.lon, 6));
          const exact = distanceKm(viewer.at, centre);
          return { id: pseudonym(viewer.id, other.id), exact, distance: Math.ceil(exact), limit: 8 + centre.halfDiagonalKm };
        })
        .filter((entry) => entry.exact <= entry.limit)
        .sort((a, b) => a.distance - b.distance);
    };
    const check = () => {
      for (const person of people) {
        for (const frame of person.socket.take()) {
          if (frame.type === 'stranger_update') for (const stranger of frame.strangers) person.list.set(stranger.id, stranger.distanceKm);
          if (frame.type === 'stranger_left') person.list.delete(frame.id);
        }
        const all = candidates(person);
        const listed = [...person.list.keys()];
        expect(listed.length, person.id).toBe(Math.min(maxPerViewer, all.length));
        if (all.length === 0) continue;
        const cut = all[Math.min(maxPerViewer, all.length) - 1]!.distance;
        const nearer = all.filter((entry) => entry.distance < cut).map((entry) => entry.id);
        const atCut = new Set(all.filter((entry) => entry.distance === cut).map((entry) => entry.id));
        for (const id of nearer) expect(listed, person.id).toContain(id);
        for (const id of listed) expect(nearer.includes(id) || atCut.has(id), person.id).toBe(true);
      }
    };
    check();
    for (let round = 0; round < 15; round++) {
      timers.advance(1_000);
      for (const person of people) {
        if (random() < 0.5) continue;
        // Mostly steps of 170–550 m (beyond the 100 m after which a viewer's list is rebuilt), sometimes a jump across the area.
        const step = () => (random() < 0.5 ? -1 : 1) * (0.0015 + random() * 0.0035);
        person.at = random() < 0.2 ? place() : { lat: person.at.lat + step(), lon: person.at.lon + (random() - 0.5) * 0.012 };
        move(person.socket, person.at.lat, person.at.lon);
      }
      await settle();
      check();
    }
    const stats = engine.stats();
    expect(stats.strangerViewers).toBe(40);
    expect(stats.strangersPublished).toBe(40);
    expect(stats.strangersKnown).toBe(40);
    expect(stats.strangersShown).toBe(people.reduce((sum, person) => sum + person.list.size, 0));
    expect(stats.strangerCells).toBeGreaterThanOrEqual(9);
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
