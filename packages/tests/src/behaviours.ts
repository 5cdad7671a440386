import { afterEach, beforeEach, describe, expect, it, type TestContext } from 'vitest';
import { distanceKm, LeaveReason, type ServerFrame } from '@nearby/protocol';
import type { TestFriendGraph } from './helpers/server-resource.js';
import { RawPeer, at } from './helpers/raw-peer.js';
import { ORIGIN, offsetKm } from './helpers/geo.js';
import { defineDeviceClockBehaviours } from './behaviours-clock.js';

/**
 * What the behaviour suite needs from a deployment: one process with in-memory adapters, or
 * several processes sharing a real Redis. The suite must pass unchanged on every one of them.
 */
export interface BehaviourEnv {
  /** The friend graph every server reads at session start. */
  graph: TestFriendGraph;
  /**
   * WebSocket URL authenticating as `userId`, on server `serverIndex` where the deployment has
   * several (a deployment with one server ignores it). The suite places friends on different
   * servers with it, and the devices of one user too.
   */
  urlFor(userId: string, serverIndex?: number): string;
  /** `server.friendAdded(a, b)`, called on whichever server the deployment chooses. */
  friendAdded(a: string, b: string): Promise<void>;
  friendRemoved(a: string, b: string): Promise<void>;
  /**
   * Resolves once the servers hold exactly `openConnections` connections in total (every close
   * the clients made has been processed) and everything the servers published before has been
   * delivered to every server. After this, a ping round trip on a socket proves that nothing more
   * is on its way to it. Used where a test must show that something did NOT happen after a close,
   * which no protocol frame can prove.
   */
  quiesce(openConnections: number): Promise<void>;
  close(): Promise<void>;
}

/** Server indexes the suite places users on (a one-server deployment ignores them). */
const S0 = 0;
const S1 = 1;
const S2 = 2;

type Point = { lat: number; lon: number };
type FriendUpdate = Extract<ServerFrame, { type: 'friend_update' }>;

/**
 * Defines the behaviour tests every deployment must pass: what users see of their friends over
 * the wire, checked on raw frames. Where friends sit on different server processes, updates
 * arrive asynchronously: tests wait for frames, never for a fixed time, and every "nothing was
 * sent" claim rests on an event that must come after it on the same path (a later update from
 * the same sender, or a probe update through the same server) or on `env.quiesce`.
 *
 * `makeEnv` receives the test context, so it can `ctx.skip()` when its backend is missing.
 */
