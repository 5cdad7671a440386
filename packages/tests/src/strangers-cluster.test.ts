import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StrangerLeftReason, type LatLon, type ServerFrame } from '@nearby/protocol';
import { RedisClusterPubSub, createRedisAdapters, type RedisAdapters } from '@nearby/server/redis';
import { RedisServerProcess } from './helpers/redis-server.js';
import { RedisClusterProcess, redisClusterAvailable } from './helpers/redis-cluster.js';
import { startServer, TestFriendGraph, type ServerResource } from './helpers/server-resource.js';
import { RawPeer } from './helpers/raw-peer.js';
import { join, listOf, move, numbersIn, pseudonymFor } from './helpers/strangers.js';
import { ORIGIN, geohashLonSpan, geohashOf, offsetKm } from './helpers/geo.js';

/**
 * Nearby people across two servers whose Pub/Sub is sharded Pub/Sub on a real three-master
 * Redis Cluster (location cache, settings and presence on one redis-server, as the cluster
 * deployment wires them): a stranger's cell channels, opt-out and sign-off reach a viewer on
 * the other process, whichever master serves each cell's slot.
 */
const SECRET = 'shared-by-every-process-0002';
const pseudonym = pseudonymFor(SECRET);
const CHANNEL_PREFIX = 'nearby:g:';
const PRECISION = 5;
const available = redisClusterAvailable();
let redis: RedisServerProcess | undefined;
let redisCluster: RedisClusterProcess | undefined;
let servers: ServerResource[] = [];
let pubsubs: RedisClusterPubSub[] = [];
let adapters: RedisAdapters[] = [];
const peers: RawPeer[] = [];

beforeAll(async () => {
  if (!available) return;
  redis = await RedisServerProcess.start();
  redisCluster = await RedisClusterProcess.start({ masters: 3 });
}, 60_000);

afterEach(async () => {
  for (const p of peers.splice(0)) p.socket.terminate();
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all(pubsubs.map((p) => p.close()));
  await Promise.all(adapters.map((a) => a.close()));
  servers = [];
  pubsubs = [];
  adapters = [];
});

afterAll(async () => {
  await Promise.all([redis, redisCluster].map((server) => server?.stop()));
});

/** Two servers, each with its own adapters: Pub/Sub on the Redis Cluster, the rest on the redis-server. */
async function twoServers(): Promise<[ServerResource, ServerResource]> {
  const graph = new TestFriendGraph();
  const keyPrefix = `strangers-cluster-${process.pid}-${Date.now()}:`;
  for (let i = 0; i < 2; i++) {
    const created = createRedisAdapters({ url: redis!.url, connectTimeoutMs: 2_000, keyPrefix });
    adapters.push(created);
    // Seeded from a different master each, so that neither relies on one node's answer.
    const pubsub = new RedisClusterPubSub({ nodes: [redisCluster!.urls[i]!, redisCluster!.urls[(i + 1) % 3]!], connectTimeoutMs: 5_000 });
    pubsubs.push(pubsub);
    const { cache, settings, presence } = created;
    servers.push(
      await startServer({
        graph,
        cache,
        pubsub,
        settings,
        presence,
        serverId: `c${i}`,
        strangers: { secret: SECRET, precision: PRECISION, channelPrefix: CHANNEL_PREFIX, publishIntervalMs: 0, refreshMs: 0 },
      }),
    );
  }
  return [servers[0]!, servers[1]!];
}

async function peer(server: ServerResource, userId: string): Promise<RawPeer> {
  const p = await RawPeer.connect(server.urlFor(userId));
  peers.push(p);
  return p;
}

/** Master serving a cell's channel, by the cluster's own slot map. */
async function masterOf(cell: string): Promise<number> {
  return redisCluster!.ownerOf(RedisClusterPubSub.slotOf(CHANNEL_PREFIX + cell));
}

