import { afterEach, describe, expect, it, vi } from 'vitest';
import { NearbyClient, type NearbyClientOptions } from '@nearby/client';
import { ErrorCode, LeaveReason } from '@nearby/protocol';
import { MemoryHistoryStore, type HistorySample, type HistoryStore } from '@nearby/server';
import { startServer, tokenFor, type ServerResource } from './helpers/server-resource.js';
import { RawPeer, at } from './helpers/raw-peer.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
import { ORIGIN, offsetKm } from './helpers/geo.js';

let env: ServerResource | undefined;
let proxy: TcpProxy | undefined;
const clients: NearbyClient[] = [];
const peers: RawPeer[] = [];

function client(userId: string, options: Partial<NearbyClientOptions> = {}): NearbyClient {
  const c = new NearbyClient({
    url: proxy ? `ws://127.0.0.1:${proxy.port}/nearby` : env!.url,
    token: tokenFor(userId),
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    ...options,
  });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

/** Waits (in real time) until `check` passes. */
async function until(check: () => void): Promise<void> {
  await vi.waitFor(check, { timeout: 5_000, interval: 10 });
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const p of peers.splice(0)) p.socket.terminate();
  vi.useRealTimers();
  await proxy?.close();
  proxy = undefined;
  await env?.close();
  env = undefined;
});

