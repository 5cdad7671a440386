import { describe, expect, it } from 'vitest';
import { decodeServerFrame, type ServerFrame } from '@nearby/protocol';
import type { ServerSocket } from './connection.js';
import type { PresenceRegistry, SettingsStore } from '../adapters/types.js';
import { MemoryPresenceRegistry } from '../adapters/memory/presence-registry.js';
import { MemoryPubSub, MemoryPubSubHub } from '../adapters/memory/pubsub.js';
import { MemorySettingsStore } from '../adapters/memory/settings-store.js';
import { createNearbyEngine, type EngineSession, type NearbyEngine } from './engine.js';

/** A socket-like object that records what the engine writes, and closes like a socket would. */
class FakeSocket implements ServerSocket {
  readonly frames: ServerFrame[] = [];
  bufferedAmount = 0;
  closedWith: number | undefined;
  session: EngineSession | undefined;

  send(data: string, callback?: (error?: Error) => void): void {
    const decoded = decodeServerFrame(data);
    if (!decoded.ok) throw new Error(`the engine wrote an invalid frame: ${data}`);
    this.frames.push(decoded.frame);
    callback?.();
  }

  close(code: number): void {
    this.closedWith = code;
    setImmediate(() => this.session?.closed(code));
  }

  terminate(): void {
    this.close(1006);
  }

  send_(frame: object): void {
    this.session!.receive(JSON.stringify(frame));
  }

