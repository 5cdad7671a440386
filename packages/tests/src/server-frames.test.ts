import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startServer, type ServerResource } from './helpers/server-resource.js';
import { RawPeer, at } from './helpers/raw-peer.js';
import { ORIGIN, offsetKm } from './helpers/geo.js';
import { defineBehaviourSuite } from './behaviours.js';

/** Polls `check` on real timers until it holds; fails after `timeoutMs`. */
async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// Everything users see of their friends, on one server with the in-memory adapters. The same
// suite runs against three server processes sharing a real Redis in cluster/cluster.test.ts.
defineBehaviourSuite('one process, in-memory adapters', async () => {
  const env = await startServer();
  return {
    graph: env.graph,
    urlFor: (userId) => env.urlFor(userId),
    friendAdded: (a, b) => env.server.friendAdded(a, b),
    friendRemoved: (a, b) => env.server.friendRemoved(a, b),
    async quiesce(openConnections) {
      await until(() => env.server.stats().connections === openConnections, `the server holds ${openConnections} connections`);
      // The in-memory bus delivers in microtasks, presence and cache calls settle in microtasks.
      await nextTurn();
      await nextTurn();
    },
    close: () => env.close(),
  };
});

/** What only one process can show: its own subscription counters and API. */
describe('one server: subscriptions and API (raw frames)', () => {
  let env: ServerResource;
  const peers: RawPeer[] = [];

  async function peer(userId: string): Promise<RawPeer> {
    const p = await RawPeer.connect(env.urlFor(userId));
    peers.push(p);
    return p;
  }

  function sample(point: { lat: number; lon: number }, timestamp = Date.now()) {
    return at(point.lat, point.lon, timestamp);
  }

  let seq = 0;
  function locationFrame(point: { lat: number; lon: number }) {
    return { type: 'location', seq: ++seq, samples: [sample(point)] };
  }

  beforeEach(async () => {
    env = await startServer();
  });

  afterEach(async () => {
    for (const p of peers.splice(0)) p.socket.terminate();
    await env.close();
  });

  it("unfriending releases the channel of the former friend", async () => {
    env.graph.link('alice', 'bob');
    const alice = await peer('alice');
    await alice.init({ location: sample(ORIGIN) });
    expect(env.server.stats().channels).toBe(2); // her own and Bob's (Bob is not connected here)

    env.graph.unlink('alice', 'bob');
    await env.server.friendRemoved('alice', 'bob');
    await alice.waitFor((f) => f.type === 'friend_removed' && f.userId === 'bob');
    expect(env.server.stats().channels).toBe(1); // only her own
  });

  it('releases every subscription when the last connection closes', async () => {
    env.graph.link('alice', 'bob');
    env.graph.link('alice', 'carol');
    const alice = await peer('alice');
    await alice.init({ location: sample(ORIGIN) });
    expect(env.server.stats().channels).toBe(3); // own + two friends
    alice.socket.terminate();
    await alice.closed;
    await expect.poll(() => env.server.stats().channels).toBe(0);
    expect(env.server.stats().users).toBe(0);
  });

  it('subscribes once per server to a channel however many local users follow it', async () => {
    const fans = ['f1', 'f2', 'f3', 'f4'];
    for (const fan of fans) env.graph.link(fan, 'star');
    for (const fan of fans) await (await peer(fan)).init({ location: sample(ORIGIN) });
    // 4 own channels + 1 shared "star" channel, not 4 star subscriptions.
    expect(env.server.stats().channels).toBe(5);
    const star = await peer('star');
    await star.init({ location: sample(offsetKm(ORIGIN, 1)) });
    const published = env.server.stats().busMessagesPublished;
    star.send(locationFrame(offsetKm(ORIGIN, 1.5)));
    await star.sync();
    // One publish per update, whatever the number of friends.
    expect(env.server.stats().busMessagesPublished - published).toBe(1);
  });

  it('a viewer who walks towards a friend standing still sees them come into range', async () => {
    env.graph.link('alice', 'bob');
    const alice = await peer('alice');
    const bob = await peer('bob');
    await bob.init({ location: sample(ORIGIN) });
    expect((await alice.init({ location: sample(offsetKm(ORIGIN, 20)) })).friends).toEqual([]);
    alice.send(locationFrame(offsetKm(ORIGIN, 12)));
    alice.send(locationFrame(offsetKm(ORIGIN, 5)));
    const update = await alice.waitFor((f) => f.type === 'friend_update');
    expect(update).toMatchObject({ friends: [{ userId: 'bob' }] });
    alice.send(locationFrame(offsetKm(ORIGIN, 30)));
    expect(await alice.waitFor((f) => f.type === 'friend_left')).toMatchObject({ userId: 'bob', reason: 'out_of_range' });
  });

  it('when only the viewer moves, a friend in the list is sent again once the distance changed by 100 m', async () => {
    env.graph.link('alice', 'bob');
    const alice = await peer('alice');
    const bob = await peer('bob');
    await bob.init({ location: sample(ORIGIN) });
    expect((await alice.init({ location: sample(offsetKm(ORIGIN, 2)) })).friends).toHaveLength(1);
    const entriesSince = (mark: number) =>
      alice.frames.slice(mark).flatMap((f) => (f.type === 'friend_update' ? f.friends.map((x) => x.distanceKm) : []));
    let mark = alice.frames.length;
    alice.send(locationFrame(offsetKm(ORIGIN, 2.05))); // 50 m further: not worth a frame
    alice.send(locationFrame(offsetKm(ORIGIN, 2.09))); // 90 m from what was sent: still not
    await alice.sync();
    expect(entriesSince(mark)).toEqual([]);
    alice.send(locationFrame(offsetKm(ORIGIN, 2.12))); // 120 m: sent
    await alice.sync();
    expect(entriesSince(mark)).toHaveLength(1);
    expect(entriesSince(mark)[0]).toBeCloseTo(2.12, 2);
    // The friend's own new position is always sent, however small the move.
    mark = alice.frames.length;
    bob.send(locationFrame(offsetKm(ORIGIN, 0.001)));
    await alice.waitFor((f) => f.type === 'friend_update', mark);
    expect(env.server.stats().framesSent).toBeGreaterThan(alice.frames.length);
  });

  it('distanceRefreshKm 0 re-sends on every move of the viewer', async () => {
    const exact = await startServer({ distanceRefreshKm: 0 });
    try {
      exact.graph.link('alice', 'bob');
      const alice = await RawPeer.connect(exact.urlFor('alice'));
      const bob = await RawPeer.connect(exact.urlFor('bob'));
      await bob.init({ location: sample(ORIGIN) });
      await alice.init({ location: sample(offsetKm(ORIGIN, 2)) });
      const mark = alice.frames.length;
      alice.send(locationFrame(offsetKm(ORIGIN, 2.01)));
      await alice.waitFor((f) => f.type === 'friend_update', mark);
      alice.socket.terminate();
      bob.socket.terminate();
    } finally {
      await exact.close();
    }
  });

  it('friendAdded with invalid ids rejects with invalid_argument instead of throwing', async () => {
    await expect(env.server.friendAdded('alice', 'alice')).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(env.server.friendRemoved('', 'bob')).rejects.toMatchObject({ code: 'invalid_argument' });
  });
});