describe('NearbyClient against a real server', () => {
  it('two friends see each other with the right distance and update time', async () => {
    env = await startServer();
    env.graph.link('alice', 'bob');
    const alice = client('alice');
    const bob = client('bob');
    alice.updateLocation(ORIGIN);
    bob.updateLocation(offsetKm(ORIGIN, 2.5));
    alice.connect();
    bob.connect();
    await Promise.all([alice.whenConnected(), bob.whenConnected()]);
    await until(() => expect(alice.getSnapshot().friends.map((f) => f.userId)).toEqual(['bob']));
    await until(() => expect(bob.getSnapshot().friends.map((f) => f.userId)).toEqual(['alice']));
    const seen = alice.getSnapshot().friends[0]!;
    expect(seen.distanceKm).toBeCloseTo(2.5, 1);
    expect(Date.now() - seen.updatedAt).toBeLessThan(60_000);
    expect(alice.getSnapshot()).toMatchObject({ state: 'connected', userId: 'alice', radiusKm: 8, sharing: true });

    const left = new Promise((resolve) => alice.on('friendLeft', resolve));
    bob.updateLocation(offsetKm(ORIGIN, 30)); // ≥ 500 m from the last sent fix: flushed at once
    expect(await left).toEqual({ userId: 'bob', reason: LeaveReason.OUT_OF_RANGE });
    expect(alice.getSnapshot().friends).toEqual([]);
  });

  it('a radius change and sharing off take effect through the client API', async () => {
    env = await startServer();
    env.graph.link('alice', 'bob');
    const alice = client('alice');
    const bob = client('bob');
    alice.updateLocation(ORIGIN);
    bob.updateLocation(offsetKm(ORIGIN, 6));
    alice.connect();
    bob.connect();
    await until(() => expect(alice.getSnapshot().friends).toHaveLength(1));
    alice.setRadius(5);
    await until(() => expect(alice.getSnapshot()).toMatchObject({ radiusKm: 5, friends: [] }));
    alice.setRadius(10);
    await until(() => expect(alice.getSnapshot().friends).toHaveLength(1));

    const reasons: string[] = [];
    alice.on('friendLeft', ({ reason }) => reasons.push(reason));
    bob.setSharing(false);
    await until(() => expect(reasons).toEqual([LeaveReason.SHARING_OFF]));
    await until(() => expect(bob.getSnapshot()).toMatchObject({ sharing: false, friends: [] }));
  });

  it('two devices of one user see the same list', async () => {
    env = await startServer();
    env.graph.link('alice', 'bob');
    env.graph.link('alice', 'carol');
    const phone = client('alice');
    const tablet = client('alice');
    phone.updateLocation(ORIGIN);
    phone.connect();
    tablet.connect();
    for (const [id, km] of [['bob', 1], ['carol', 4]] as const) {
      const friend = client(id);
      friend.updateLocation(offsetKm(ORIGIN, km));
      friend.connect();
    }
    await until(() => expect(phone.getSnapshot().friends.map((f) => f.userId)).toEqual(['bob', 'carol']));
    await until(() => expect(tablet.getSnapshot().friends).toEqual(phone.getSnapshot().friends));
    tablet.setRadius(2);
    await until(() => expect(phone.getSnapshot()).toMatchObject({ radiusKm: 2 }));
    await until(() => expect(phone.getSnapshot().friends.map((f) => f.userId)).toEqual(['bob']));
    expect(tablet.getSnapshot().friends).toEqual(phone.getSnapshot().friends);
  });

  it('a fresh client of the account starts with the saved settings instead of overwriting them', async () => {
    env = await startServer();
    const phone = client('alice');
    phone.connect();
    await phone.whenConnected();
    phone.setRadius(3);
    phone.setSharing(false);
    await until(() => expect(phone.getSnapshot()).toMatchObject({ radiusKm: 3, sharing: false }));
    phone.close();
    const reinstalled = client('alice'); // no radius or sharing options: nothing chosen on this device
    reinstalled.connect();
    await reinstalled.whenConnected();
    expect(reinstalled.getSnapshot()).toMatchObject({ radiusKm: 3, sharing: false });
  });

  it('after the network drops, the client reconnects and reconciles: no ghosts, nobody missing', async () => {
    env = await startServer();
    proxy = await TcpProxy.start(env.port);
    env.graph.link('alice', 'bob');
    env.graph.link('alice', 'carol');
    const alice = client('alice');
    alice.updateLocation(ORIGIN);
    alice.connect();
    // Bob and Carol talk to the server directly, not through the proxy.
    const bob = await RawPeer.connect(env.urlFor('bob'));
    const carol = await RawPeer.connect(env.urlFor('carol'));
    peers.push(bob, carol);
    await alice.whenConnected();
    await bob.init({ location: at(offsetKm(ORIGIN, 1).lat, ORIGIN.lon) });
    await carol.init({ location: at(offsetKm(ORIGIN, 40).lat, ORIGIN.lon) });
    await until(() => expect(alice.getSnapshot().friends.map((f) => f.userId)).toEqual(['bob']));

    const states: string[] = [];
    alice.on('state', (state) => states.push(state));
    proxy.refusing = true;
    proxy.cutAll();
    await until(() => expect(states).toContain('reconnecting'));
    // While Alice is away, Bob leaves her range and Carol enters it.
    bob.send({ type: 'location', seq: 1, samples: [at(offsetKm(ORIGIN, 50).lat, ORIGIN.lon)] });
    carol.send({ type: 'location', seq: 1, samples: [at(offsetKm(ORIGIN, 2).lat, ORIGIN.lon)] });
    await bob.sync();
    await carol.sync();
    proxy.refusing = false;

    await until(() => expect(alice.getSnapshot().state).toBe('connected'));
    expect(alice.getSnapshot().friends.map((f) => f.userId)).toEqual(['carol']);
    expect(proxy.connections).toBe(2);
  });

  it('an authentication rejection closes the client without a reconnect loop', async () => {
    env = await startServer();
    proxy = await TcpProxy.start(env.port);
    const mallory = new NearbyClient({ url: `ws://127.0.0.1:${proxy.port}/nearby`, token: 'forged', reconnect: { initialDelayMs: 1, maxDelayMs: 5 } });
    clients.push(mallory);
    const errors: string[] = [];
    mallory.on('error', (error) => errors.push(error.code));
    mallory.connect();
    await expect(mallory.whenConnected()).rejects.toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    expect(mallory.getSnapshot().state).toBe('closed');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(proxy.connections).toBe(1);
    expect(errors).toEqual([ErrorCode.UNAUTHORIZED]);
  });

  it('batches on the 30 s interval against the real server, and the history store gets every sample once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const history = new MemoryHistoryStore();
    env = await startServer({ history });
    const alice = client('alice', { heartbeat: false });
    alice.connect();
    await alice.whenConnected();
    const acks: number[] = [];
    alice.on('ack', ({ count }) => acks.push(count));
    const taken = [Date.now()];
    alice.updateLocation(ORIGIN); // first fix: sent at once
    await until(() => expect(acks).toEqual([1]));
    for (let i = 1; i <= 5; i++) {
      await vi.advanceTimersByTimeAsync(5_000);
      taken.push(Date.now());
      alice.updateLocation(offsetKm(ORIGIN, i * 0.01)); // small moves: held for the batch
    }
    await vi.advanceTimersByTimeAsync(4_000); // t = 29 s
    await new Promise((resolve) => setImmediate(resolve));
    expect(acks).toEqual([1]);
    expect(alice.getSnapshot().pendingSamples).toBe(5);
    await vi.advanceTimersByTimeAsync(1_000); // t = 30 s: one frame with the five held samples
    await until(() => expect(acks).toEqual([1, 5]));
    expect(alice.getSnapshot().pendingSamples).toBe(0);
    const stored: HistorySample[] = [];
    for await (const sample of history.query({ userId: 'alice' })) stored.push(sample);
    expect(stored.map((s) => s.recordedAt)).toEqual(taken);
    expect(env.server.stats().locationFrames).toBe(2);
  });

  it('a friend silent for 10 minutes expires on the server and on the client', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    env = await startServer({ idleTimeoutMs: 0 });
    env.graph.link('alice', 'bob');
    const alice = client('alice', { heartbeat: false });
    const bob = client('bob', { heartbeat: false });
    alice.updateLocation(ORIGIN);
    bob.updateLocation(offsetKm(ORIGIN, 1));
    alice.connect();
    bob.connect();
    await until(() => expect(alice.getSnapshot().friends).toHaveLength(1));
    const left: string[] = [];
    alice.on('friendLeft', ({ reason }) => left.push(reason));
    for (let elapsed = 0; elapsed < 9 * 60_000; elapsed += 30_000) await vi.advanceTimersByTimeAsync(30_000);
    expect(left).toEqual([]);
    for (let elapsed = 0; elapsed < 90_000; elapsed += 5_000) await vi.advanceTimersByTimeAsync(5_000);
    await until(() => expect(left).toEqual([LeaveReason.INACTIVE]));
    expect(alice.getSnapshot().friends).toEqual([]);
  });

  it('a history outage never blocks live updates; samples are stored exactly once when it ends', async () => {
    const inner = new MemoryHistoryStore();
    let down = true;
    let appends = 0;
    const flaky: HistoryStore = {
      append: async (samples) => {
        appends++;
        if (down) throw new Error('database unavailable');
        await inner.append(samples);
      },
      query: (query) => inner.query(query),
      prune: (before) => inner.prune(before),
    };
    env = await startServer({ history: flaky });
    env.graph.link('alice', 'bob');
    const alice = client('alice');
    const bob = client('bob', { flushIntervalMs: 200, ackTimeoutMs: 10_000 });
    const codes: string[] = [];
    bob.on('error', (error) => codes.push(error.code));
    alice.updateLocation(ORIGIN);
    alice.connect();
    bob.updateLocation(offsetKm(ORIGIN, 1));
    bob.connect();
    await until(() => expect(alice.getSnapshot().friends).toHaveLength(1));
    for (let i = 2; i <= 4; i++) {
      bob.updateLocation(offsetKm(ORIGIN, i)); // 1 km steps: each flushed at once
      await until(() => expect(alice.getSnapshot().friends[0]?.distanceKm).toBeCloseTo(i, 1));
    }
    // Live updates flowed; nothing was stored, so nothing was acknowledged.
    expect(codes).toContain(ErrorCode.HISTORY_UNAVAILABLE);
    expect(bob.getSnapshot().pendingSamples).toBe(4);
    expect(appends).toBeGreaterThan(0);

    down = false;
    await until(() => expect(bob.getSnapshot().pendingSamples).toBe(0));
    const stored: HistorySample[] = [];
    for await (const sample of inner.query({ userId: 'bob' })) stored.push(sample);
    expect(stored).toHaveLength(4);
    expect(new Set(stored.map((s) => s.recordedAt)).size).toBe(4);
  });
});
