import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { distanceKm, LeaveReason } from '@nearby/protocol';
import { startServer, type ServerResource } from './helpers/server-resource.js';
import { RawPeer, at } from './helpers/raw-peer.js';
import { ORIGIN, offsetKm } from './helpers/geo.js';

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

/** Alice at the origin and her friend Bob 1 km north, once Alice's socket has received Bob. */
async function aliceSeesBob(): Promise<{ alice: RawPeer; bob: RawPeer }> {
  env.graph.link('alice', 'bob');
  const alice = await peer('alice');
  const bob = await peer('bob');
  await alice.init({ location: sample(ORIGIN) });
  await bob.init({ location: sample(offsetKm(ORIGIN, 1)) });
  await alice.waitFor((f) => f.type === 'friend_update');
  return { alice, bob };
}

/** After a round trip on both sockets: nothing that names `userId` reached `viewer` since frame `mark`. */
async function expectNothingAbout(viewer: RawPeer, sender: RawPeer, userId: string, mark: number): Promise<void> {
  await sender.sync();
  await viewer.sync();
  expect(viewer.raw.slice(mark).some((text) => text.includes(userId))).toBe(false);
}

beforeEach(async () => {
  env = await startServer();
});

afterEach(async () => {
  for (const p of peers.splice(0)) p.socket.terminate();
  await env.close();
});