export function defineBehaviourSuite(label: string, makeEnv: (ctx: TestContext) => Promise<BehaviourEnv>): void {
  describe(`behaviours: ${label}`, () => {
    let env: BehaviourEnv | undefined;
    const peers: RawPeer[] = [];
    let seq = 0;
    /**
     * The users of the current test. Ids are new in every test, so nothing a deployment keeps
     * about a user (cached position, saved settings, presence) carries over from an earlier test.
     */
    const u = { alice: '', bob: '', carol: '', dave: '', pat: '' };
    let testNumber = 0;

    beforeEach(async (ctx) => {
      env = undefined;
      testNumber++;
      for (const name of Object.keys(u) as Array<keyof typeof u>) u[name] = `${name}-${testNumber}`;
      env = await makeEnv(ctx);
    });

    afterEach(async () => {
      for (const p of peers.splice(0)) p.socket.terminate();
      const current = env;
      env = undefined;
      await current?.close();
    });

    function e(): BehaviourEnv {
      if (env === undefined) throw new Error('no environment');
      return env;
    }

    async function peer(userId: string, serverIndex: number): Promise<RawPeer> {
      const p = new RawPeer(e().urlFor(userId, serverIndex));
      peers.push(p);
      await p.opened;
      return p;
    }

    function sample(point: Point, timestamp = Date.now()) {
      return at(point.lat, point.lon, timestamp);
    }

    function move(p: RawPeer, point: Point): void {
      p.send({ type: 'location', seq: ++seq, samples: [sample(point)] });
    }

    function mentions(text: string, userId: string): boolean {
      return text.includes(JSON.stringify(userId));
    }

    function isUpdateOf(userId: string, point?: Point) {
      return (f: ServerFrame): f is FriendUpdate =>
        f.type === 'friend_update' &&
        f.friends.some((x) => x.userId === userId && (point === undefined || (x.lat === point.lat && x.lon === point.lon)));
    }

    /**
     * Waits for the frame after `mark` that matches, and checks that no earlier frame since
     * `mark` named `userId`. Sound across processes when the awaited frame carries a later event
     * of the same user: that user's messages reach every server in the order they were sent.
     */
    async function firstAbout<F extends ServerFrame>(
      viewer: RawPeer,
      userId: string,
      mark: number,
      match: (f: ServerFrame) => f is F,
    ): Promise<F> {
      const frame = await viewer.waitFor(match, mark);
      const index = viewer.frames.indexOf(frame, mark);
      expect(viewer.raw.slice(mark, index).filter((text) => mentions(text, userId))).toEqual([]);
      return frame;
    }

    /**
     * Everything `senders` sent has been handled by their server, delivered to every server, and
     * written to `viewer`'s socket: a round trip on each sender, `env.quiesce`, a round trip on
     * the viewer.
     */
    async function settled(senders: RawPeer[], viewer: RawPeer): Promise<void> {
      for (const sender of senders) await sender.sync();
      await e().quiesce(peers.filter((p) => p.socket.readyState === p.socket.OPEN).length);
      await viewer.sync();
    }

    let probeStep = 0;
    /**
     * Proves that nothing naming `userId` reached `viewer` since `mark`, although `senders` acted:
     * a ping round trip on each sender (their server has handled everything they sent), then a
     * position update from `probe` — a friend of the viewer, connected to the senders' server —
     * that the viewer must receive (anything the senders caused was published before it, on the
     * same connection to the same bus), then a round trip on the viewer.
     */
    async function expectNothingAbout(viewer: RawPeer, userId: string, mark: number, senders: RawPeer[], probe: RawPeer): Promise<void> {
      for (const sender of senders) await sender.sync();
      const probeId = probe.ofType('snapshot')[0]?.userId;
      if (probeId === undefined) throw new Error('the probe must be initialised');
      const point = offsetKm(ORIGIN, 0.2 + 0.01 * ++probeStep, 0.3);
      move(probe, point);
      await viewer.waitFor(isUpdateOf(probeId, point), mark);
      await viewer.sync();
      expect(viewer.raw.slice(mark).filter((text) => mentions(text, userId))).toEqual([]);
    }

    /**
     * Alice (server 0) at the origin and her friend Bob (server 1) 1 km north, once Alice has
     * received Bob. With `probeOn`, also Pat, a friend of Alice only, on that server: a probe
     * of the path from that server to Alice (see {@link expectNothingAbout}).
     */
    async function aliceSeesBob(probeOn?: number): Promise<{ alice: RawPeer; bob: RawPeer; pat: RawPeer }> {
      e().graph.link(u.alice, u.bob);
      if (probeOn !== undefined) e().graph.link(u.alice, u.pat);
      const alice = await peer(u.alice, S0);
      const bob = await peer(u.bob, S1);
      await alice.init({ location: sample(ORIGIN) });
      await bob.init({ location: sample(offsetKm(ORIGIN, 1)) });
      await alice.waitFor(isUpdateOf(u.bob));
      let pat = bob;
      if (probeOn !== undefined) {
        pat = await peer(u.pat, probeOn);
        await pat.init({ location: sample(offsetKm(ORIGIN, 0.2, 0.3)) });
        await alice.waitFor(isUpdateOf(u.pat));
      }
      return { alice, bob, pat };
    }

    it('two friends see each other with the right distance and update time', async () => {
      e().graph.link(u.alice, u.bob);
      const bobAt = offsetKm(ORIGIN, 3);
      const alice = await peer(u.alice, S0);
      const bob = await peer(u.bob, S1);
      const aliceSnapshot = await alice.init({ location: sample(ORIGIN) });
      expect(aliceSnapshot).toMatchObject({ userId: u.alice, radiusKm: 8, sharing: true, friends: [] });

      const before = Date.now();
      const bobSnapshot = await bob.init({ location: sample(bobAt) });
      // Alice shared her position first, so Bob's first list already has her (read from the cache).
      expect(bobSnapshot.friends).toHaveLength(1);
      expect(bobSnapshot.friends[0]).toMatchObject({ userId: u.alice, lat: ORIGIN.lat, lon: ORIGIN.lon });
      expect(bobSnapshot.friends[0]!.distanceKm).toBeCloseTo(3, 1);

      const update = await alice.waitFor((f): f is FriendUpdate => f.type === 'friend_update');
      expect(update.friends).toHaveLength(1);
      const seen = update.friends[0]!;
      expect(seen.userId).toBe(u.bob);
      expect(seen.lat).toBe(bobAt.lat);
      expect(seen.distanceKm).toBe(distanceKm(ORIGIN, bobAt));
      expect(seen.updatedAt).toBeGreaterThanOrEqual(before);
      expect(seen.updatedAt).toBeLessThanOrEqual(Date.now());
    });

    it('never sends a friend outside the viewer radius, then sends them once they come in range', async () => {
      e().graph.link(u.alice, u.carol);
      const alice = await peer(u.alice, S0);
      const carol = await peer(u.carol, S1);
      await alice.init({ location: sample(ORIGIN), radiusKm: 5 });
      await carol.init({ location: sample(offsetKm(ORIGIN, 20)) });
      move(carol, offsetKm(ORIGIN, 12));
      move(carol, offsetKm(ORIGIN, 6));
      // Let both out-of-range updates reach Alice's server and her socket before the next one, so
      // per-friend coalescing cannot hide a leak behind the in-range position.
      await settled([carol], alice);
      expect(alice.raw.filter((text) => mentions(text, u.carol))).toEqual([]);
      const inRange = offsetKm(ORIGIN, 4);
      move(carol, inRange);
      // The first frame that names Carol is her in-range position: nothing before it, not even her id.
      const update = await firstAbout(alice, u.carol, 0, isUpdateOf(u.carol, inRange));
      expect(update.friends).toMatchObject([{ userId: u.carol, lat: inRange.lat, lon: inRange.lon }]);
    });

    it('a friend who moves out of range leaves with out_of_range and is not sent after', async () => {
      const { alice, bob } = await aliceSeesBob();
      move(bob, offsetKm(ORIGIN, 30));
      const left = await alice.waitFor((f) => f.type === 'friend_left');
      expect(left).toEqual({ type: 'friend_left', userId: u.bob, reason: LeaveReason.OUT_OF_RANGE });
      const mark = alice.frames.length;
      move(bob, offsetKm(ORIGIN, 31));
      await settled([bob], alice);
      const back = offsetKm(ORIGIN, 0.5);
      move(bob, back);
      // Bob's next frame after leaving is his return in range: the 31 km position was never sent.
      await firstAbout(alice, u.bob, mark, isUpdateOf(u.bob, back));
    });

    it('a radius change takes effect at once with a new snapshot', async () => {
      e().graph.link(u.alice, u.bob);
      const alice = await peer(u.alice, S0);
      const bob = await peer(u.bob, S1);
      await bob.init({ location: sample(offsetKm(ORIGIN, 10)) });
      const first = await alice.init({ location: sample(ORIGIN) });
      expect(first.friends).toEqual([]);

      const widen = alice.frames.length;
      alice.send({ type: 'radius', radiusKm: 12 });
      const wider = await alice.waitFor((f) => f.type === 'snapshot', widen);
      expect(wider).toMatchObject({ type: 'snapshot', radiusKm: 12, friends: [{ userId: u.bob }] });

      const mark = alice.frames.length;
      alice.send({ type: 'radius', radiusKm: 2 });
      const narrower = await alice.waitFor((f) => f.type === 'snapshot', mark);
      expect(narrower).toMatchObject({ radiusKm: 2, friends: [] });
      move(bob, offsetKm(ORIGIN, 9));
      await settled([bob], alice);
      const near = offsetKm(ORIGIN, 1);
      move(bob, near);
      // Outside 2 km, Bob's 9 km update was not sent; his 1 km one is the first after the change.
      await firstAbout(alice, u.bob, mark, isUpdateOf(u.bob, near));
    });

    it('unfriending stops updates at once and says why', async () => {
      const { alice, bob, pat } = await aliceSeesBob(S1);

      e().graph.unlink(u.alice, u.bob);
      await e().friendRemoved(u.alice, u.bob);
      const left = await alice.waitFor((f) => f.type === 'friend_left' && f.userId === u.bob);
      expect(left).toEqual({ type: 'friend_left', userId: u.bob, reason: LeaveReason.UNFRIENDED });
      await alice.waitFor((f) => f.type === 'friend_removed' && f.userId === u.bob);
      await bob.waitFor((f) => f.type === 'friend_left' && f.userId === u.alice && f.reason === 'unfriended');
      await bob.waitFor((f) => f.type === 'friend_removed' && f.userId === u.alice);

      const mark = alice.frames.length;
      move(bob, offsetKm(ORIGIN, 0.5));
      await expectNothingAbout(alice, u.bob, mark, [bob], pat);
    });

    it('a friendship added live subscribes both sides and shows them to each other', async () => {
      const alice = await peer(u.alice, S0);
      const bob = await peer(u.bob, S1);
      await alice.init({ location: sample(ORIGIN) });
      await bob.init({ location: sample(offsetKm(ORIGIN, 2)) });
      e().graph.link(u.alice, u.bob);
      await e().friendAdded(u.alice, u.bob);
      await alice.waitFor((f) => f.type === 'friend_added' && f.userId === u.bob);
      await bob.waitFor((f) => f.type === 'friend_added' && f.userId === u.alice);
      // Bob's cached position is read when the friendship starts: no need to wait for his next update.
      const update = await alice.waitFor((f) => f.type === 'friend_update');
      expect(update).toMatchObject({ friends: [{ userId: u.bob }] });
      await bob.waitFor(isUpdateOf(u.alice));
    });

    it('sharing off removes the user from friends lists, and sharing on brings them back', async () => {
      const { alice, bob, pat } = await aliceSeesBob(S1);

      const bobMark = bob.frames.length;
      bob.send({ type: 'sharing', enabled: false });
      expect(await alice.waitFor((f) => f.type === 'friend_left')).toEqual({
        type: 'friend_left',
        userId: u.bob,
        reason: LeaveReason.SHARING_OFF,
      });
      // While not sharing, Bob sees nobody either.
      expect(await bob.waitFor((f) => f.type === 'snapshot', bobMark)).toMatchObject({ sharing: false, friends: [] });

      const mark = alice.frames.length;
      move(bob, offsetKm(ORIGIN, 0.5));
      await expectNothingAbout(alice, u.bob, mark, [bob], pat);

      // A user who joins now does not get Bob's old position from the cache either.
      e().graph.link(u.dave, u.bob);
      const dave = await peer(u.dave, S2);
      expect((await dave.init({ location: sample(ORIGIN) })).friends).toEqual([]);

      bob.send({ type: 'sharing', enabled: true });
      await alice.waitFor(isUpdateOf(u.bob), mark);
    });

    it('a session that starts with sharing off withdraws the position friends still show', async () => {
      e().graph.link(u.alice, u.bob);
      const alice = await peer(u.alice, S0);
      const bob = await peer(u.bob, S1);
      await bob.init({ location: sample(ORIGIN) });
      await alice.init({ location: sample(offsetKm(ORIGIN, 1)) });
      await bob.waitFor(isUpdateOf(u.alice));
      alice.socket.terminate(); // a dropped connection: friends keep her until she is inactive
      await alice.closed;
      const again = await peer(u.alice, S2);
      await again.init({ sharing: false });
      expect(await bob.waitFor((f) => f.type === 'friend_left')).toEqual({
        type: 'friend_left',
        userId: u.alice,
        reason: LeaveReason.SHARING_OFF,
      });
    });

    defineDeviceClockBehaviours({ e, peer, sample, isUpdateOf, aliceSeesBob, expectNothingAbout, u, nextSeq: () => ++seq });

    it('two devices of one user share one list and both receive updates; one signing off keeps the user online', async () => {
      e().graph.link(u.alice, u.bob);
      const phone = await peer(u.alice, S0);
      const tablet = await peer(u.alice, S1);
      const bob = await peer(u.bob, S2);
      await phone.init({ location: sample(ORIGIN) });
      await tablet.init();
      await bob.init({ location: sample(offsetKm(ORIGIN, 2)) });
      const a = await phone.waitFor(isUpdateOf(u.bob));
      const b = await tablet.waitFor(isUpdateOf(u.bob));
      expect(a).toEqual(b);

      // A radius set on one device applies to both.
      const mark = tablet.frames.length;
      phone.send({ type: 'radius', radiusKm: 1 });
      expect(await tablet.waitFor((f) => f.type === 'snapshot', mark)).toMatchObject({ radiusKm: 1, friends: [] });

      // One device signing off keeps the user online on the other.
      const bobMark = bob.frames.length;
      await phone.close(1000);
      await e().quiesce(2); // the phone's server has handled the close and published whatever it would
      const widened = tablet.frames.length;
      tablet.send({ type: 'radius', radiusKm: 8 });
      await tablet.waitFor((f) => f.type === 'snapshot' && f.radiusKm === 8 && f.friends.length === 1, widened);
      const there = offsetKm(ORIGIN, 0.5);
      move(tablet, there);
      await bob.waitFor(isUpdateOf(u.alice, there), bobMark);
      await bob.sync();
      expect(bob.frames.slice(bobMark).filter((f) => f.type === 'friend_left')).toEqual([]);
    });

    it('a deliberate sign-off (close 1000) tells friends "offline"; a dropped socket does not', async () => {
      e().graph.link(u.alice, u.bob);
      e().graph.link(u.alice, u.carol);
      const alice = await peer(u.alice, S0);
      const bob = await peer(u.bob, S1);
      const carol = await peer(u.carol, S2);
      await alice.init({ location: sample(ORIGIN) });
      await bob.init({ location: sample(offsetKm(ORIGIN, 1)) });
      await carol.init({ location: sample(offsetKm(ORIGIN, 2)) });
      await alice.waitFor(isUpdateOf(u.carol));

      await bob.close(1000);
      expect(await alice.waitFor((f) => f.type === 'friend_left')).toEqual({
        type: 'friend_left',
        userId: u.bob,
        reason: LeaveReason.OFFLINE,
      });
      carol.socket.terminate();
      await carol.closed;
      await e().quiesce(1); // Carol's server has handled the drop and published whatever it would
      await alice.sync();
      expect(alice.ofType('friend_left').map((f) => f.userId)).toEqual([u.bob]);
    });

    it('acknowledges location samples only after the history store accepted them', async () => {
      const alice = await peer(u.alice, S0);
      await alice.init({ location: sample(ORIGIN) });
      alice.send({ type: 'location', seq: 41, samples: [sample(ORIGIN, 1000), sample(offsetKm(ORIGIN, 0.1), 2000)] });
      expect(await alice.waitFor((f) => f.type === 'ack')).toEqual({ type: 'ack', seq: 41, count: 2 });
    });
  });
}
