import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { LeaveReason } from '@nearby/protocol';
import { MemoryLocationCache, MemoryPresenceRegistry, MemoryPubSub, MemoryPubSubHub, MemorySettingsStore } from '@nearby/server';
import { startServer, TestFriendGraph, type ServerResource } from './helpers/server-resource.js';
import { RawPeer, at } from './helpers/raw-peer.js';
import { ORIGIN, offsetKm } from './helpers/geo.js';

/**
 * Two server processes' worth of servers in one test process, sharing a bus, a cache, settings
 * and presence the way processes share Redis: everything a user sees must not depend on which
 * server they reached.
 */
let servers: ServerResource[] = [];
const peers: RawPeer[] = [];

async function cluster(count: number): Promise<ServerResource[]> {
  const graph = new TestFriendGraph();
  const hub = new MemoryPubSubHub();
  const cache = new MemoryLocationCache();
  const settings = new MemorySettingsStore();
  const presence = new MemoryPresenceRegistry();
  servers = [];
  for (let i = 0; i < count; i++) {
    servers.push(await startServer({ graph, cache, settings, presence, pubsub: new MemoryPubSub({ hub }), serverId: `s${i}` }));
  }
  return servers;
}

async function peer(server: ServerResource, userId: string): Promise<RawPeer> {
  const p = await RawPeer.connect(server.urlFor(userId));
  peers.push(p);
  return p;
}

let seq = 0;
function move(p: RawPeer, point: { lat: number; lon: number }): void {
  p.send({ type: 'location', seq: ++seq, samples: [at(point.lat, point.lon)] });
}

afterEach(async () => {
  for (const p of peers.splice(0)) p.socket.terminate();
  await Promise.all(servers.map((s) => s.close()));
});

