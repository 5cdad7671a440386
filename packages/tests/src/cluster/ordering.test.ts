import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServerProcess, redisAvailable } from '../helpers/redis-server.js';
import { TestFriendGraph } from '../helpers/server-resource.js';
import { RawPeer, at } from '../helpers/raw-peer.js';
import { ORIGIN, offsetKm } from '../helpers/geo.js';
import { startCluster, type ClusterEnv } from './cluster.js';

/**
 * Per-user order is the privacy barrier: once "sharing off" is applied, no later position of
 * the user reaches anyone, on any process, whatever an earlier change of the user is still
 * waiting for (a Redis round trip, the host's friendAdded). Checked on raw frames over two
 * server processes and a real redis-server, many times, because the window is a race.
 */

const TRIALS = 100;

describe('frames of a user take effect in the order they were sent, on every process', () => {
  let redis: RedisServerProcess | undefined;
  let cluster: ClusterEnv | undefined;
  const peers: RawPeer[] = [];

  beforeAll(async () => {
    if (!redisAvailable()) return;
    redis = await RedisServerProcess.start();
    cluster = await startCluster({
      servers: 2,
      redis,
      serverOptions: { rateLimit: { locations: { capacity: 1000, refillPerSecond: 1000 }, frames: { capacity: 1000, refillPerSecond: 1000 } } },
    });
    cluster.graph = new TestFriendGraph();
  }, 30_000);

  afterAll(async () => {
    for (const peer of peers.splice(0)) peer.socket.terminate();
    await cluster?.close();
    await redis?.stop();
  });

  async function peer(userId: string, serverIndex: number): Promise<RawPeer> {
    const p = new RawPeer(cluster!.urlFor(userId, serverIndex));
    peers.push(p);
    await p.opened;
    return p;
  }

  /** `sharer` on process 0, a friend `remote` on process 1 and a friend `local` on process 0, all close together. */
  async function trio(trial: string, sharing: boolean) {
    const ids = { sharer: `sharer-${trial}`, remote: `remote-${trial}`, local: `local-${trial}` };
    cluster!.graph.link(ids.sharer, ids.remote);
    cluster!.graph.link(ids.sharer, ids.local);
    const remote = await peer(ids.remote, 1);
    const local = await peer(ids.local, 0);
    const sharer = await peer(ids.sharer, 0);
    const near = offsetKm(ORIGIN, 0.5);
    await remote.init({ location: at(ORIGIN.lat, ORIGIN.lon), sharing: true });
    await local.init({ location: at(near.lat, near.lon), sharing: true });
    await sharer.init({ location: at(ORIGIN.lat, ORIGIN.lon + 0.001), sharing });
    return { ids, sharer, remote, local };
  }

  /** Positions sent after "sharing off" carry this longitude band, so any of them on the wire is recognisable. */
  const secretPoint = (trial: number, k: number) => ({ lat: ORIGIN.lat + 0.002, lon: ORIGIN.lon + 0.01 + trial * 1e-5 + k * 1e-7 });

  /**
   * Everything the sharer sent has been handled (a radius change queued behind it came back as
   * a snapshot), everything its process published has reached every process, and the viewers
   * have been written to.
   */
  async function settled(sharer: RawPeer, viewers: RawPeer[], marker: number): Promise<void> {
    sharer.send({ type: 'radius', radiusKm: marker });
    await sharer.waitFor((f) => f.type === 'snapshot' && f.radiusKm === marker);
    await cluster!.fence();
    for (const viewer of viewers) await viewer.sync();
  }

  function leaked(viewer: RawPeer, sharerId: string, from: number): string[] {
    return viewer.frames.slice(from).flatMap((f) =>
      f.type === 'friend_update' ? f.friends.filter((x) => x.userId === sharerId).map((x) => `${x.lat},${x.lon}`) : [],
    );
  }

  it(`sharing on and off in one write, then ten positions 1 ms apart: none of them is shown (${TRIALS} trials)`, async (ctx) => {
    if (cluster === undefined) return ctx.skip();
    const leaks: string[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const { ids, sharer, remote, local } = await trio(`seq-${trial}`, false);
      const marks = [remote.frames.length, local.frames.length];
      sharer.send({ type: 'sharing', enabled: true });
      sharer.send({ type: 'sharing', enabled: false });
      for (let k = 0; k < 10; k++) {
        const point = secretPoint(trial, k);
        sharer.send({ type: 'location', seq: k, samples: [at(point.lat, point.lon)] });
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await settled(sharer, [remote, local], 7.5);
      for (const [i, viewer] of [remote, local].entries()) {
        for (const position of leaked(viewer, ids.sharer, marks[i]!)) leaks.push(`trial ${trial}: ${i === 0 ? 'other process' : 'same process'} saw ${position}`);
      }
      for (const p of [sharer, remote, local]) p.socket.terminate();
    }
    expect(leaks).toEqual([]);
  }, 120_000);

  it(`the host adds a friend just as the user turns sharing off and sends a position: it is not shown (${TRIALS} trials)`, async (ctx) => {
    if (cluster === undefined) return ctx.skip();
    const leaks: string[] = [];
    let departures = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const { ids, sharer, remote, local } = await trio(`fa-${trial}`, true);
      // Both friends see the sharer before the change.
      await remote.waitFor((f) => f.type === 'friend_update' && f.friends.some((x) => x.userId === ids.sharer));
      const marks = [remote.frames.length, local.frames.length];
      const newFriend = `new-${trial}`;
      cluster.graph.link(ids.sharer, newFriend);
      const added = cluster.friendAdded(ids.sharer, newFriend, 0);
      const point = secretPoint(trial, 0);
      sharer.send({ type: 'sharing', enabled: false });
      sharer.send({ type: 'location', seq: 1, samples: [at(point.lat, point.lon)] });
      await added;
      await settled(sharer, [remote, local], 7.5);
      for (const [i, viewer] of [remote, local].entries()) {
        for (const position of leaked(viewer, ids.sharer, marks[i]!)) leaks.push(`trial ${trial}: ${i === 0 ? 'other process' : 'same process'} saw ${position}`);
        if (viewer.frames.slice(marks[i]).some((f) => f.type === 'friend_left' && f.userId === ids.sharer && f.reason === 'sharing_off')) departures++;
      }
      for (const p of [sharer, remote, local]) p.socket.terminate();
    }
    expect(leaks).toEqual([]);
    // Every friend was told, on both processes, every time.
    expect(departures).toBe(2 * TRIALS);
  }, 120_000);
});
