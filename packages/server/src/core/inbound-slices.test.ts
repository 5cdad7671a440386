import { describe, expect, it } from 'vitest';
import { decodeServerFrame, type ServerFrame } from '@nearby/protocol';
import type { ServerSocket } from './connection.js';
import { createNearbyEngine, type EngineSession, type NearbyEngine } from './engine.js';
import { manualTimers } from '../manual-timers.test-support.js';
import type { Timers } from '../timers.js';

/** Manual timers whose check phase (the immediates) runs only when the test calls `turn()`. */
function loopTimers() {
  const timers = manualTimers(Date.now());
  let immediates: Array<() => void> = [];
  return {
    now: timers.now,
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    advance: timers.advance,
    setImmediate(callback: () => void) {
      immediates.push(callback);
    },
    /** One check phase: the immediates queued before it. */
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
  pauses = 0;
  resumes = 0;

  send(data: string, callback?: (error?: Error) => void): void {
    const decoded = decodeServerFrame(data);
    if (!decoded.ok) throw new Error(`the engine wrote an invalid frame: ${data}`);
    this.frames.push(decoded.frame);
    callback?.();
  }

  close(): void {}
  terminate(): void {}
  pause(): void {
    this.pauses++;
  }
  resume(): void {
    this.resumes++;
  }

  send_(frame: object): void {
    this.session!.receive(JSON.stringify(frame));
  }

  /** Latitudes of `friendId` in the friend_update frames received. */
  latitudesOf(friendId: string): number[] {
    return this.frames.flatMap((frame) => (frame.type === 'friend_update' ? frame.friends.filter((f) => f.userId === friendId).map((f) => f.lat) : []));
  }
}

const graph: Record<string, string[]> = { alice: ['bob'], bob: ['alice'] };
const relaxed = { capacity: 1e6, refillPerSecond: 1e6 };

async function setUp(sliceFrames: number) {
  const timers = loopTimers();
  const engine = createNearbyEngine({
    friends: { getFriends: async (id) => graph[id] ?? [] },
    busProbeIntervalMs: 0,
    idleTimeoutMs: 0,
    inboundSliceFrames: sliceFrames,
    rateLimit: { frames: relaxed, locations: relaxed },
    timers,
  });
  /** Runs check phases and lets promises settle until nothing is left to do. */
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
  const alice = connect('alice');
  const bob = connect('bob');
  alice.send_({ type: 'init', v: 1, location: { lat: 37.5, lon: 127, timestamp: timers.now() } });
  bob.send_({ type: 'init', v: 1, location: { lat: 37.51, lon: 127, timestamp: timers.now() } });
  await settle();
  expect(bob.frames.some((frame) => frame.type === 'snapshot')).toBe(true);
  bob.frames.length = 0;
  alice.frames.length = 0;
  /** Closes the engine, moving the manual clock on while it waits for its timers. */
  const close = async (): Promise<void> => {
    let closed = false;
    const closing = engine.close().then(() => (closed = true));
    for (let i = 0; i < 1000 && !closed; i++) {
      timers.advance(1000);
      timers.turn();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await closing;
  };
  return { engine, timers, alice, bob, settle, close };
}

const location = (seq: number, lat: number, timestamp: number) => ({ type: 'location', seq, samples: [{ lat, lon: 127, timestamp }] });
const latOf = (i: number) => 37.5 + i * 1e-4;

describe('inbound frames beyond a turn’s budget', () => {
  it('are parked and handled a slice per turn, each slice flushed at once; parked moves of a device in a row share one live update', async () => {
    const { engine, timers, alice, bob, settle, close } = await setUp(2);
    // One I/O callback brings 7 location frames of alice: 2 are handled at once, 5 parked.
    for (let i = 1; i <= 7; i++) alice.send_(location(i, latOf(i), timers.now() + i));
    expect(engine.stats().framesParked).toBe(5);
    expect(bob.frames).toEqual([]);

    timers.advance(100); // flushes run at most every 100 ms while frames stay parked
    timers.turn(); // slice [3, 4]: one live update (4), then the flush
    expect(bob.latitudesOf('alice')).toEqual([latOf(4)]);
    timers.advance(100);
    timers.turn(); // slice [5, 6]
    timers.advance(100);
    timers.turn(); // slice [7]
    await settle();
    // 1 and 2 were replaced in bob's queue before the flush, 3 and 5 before any fan-out.
    expect(bob.latitudesOf('alice')).toEqual([latOf(4), latOf(6), latOf(7)]);
    expect(engine.stats()).toMatchObject({ liveSamplesCoalesced: 2, samplesAcked: 7 });
    // Every sample is still stored and acked, in order.
    const acks = alice.frames.filter((frame) => frame.type === 'ack').map((frame) => frame.seq);
    expect(acks).toEqual([1, 2, 3, 4, 5, 6, 7]);
    await close();
  });

  it('keeps a device’s order: a parked move after "sharing off" is never shared', async () => {
    const { engine, timers, alice, bob, settle, close } = await setUp(2);
    alice.send_({ type: 'ping', id: 1 });
    alice.send_({ type: 'ping', id: 2 }); // the turn's budget is spent: what follows is parked
    alice.send_(location(1, latOf(1), timers.now() + 1));
    alice.send_({ type: 'sharing', enabled: false });
    alice.send_(location(2, latOf(2), timers.now() + 2));
    alice.send_(location(3, latOf(3), timers.now() + 3));
    expect(engine.stats().framesParked).toBe(4);
    await settle();
    expect(bob.latitudesOf('alice')).not.toContain(latOf(2));
    expect(bob.latitudesOf('alice')).not.toContain(latOf(3));
    expect(bob.frames.at(-1)).toEqual({ type: 'friend_left', userId: 'alice', reason: 'sharing_off' });
    const pongs = alice.frames.filter((frame) => frame.type === 'pong').map((frame) => frame.id);
    expect(pongs).toEqual([1, 2]);
    await close();
  });

  it('stops reading a socket with a full inbox and reads it again once a slice made room', async () => {
    const { engine, alice, settle, close } = await setUp(4);
    for (let i = 0; i < 300; i++) alice.send_({ type: 'ping', id: i });
    expect(alice.pauses).toBe(1);
    expect(alice.resumes).toBe(0);
    await settle();
    expect(alice.resumes).toBe(1);
    const pongs = alice.frames.filter((frame) => frame.type === 'pong').map((frame) => frame.id);
    expect(pongs).toEqual(Array.from({ length: 300 }, (_, i) => i));
    await close();
  });
});