describe('servers sharing a bus', () => {
  it('friends on different servers see each other, filtered by radius', async () => {
    const [s0, s1] = await cluster(2);
    s0!.graph.link('alice', 'bob');
    const alice = await peer(s0!, 'alice');
    const bob = await peer(s1!, 'bob');
    await alice.init({ location: at(ORIGIN.lat, ORIGIN.lon) });
    // Alice's position reached Bob's server through the shared cache.
    expect((await bob.init({ location: at(offsetKm(ORIGIN, 2).lat, ORIGIN.lon) })).friends).toMatchObject([{ userId: 'alice' }]);
    await alice.waitFor((f) => f.type === 'friend_update' && f.friends[0]?.userId === 'bob');

    move(bob, offsetKm(ORIGIN, 20));
    expect(await alice.waitFor((f) => f.type === 'friend_left')).toMatchObject({ userId: 'bob', reason: LeaveReason.OUT_OF_RANGE });
    const mark = alice.frames.length;
    move(bob, offsetKm(ORIGIN, 21));
    await bob.sync();
    await alice.sync();
    expect(alice.raw.slice(mark).some((t) => t.includes('bob'))).toBe(false);
  });

  it('friendAdded and friendRemoved called on a server where neither user is connected reach both', async () => {
    const [s0, s1, s2] = await cluster(3);
    const alice = await peer(s0!, 'alice');
    const bob = await peer(s1!, 'bob');
    await alice.init({ location: at(ORIGIN.lat, ORIGIN.lon) });
    await bob.init({ location: at(offsetKm(ORIGIN, 1).lat, ORIGIN.lon) });
    s2!.graph.link('alice', 'bob');
    await s2!.server.friendAdded('alice', 'bob');
    await alice.waitFor((f) => f.type === 'friend_added' && f.userId === 'bob');
    await bob.waitFor((f) => f.type === 'friend_added' && f.userId === 'alice');
    await alice.waitFor((f) => f.type === 'friend_update' && f.friends[0]?.userId === 'bob');

    s2!.graph.unlink('alice', 'bob');
    await s2!.server.friendRemoved('alice', 'bob');
    expect(await alice.waitFor((f) => f.type === 'friend_left')).toMatchObject({ userId: 'bob', reason: LeaveReason.UNFRIENDED });
    await bob.waitFor((f) => f.type === 'friend_removed' && f.userId === 'alice');
  });

  it('devices of one user on different servers stay in sync: position, radius and sharing', async () => {
    const [s0, s1, s2] = await cluster(3);
    s0!.graph.link('alice', 'bob');
    const phone = await peer(s0!, 'alice');
    const laptop = await peer(s1!, 'alice');
    const bob = await peer(s2!, 'bob');
    await phone.init({ location: at(ORIGIN.lat, ORIGIN.lon) });
    await laptop.init();
    await bob.init({ location: at(offsetKm(ORIGIN, 3).lat, ORIGIN.lon) });
    // The laptop never sent a position, but computes distances from the phone's.
    const onLaptop = await laptop.waitFor((f) => f.type === 'friend_update');
    const onPhone = await phone.waitFor((f) => f.type === 'friend_update');
    expect(onLaptop).toEqual(onPhone);

    let mark = laptop.frames.length;
    phone.send({ type: 'radius', radiusKm: 2 });
    expect(await laptop.waitFor((f) => f.type === 'snapshot', mark)).toMatchObject({ radiusKm: 2, friends: [] });

    mark = laptop.frames.length;
    phone.send({ type: 'sharing', enabled: false });
    expect(await laptop.waitFor((f) => f.type === 'snapshot', mark)).toMatchObject({ sharing: false });
    expect(await bob.waitFor((f) => f.type === 'friend_left')).toMatchObject({ userId: 'alice', reason: LeaveReason.SHARING_OFF });
  });

  it('a radius sent in init reaches the user\'s devices on other servers', async () => {
    const [s0, s1] = await cluster(2);
    const phone = await peer(s0!, 'alice');
    await phone.init({ location: at(ORIGIN.lat, ORIGIN.lon) });
    const mark = phone.frames.length;
    const laptop = await peer(s1!, 'alice');
    await laptop.init({ radiusKm: 3 });
    expect(await phone.waitFor((f) => f.type === 'snapshot', mark)).toMatchObject({ radiusKm: 3 });
  });

  it('a close the server started is never a sign-off, even when the client answers it with 1000', async () => {
    const [s0, s1] = await cluster(2);
    s0!.graph.link('alice', 'bob');
    const alice = await peer(s0!, 'alice');
    const bob = await peer(s1!, 'bob');
    await alice.init({ location: at(ORIGIN.lat, ORIGIN.lon) });
    expect((await bob.init({ location: at(offsetKm(ORIGIN, 1).lat, ORIGIN.lon) })).friends).toHaveLength(1);
    // This client answers the drain notice by closing with 1000 itself.
    alice.socket.on('message', (data) => {
      if (data.toString().includes('"reconnect"')) alice.socket.close(1000);
    });
    await s0!.server.drain({ windowMs: 0 });
    await alice.closed;
    await bob.sync();
    expect(bob.ofType('friend_left')).toEqual([]);
  });

  it('signing off on one server while connected on another is not "offline"; the last sign-off is', async () => {
    const [s0, s1, s2] = await cluster(3);
    s0!.graph.link('alice', 'bob');
    const phone = await peer(s0!, 'alice');
    const laptop = await peer(s1!, 'alice');
    const bob = await peer(s2!, 'bob');
    await phone.init({ location: at(ORIGIN.lat, ORIGIN.lon) });
    await laptop.init();
    expect((await bob.init({ location: at(offsetKm(ORIGIN, 1).lat, ORIGIN.lon) })).friends).toHaveLength(1);
    await phone.close(1000);
    // Alice's laptop moves after the phone left: Bob must see that update, and never an "offline".
    const there = offsetKm(ORIGIN, 2);
    laptop.send({ type: 'location', seq: 1, samples: [at(there.lat, there.lon)] });
    await bob.waitFor((f) => f.type === 'friend_update' && f.friends[0]?.lat === there.lat);
    expect(bob.ofType('friend_left')).toEqual([]);
    await laptop.close(1000);
    expect(await bob.waitFor((f) => f.type === 'friend_left')).toMatchObject({ userId: 'alice', reason: LeaveReason.OFFLINE });
  });

  it('account settings are saved: a later session on another server starts with them', async () => {
    const [s0, s1] = await cluster(2);
    const first = await peer(s0!, 'alice');
    await first.init();
    first.send({ type: 'radius', radiusKm: 3 });
    await first.waitFor((f) => f.type === 'snapshot' && f.radiusKm === 3);
    first.send({ type: 'sharing', enabled: false });
    await first.waitFor((f) => f.type === 'snapshot' && !f.sharing);
    await first.close(1000);
    const later = await peer(s1!, 'alice');
    expect(await later.init()).toMatchObject({ radiusKm: 3, sharing: false });
  });

  it('the fix sent in init and again in the first batch is published once, but stored', async () => {
    const [s0] = await cluster(1);
    const alice = await peer(s0!, 'alice');
    const fix = at(ORIGIN.lat, ORIGIN.lon);
    await alice.init({ location: fix });
    const published = s0!.server.stats().busMessagesPublished;
    alice.send({ type: 'location', seq: 1, samples: [fix] });
    await alice.waitFor((f) => f.type === 'ack' && f.seq === 1);
    expect(s0!.server.stats().busMessagesPublished).toBe(published);
    // A different position with the same timestamp is a new fix.
    alice.send({ type: 'location', seq: 2, samples: [{ ...fix, lat: fix.lat + 0.001 }] });
    await alice.waitFor((f) => f.type === 'ack' && f.seq === 2);
    expect(s0!.server.stats().busMessagesPublished).toBe(published + 1);
  });

  it('each server subscribes once to a channel, whatever the number of its local followers', async () => {
    const [s0, s1] = await cluster(2);
    for (const fan of ['f1', 'f2', 'f3']) s0!.graph.link(fan, 'star');
    for (const fan of ['f1', 'f2', 'f3']) await (await peer(s0!, fan)).init({ location: at(ORIGIN.lat, ORIGIN.lon) });
    const star = await peer(s1!, 'star');
    await star.init({ location: at(ORIGIN.lat, ORIGIN.lon) });
    expect(s0!.server.stats().channels).toBe(4); // three own channels + one "star"
    const before = s0!.server.stats().busMessagesIn;
    move(star, offsetKm(ORIGIN, 0.5));
    await star.sync();
    await expect.poll(() => s0!.server.stats().busMessagesIn - before).toBe(1);
  });
});

describe('attaching to an existing http server', () => {
  let http: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve())));

  it('serves the protocol on its path and leaves other upgrades and requests to the host', async () => {
    http = createServer((_request, response) => response.end('host app'));
    let otherUpgrades = 0;
    http.on('upgrade', (request, socket) => {
      if (request.url?.startsWith('/other')) {
        otherUpgrades++;
        socket.destroy();
      }
    });
    const { createNearbyServer } = await import('@nearby/server');
    const graph = new TestFriendGraph();
    const server = createNearbyServer({
      authenticate: () => 'alice',
      friends: graph,
      server: http,
      path: '/realtime',
    });
    await server.listen();
    await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', () => resolve()));
    const port = (http.address() as { port: number }).port;
    const alice = await RawPeer.connect(`ws://127.0.0.1:${port}/realtime`);
    expect(await alice.init()).toMatchObject({ userId: 'alice' });
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('host app');
    const other = new RawPeer(`ws://127.0.0.1:${port}/other`);
    await other.closed;
    expect(otherUpgrades).toBe(1);
    alice.socket.terminate();
    await server.close();
  });
});