  async next(type: ServerFrame['type'], from = 0): Promise<ServerFrame> {
    for (let i = 0; i < 200; i++) {
      const frame = this.frames.slice(from).find((f) => f.type === type);
      if (frame !== undefined) return frame;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error(`no ${type} frame; got ${JSON.stringify(this.frames)}`);
  }
}

function connect(engine: NearbyEngine, userId: string): FakeSocket {
  const socket = new FakeSocket();
  socket.session = engine.accept(socket, userId);
  return socket;
}

const at = (lat: number, lon: number) => ({ lat, lon, timestamp: Date.now() });

describe('the engine on its own: a user id and a socket-like object, nothing from http', () => {
  it('runs sessions, fan-out, sign-off, drain and close', async () => {
    const graph: Record<string, string[]> = { alice: ['bob'], bob: ['alice'] };
    const engine = createNearbyEngine({ friends: { getFriends: async (id) => graph[id] ?? [] }, busProbeIntervalMs: 0 });
    expect(engine.accepting).toBe(false);
    await engine.start();
    expect(engine.state).toBe('running');
    const alice = connect(engine, 'alice');
    const bob = connect(engine, 'bob');
    alice.send_({ type: 'init', v: 1, location: at(37.5665, 126.978) });
    await alice.next('snapshot');
    bob.send_({ type: 'init', v: 1, location: at(37.57, 126.98) });
    expect(await bob.next('snapshot')).toMatchObject({ friends: [{ userId: 'alice' }] });
    expect(await alice.next('friend_update')).toMatchObject({ friends: [{ userId: 'bob' }] });

    // A deliberate sign-off (1000 from the client) tells friends "offline".
    bob.session!.closed(1000);
    expect(await alice.next('friend_left')).toEqual({ type: 'friend_left', userId: 'bob', reason: 'offline' });
    expect(engine.stats()).toMatchObject({ connections: 1, users: 1 });

    const drained = engine.drain({ windowMs: 0 });
    expect(engine.accepting).toBe(false);
    await drained;
    expect(alice.frames.at(-1)).toMatchObject({ type: 'reconnect', reason: 'draining' });
    expect(alice.closedWith).toBe(1012);
    expect(engine.stats().connections).toBe(0);
    await engine.close();
    expect(engine.state).toBe('closed');
  });

  it('refuses friendship changes with invalid ids', async () => {
    const engine = createNearbyEngine({ friends: { getFriends: async () => [] }, busProbeIntervalMs: 0 });
    await expect(engine.friendAdded('a', 'a')).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(engine.friendRemoved('', 'b')).rejects.toMatchObject({ code: 'invalid_argument' });
    await engine.close();
  });
});

describe('the engine with settings and presence stores', () => {
  const graph: Record<string, string[]> = { alice: ['bob'], bob: ['alice'] };
  const friends = { getFriends: async (id: string) => graph[id] ?? [] };

  /** Two engines sharing a bus, and the given stores, the way two processes share Redis. */
  async function pair(shared: { settings: SettingsStore | false; presence: PresenceRegistry | false }) {
    const hub = new MemoryPubSubHub();
    const engines = ['p1', 'p2'].map((serverId) =>
      createNearbyEngine({ friends, pubsub: new MemoryPubSub({ hub }), ...shared, serverId, busProbeIntervalMs: 0 }),
    );
    await Promise.all(engines.map((engine) => engine.start()));
    return engines as [NearbyEngine, NearbyEngine];
  }

  it('announces a sign-off only when no other process holds the user, and keeps settings across processes', async () => {
    const settings = new MemorySettingsStore();
    const presence = new MemoryPresenceRegistry();
    const [p1, p2] = await pair({ settings, presence });
    const bob = connect(p1, 'bob');
    bob.send_({ type: 'init', v: 1, location: at(37.5665, 126.978) });
    await bob.next('snapshot');
    const aliceHere = connect(p1, 'alice');
    const aliceThere = connect(p2, 'alice');
    aliceHere.send_({ type: 'init', v: 1, location: at(37.57, 126.98) });
    aliceThere.send_({ type: 'init', v: 1, radiusKm: 3 });
    await Promise.all([aliceHere.next('snapshot'), aliceThere.next('snapshot')]);
    await bob.next('friend_update');
    aliceThere.send_({ type: 'radius', radiusKm: 4 });
    for (let i = 0; i < 100 && (await settings.get('alice'))?.radiusKm !== 4; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await settings.get('alice')).toMatchObject({ radiusKm: 4 });

    aliceHere.session!.closed(1000); // signed off on p1, still connected on p2
    await p1.close();
    expect(bob.frames.some((frame) => frame.type === 'friend_left')).toBe(false);
    expect(presence.size).toBe(1);
    await p2.close();
  });

  it('without presence, announces a sign-off although the user is connected to another process', async () => {
    const [p1, p2] = await pair({ settings: false, presence: false });
    const bob = connect(p1, 'bob');
    bob.send_({ type: 'init', v: 1, location: at(37.5665, 126.978) });
    await bob.next('snapshot');
    const aliceHere = connect(p1, 'alice');
    const aliceThere = connect(p2, 'alice');
    aliceHere.send_({ type: 'init', v: 1, location: at(37.57, 126.98) });
    aliceThere.send_({ type: 'init', v: 1 });
    await Promise.all([aliceHere.next('snapshot'), aliceThere.next('snapshot')]);
    aliceHere.session!.closed(1000);
    expect(await bob.next('friend_left')).toMatchObject({ userId: 'alice', reason: 'offline' });
    await Promise.all([p1.close(), p2.close()]);
  });

  it('connects the stores it is given at start, and closes only the ones it created', async () => {
    const calls: string[] = [];
    const settings: SettingsStore = {
      get: async () => undefined,
      set: async () => {},
      connect: async () => void calls.push('settings connect'),
      close: async () => void calls.push('settings close'),
    };
    const presence: PresenceRegistry = {
      add: async () => {},
      remove: async () => 0,
      connect: async () => void calls.push('presence connect'),
      close: async () => void calls.push('presence close'),
    };
    const engine = createNearbyEngine({ friends, settings, presence, busProbeIntervalMs: 0 });
    await engine.start();
    expect(calls).toEqual(['settings connect', 'presence connect']);
    await engine.close();
    expect(calls).toEqual(['settings connect', 'presence connect']);

    const failing = createNearbyEngine({
      friends,
      presence: { ...presence, connect: async () => Promise.reject(new Error('presence backend down')) },
      busProbeIntervalMs: 0,
    });
    await expect(failing.start()).rejects.toThrow('presence backend down');
    await failing.close();
  });
});