/**
 * Everything published before now has reached every server: the stranger's server handled the
 * frames `publisher` sent, its publishes were answered by their masters, and every subscriber
 * connection has delivered what those masters had pushed before; the viewer's pong comes after
 * the frames that produced. Twice, for messages a delivery caused in turn (asks and answers).
 */
async function settle(publisher: RawPeer, viewer: RawPeer): Promise<void> {
  for (let round = 0; round < 2; round++) {
    await publisher.sync();
    await Promise.all(pubsubs.map((p) => p.fence('publishers')));
    await Promise.all(pubsubs.map((p) => p.fence('subscribers')));
    await viewer.sync();
  }
}

const strangerFrames = (p: RawPeer, from: number): ServerFrame[] => p.frames.slice(from).filter((f) => f.type.startsWith('stranger_'));

describe('nearby people on two servers over a real Redis Cluster', () => {
  it('a discoverable user on one process is listed, by cell only, for a viewer on the other', async (ctx) => {
    if (!available) return ctx.skip();
    const [s0, s1] = await twoServers();
    const carol = await peer(s0, 'carol');
    const dan = await peer(s1, 'dan');
    // Many decimals, so that no rounding of a cell centre can hit them by chance.
    const exact = { lat: 37.57271234, lon: 126.98331917 };
    await join(dan, ORIGIN, { seeStrangers: true });
    await join(carol, exact, { discoverable: true });
    const entry = await dan.waitFor((f) => f.type === 'stranger_update');
    expect(entry).toMatchObject({ strangers: [{ id: pseudonym('dan', 'carol') }] });
    await settle(carol, dan);
    expect([...listOf(dan).keys()]).toEqual([pseudonym('dan', 'carol')]);
    const [shown] = [...listOf(dan).values()];
    // The centre of her display cell (precision 6), to 4 decimals; the distance to it rounded up.
    expect(geohashOf(shown!, 6)).toBe(geohashOf(exact, 6));
    expect(Math.round(shown!.lat * 10_000) / 10_000).toBe(shown!.lat);
    expect(Math.round(shown!.lon * 10_000) / 10_000).toBe(shown!.lon);
    expect(Number.isInteger(shown!.distanceKm)).toBe(true);
    expect(shown!.updatedAt % 30_000).toBe(0);
    for (const text of dan.raw) {
      for (const value of numbersIn(text)) {
        for (const secret of [exact.lat, exact.lon]) expect(Math.abs(value - secret), `${value} in ${text}`).toBeGreaterThan(1e-4 / 2);
      }
      expect(text).not.toContain('carol');
    }
  });

  it('opting out removes the stranger from the list on the other process, as hidden', async (ctx) => {
    if (!available) return ctx.skip();
    const [s0, s1] = await twoServers();
    const carol = await peer(s0, 'carol');
    const dan = await peer(s1, 'dan');
    await join(carol, offsetKm(ORIGIN, 1), { discoverable: true });
    await join(dan, ORIGIN, { seeStrangers: true }); // Dan's server asks the cells; Carol's answers
    await dan.waitFor(() => listOf(dan).has(pseudonym('dan', 'carol')));

    const from = dan.frames.length;
    carol.send({ type: 'discovery', discoverable: false });
    expect(await dan.waitFor((f) => f.type === 'stranger_left', from)).toEqual({
      type: 'stranger_left',
      id: pseudonym('dan', 'carol'),
      reason: StrangerLeftReason.HIDDEN,
    });
    expect(listOf(dan).size).toBe(0);
    // Moving on while hidden reaches Dan no more.
    const mark = dan.frames.length;
    move(carol, offsetKm(ORIGIN, 1.5));
    await settle(carol, dan);
    expect(strangerFrames(dan, mark)).toEqual([]);
  });

  it('a stranger who crosses into a cell served by another master stays listed, only updated', async (ctx) => {
    if (!available) return ctx.skip();
    // A channel-cell edge (precision 5, a meridian) east of the origin whose two sides' channels
    // are served by different masters, so the old cell's "left" and the new cell's position
    // travel through different masters and may arrive in either order.
    const span = geohashLonSpan(PRECISION);
    const lat = ORIGIN.lat;
    let edge = Math.ceil((ORIGIN.lon + 180) / span) * span - 180;
    const side = (lon: number): LatLon => ({ lat, lon });
    for (let tries = 0; ; tries++) {
      expect(tries, 'no cell edge between cells on different masters').toBeLessThan(50);
      const west = geohashOf(side(edge - span / 20), PRECISION);
      const east = geohashOf(side(edge + span / 20), PRECISION);
      expect(west).not.toBe(east);
      if ((await masterOf(west)) !== (await masterOf(east))) break;
      edge += span;
    }
    const west = side(edge - span / 20); // about 0.2 km west of the edge
    const east = side(edge + span / 20);
    const [s0, s1] = await twoServers();
    const carol = await peer(s0, 'carol');
    const dan = await peer(s1, 'dan');
    // Dan 1 km south of the edge, in the west cell's column: both of Carol's cells are in his block.
    await join(dan, offsetKm(side(edge - span / 10), -1), { seeStrangers: true });
    await join(carol, west, { discoverable: true });
    const before = await dan.waitFor((f) => f.type === 'stranger_update' && f.strangers.some((s) => s.id === pseudonym('dan', 'carol')));
    expect((before as Extract<ServerFrame, { type: 'stranger_update' }>).strangers[0]!.lon).toBeLessThan(edge);
    await settle(carol, dan);

    const from = dan.frames.length;
    move(carol, east);
    const after = await dan.waitFor((f) => f.type === 'stranger_update' && f.strangers.some((s) => s.lon > edge), from);
    expect(after).toMatchObject({ strangers: [{ id: pseudonym('dan', 'carol') }] });
    await settle(carol, dan);
    expect(strangerFrames(dan, from).filter((f) => f.type !== 'stranger_update')).toEqual([]);
    expect([...listOf(dan).keys()]).toEqual([pseudonym('dan', 'carol')]);
    expect(geohashOf(listOf(dan).get(pseudonym('dan', 'carol'))!, 6)).toBe(geohashOf(east, 6));
    // Back across the edge, the other way round between the masters.
    const back = dan.frames.length;
    move(carol, west);
    await dan.waitFor((f) => f.type === 'stranger_update' && f.strangers.some((s) => s.lon < edge), back);
    await settle(carol, dan);
    expect(strangerFrames(dan, back).filter((f) => f.type !== 'stranger_update')).toEqual([]);
    expect(listOf(dan).size).toBe(1);
  });

  it("a stranger's last connection closing removes them from the other process's list, as offline", async (ctx) => {
    if (!available) return ctx.skip();
    const [s0, s1] = await twoServers();
    const phone = await peer(s0, 'carol');
    const laptop = await peer(s0, 'carol');
    const dan = await peer(s1, 'dan');
    await join(dan, ORIGIN, { seeStrangers: true });
    await join(phone, offsetKm(ORIGIN, 1), { discoverable: true });
    await join(laptop, offsetKm(ORIGIN, 1), { discoverable: true });
    await dan.waitFor(() => listOf(dan).has(pseudonym('dan', 'carol')));
    await settle(phone, dan);

    // One device of two closing is no sign-off.
    const from = dan.frames.length;
    await phone.close(1000);
    await settle(laptop, dan);
    expect(dan.frames.slice(from).filter((f) => f.type === 'stranger_left')).toEqual([]);
    expect(listOf(dan).has(pseudonym('dan', 'carol'))).toBe(true);

    await laptop.close(1000);
    expect(await dan.waitFor((f) => f.type === 'stranger_left', from)).toEqual({
      type: 'stranger_left',
      id: pseudonym('dan', 'carol'),
      reason: StrangerLeftReason.OFFLINE,
    });
    expect(listOf(dan).size).toBe(0);
    expect(s0.errors).toEqual([]);
    expect(s1.errors).toEqual([]);
  });
});