describe('location flow between friends (raw frames)', () => {
  it('two friends see each other with the right distance and update time', async () => {
    env.graph.link('alice', 'bob');
    const bobAt = offsetKm(ORIGIN, 3);
    const alice = await peer('alice');
    const bob = await peer('bob');
    const aliceSnapshot = await alice.init({ location: sample(ORIGIN) });
    expect(aliceSnapshot).toMatchObject({ userId: 'alice', radiusKm: 8, sharing: true, friends: [] });

    const before = Date.now();
    const bobSnapshot = await bob.init({ location: sample(bobAt) });
    // Alice shared her position first, so Bob's first list already has her.
    expect(bobSnapshot.friends).toHaveLength(1);
    expect(bobSnapshot.friends[0]).toMatchObject({ userId: 'alice', lat: ORIGIN.lat, lon: ORIGIN.lon });
    expect(bobSnapshot.friends[0]!.distanceKm).toBeCloseTo(3, 1);

    const update = await alice.waitFor((f) => f.type === 'friend_update');
    if (update.type !== 'friend_update') throw new Error('unreachable');
    expect(update.friends).toHaveLength(1);
    const seen = update.friends[0]!;
    expect(seen.userId).toBe('bob');
    expect(seen.lat).toBe(bobAt.lat);
    expect(seen.distanceKm).toBe(distanceKm(ORIGIN, bobAt));
    expect(seen.updatedAt).toBeGreaterThanOrEqual(before);
    expect(seen.updatedAt).toBeLessThanOrEqual(Date.now());
  });

  it('never sends a friend outside the viewer radius, then sends them once they come in range', async () => {
    env.graph.link('alice', 'carol');
    const alice = await peer('alice');
    const carol = await peer('carol');
    await alice.init({ location: sample(ORIGIN), radiusKm: 5 });
    await carol.init({ location: sample(offsetKm(ORIGIN, 20)) });
    carol.send(locationFrame(offsetKm(ORIGIN, 12)));
    carol.send(locationFrame(offsetKm(ORIGIN, 6)));
    await carol.sync();
    await alice.sync();
    // Nothing about Carol reached Alice's socket: not her position, not even her id.
    expect(alice.raw.some((text) => text.includes('carol'))).toBe(false);

    carol.send(locationFrame(offsetKm(ORIGIN, 4)));
    const update = await alice.waitFor((f) => f.type === 'friend_update');
    expect(update).toMatchObject({ friends: [{ userId: 'carol' }] });
  });

  it('a friend who moves out of range leaves with out_of_range and is not sent after', async () => {
    const { alice, bob } = await aliceSeesBob();
    bob.send(locationFrame(offsetKm(ORIGIN, 30)));
    const left = await alice.waitFor((f) => f.type === 'friend_left');
    expect(left).toEqual({ type: 'friend_left', userId: 'bob', reason: LeaveReason.OUT_OF_RANGE });
    const mark = alice.frames.length;
    bob.send(locationFrame(offsetKm(ORIGIN, 31)));
    await expectNothingAbout(alice, bob, 'bob', mark);
  });

  it('a radius change takes effect at once with a new snapshot', async () => {
    env.graph.link('alice', 'bob');
    const alice = await peer('alice');
    const bob = await peer('bob');
    await bob.init({ location: sample(offsetKm(ORIGIN, 10)) });
    const first = await alice.init({ location: sample(ORIGIN) });
    expect(first.friends).toEqual([]);

    const widen = alice.frames.length;
    alice.send({ type: 'radius', radiusKm: 12 });
    const wider = await alice.waitFor((f) => f.type === 'snapshot', widen);
    expect(wider).toMatchObject({ type: 'snapshot', radiusKm: 12, friends: [{ userId: 'bob' }] });

    const mark = alice.frames.length;
    alice.send({ type: 'radius', radiusKm: 2 });
    const narrower = await alice.waitFor((f) => f.type === 'snapshot', mark);
    expect(narrower).toMatchObject({ radiusKm: 2, friends: [] });
    bob.send(locationFrame(offsetKm(ORIGIN, 9)));
    await bob.sync();
    await alice.sync();
    expect(alice.updatedFriends(mark)).toEqual([]);
  });

  it('unfriending stops updates at once and says why', async () => {
    const { alice, bob } = await aliceSeesBob();

    env.graph.unlink('alice', 'bob');
    await env.server.friendRemoved('alice', 'bob');
    const left = await alice.waitFor((f) => f.type === 'friend_left');
    expect(left).toEqual({ type: 'friend_left', userId: 'bob', reason: LeaveReason.UNFRIENDED });
    await alice.waitFor((f) => f.type === 'friend_removed' && f.userId === 'bob');
    await bob.waitFor((f) => f.type === 'friend_left' && f.userId === 'alice' && f.reason === 'unfriended');

    const mark = alice.frames.length;
    bob.send(locationFrame(offsetKm(ORIGIN, 0.5)));
    await expectNothingAbout(alice, bob, 'bob', mark);
    expect(env.server.stats().channels).toBe(2); // each now follows only their own channel
  });

  it('a friendship added live subscribes both sides and shows them to each other', async () => {
    const alice = await peer('alice');
    const bob = await peer('bob');
    await alice.init({ location: sample(ORIGIN) });
    await bob.init({ location: sample(offsetKm(ORIGIN, 2)) });
    env.graph.link('alice', 'bob');
    await env.server.friendAdded('alice', 'bob');
    await alice.waitFor((f) => f.type === 'friend_added' && f.userId === 'bob');
    // Bob's cached position is read when the friendship starts: no need to wait for his next update.
    const update = await alice.waitFor((f) => f.type === 'friend_update');
    expect(update).toMatchObject({ friends: [{ userId: 'bob' }] });
    await bob.waitFor((f) => f.type === 'friend_update' && f.friends.some((x) => x.userId === 'alice'));
  });

  it('sharing off removes the user from friends lists, and sharing on brings them back', async () => {
    const { alice, bob } = await aliceSeesBob();

    const bobMark = bob.frames.length;
    bob.send({ type: 'sharing', enabled: false });
    expect(await alice.waitFor((f) => f.type === 'friend_left')).toEqual({
      type: 'friend_left',
      userId: 'bob',
      reason: LeaveReason.SHARING_OFF,
    });
    // While not sharing, Bob sees nobody either.
    expect(await bob.waitFor((f) => f.type === 'snapshot', bobMark)).toMatchObject({ sharing: false, friends: [] });

    const mark = alice.frames.length;
    bob.send(locationFrame(offsetKm(ORIGIN, 0.5)));
    await expectNothingAbout(alice, bob, 'bob', mark);

    // A user who joins now does not get Bob's old position from the cache either.
    env.graph.link('dave', 'bob');
    const dave = await peer('dave');
    expect((await dave.init({ location: sample(ORIGIN) })).friends).toEqual([]);

    bob.send({ type: 'sharing', enabled: true });
    await alice.waitFor((f) => f.type === 'friend_update' && f.friends.some((x) => x.userId === 'bob'), mark);
  });

  it('a session that starts with sharing off withdraws the position friends still show', async () => {
    env.graph.link('alice', 'bob');
    const alice = await peer('alice');
    const bob = await peer('bob');
    await bob.init({ location: sample(ORIGIN) });
    await alice.init({ location: sample(offsetKm(ORIGIN, 1)) });
    await bob.waitFor((f) => f.type === 'friend_update');
    alice.socket.terminate(); // a dropped connection: friends keep her until she is inactive
    await alice.closed;
    const again = await peer('alice');
    await again.init({ sharing: false });
    expect(await bob.waitFor((f) => f.type === 'friend_left')).toEqual({
      type: 'friend_left',
      userId: 'alice',
      reason: LeaveReason.SHARING_OFF,
    });
  });

  it('a device whose clock runs ahead does not freeze the position sent by the user\'s other device', async () => {
    env.graph.link('alice', 'bob');
    const fast = await peer('alice');
    const right = await peer('alice');
    const bob = await peer('bob');
    await bob.init({ location: sample(ORIGIN) });
    await fast.init();
    await right.init();
    fast.send({ type: 'location', seq: 1, samples: [sample(offsetKm(ORIGIN, 1), Date.now() + 5 * 60_000)] });
    await bob.waitFor((f) => f.type === 'friend_update');
    const mark = bob.frames.length;
    const there = offsetKm(ORIGIN, 2);
    right.send({ type: 'location', seq: 1, samples: [sample(there)] });
    await bob.waitFor((f) => f.type === 'friend_update' && f.friends[0]?.lat === there.lat, mark);
  });

  it('two devices of one user share one list and both receive updates', async () => {
    env.graph.link('alice', 'bob');
    const phone = await peer('alice');
    const tablet = await peer('alice');
    const bob = await peer('bob');
    await phone.init({ location: sample(ORIGIN) });
    await tablet.init();
    await bob.init({ location: sample(offsetKm(ORIGIN, 2)) });
    const a = await phone.waitFor((f) => f.type === 'friend_update');
    const b = await tablet.waitFor((f) => f.type === 'friend_update');
    expect(a).toEqual(b);

    // A radius set on one device applies to both.
    const mark = tablet.frames.length;
    phone.send({ type: 'radius', radiusKm: 1 });
    expect(await tablet.waitFor((f) => f.type === 'snapshot', mark)).toMatchObject({ radiusKm: 1, friends: [] });

    // One device leaving keeps the user online on the other.
    await phone.close(1000);
    const bobMark = bob.frames.length;
    tablet.send({ type: 'radius', radiusKm: 8 });
    await tablet.waitFor((f) => f.type === 'snapshot' && f.friends.length === 1, mark + 1);
    await bob.sync();
    expect(bob.frames.slice(bobMark).some((f) => f.type === 'friend_left')).toBe(false);
  });

  it('a deliberate sign-off (close 1000) tells friends "offline"; a dropped socket does not', async () => {
    env.graph.link('alice', 'bob');
    env.graph.link('alice', 'carol');
    const alice = await peer('alice');
    const bob = await peer('bob');
    const carol = await peer('carol');
    await alice.init({ location: sample(ORIGIN) });
    await bob.init({ location: sample(offsetKm(ORIGIN, 1)) });
    await carol.init({ location: sample(offsetKm(ORIGIN, 2)) });
    await alice.waitFor((f) => f.type === 'friend_update' && f.friends.some((x) => x.userId === 'carol'));

    await bob.close(1000);
    expect(await alice.waitFor((f) => f.type === 'friend_left')).toEqual({
      type: 'friend_left',
      userId: 'bob',
      reason: LeaveReason.OFFLINE,
    });
    carol.socket.terminate();
    await carol.closed;
    await alice.sync();
    expect(alice.ofType('friend_left').map((f) => f.userId)).toEqual(['bob']);
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

  it('friendAdded with invalid ids rejects with invalid_argument instead of throwing', async () => {
    await expect(env.server.friendAdded('alice', 'alice')).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(env.server.friendRemoved('', 'bob')).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('acknowledges location samples only after the history store accepted them', async () => {
    const alice = await peer('alice');
    await alice.init({ location: sample(ORIGIN) });
    alice.send({ type: 'location', seq: 41, samples: [sample(ORIGIN, 1000), sample(offsetKm(ORIGIN, 0.1), 2000)] });
    expect(await alice.waitFor((f) => f.type === 'ack')).toEqual({ type: 'ack', seq: 41, count: 2 });
  });
});
