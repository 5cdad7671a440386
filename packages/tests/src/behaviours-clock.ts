import { expect, it } from 'vitest';
import type { ServerFrame } from '@nearby/protocol';
import type { BehaviourEnv } from './behaviours.js';
import type { RawPeer } from './helpers/raw-peer.js';
import { ORIGIN, offsetKm } from './helpers/geo.js';

type Point = { lat: number; lon: number };

/** What the behaviour suite lends its parts: the environment, peers, samples and its probes. */
export interface BehaviourKit {
  e(): BehaviourEnv;
  peer(userId: string, serverIndex: number): Promise<RawPeer>;
  sample(point: Point, timestamp?: number): { lat: number; lon: number; timestamp: number };
  isUpdateOf(userId: string, point?: Point): (f: ServerFrame) => f is Extract<ServerFrame, { type: 'friend_update' }>;
  aliceSeesBob(probeOn?: number): Promise<{ alice: RawPeer; bob: RawPeer; pat: RawPeer }>;
  expectNothingAbout(viewer: RawPeer, userId: string, mark: number, senders: RawPeer[], probe: RawPeer): Promise<void>;
  readonly u: { alice: string; bob: string; carol: string; dave: string; pat: string };
  nextSeq(): number;
}

/** Server indexes the suite places users on (a one-server deployment ignores them). */
const S0 = 0;
const S1 = 1;
const S2 = 2;

/**
 * Device clocks and init settings: a clock ahead, corrected or far in the future never freezes
 * a device; an init's location restarts its order; an init's radius belongs to the account.
 */
export function defineDeviceClockBehaviours(k: BehaviourKit): void {
    it("a device whose clock runs ahead does not freeze the position sent by the user's other device", async () => {
      k.e().graph.link(k.u.alice, k.u.bob);
      const fast = await k.peer(k.u.alice, S0);
      const right = await k.peer(k.u.alice, S1);
      const bob = await k.peer(k.u.bob, S2);
      await bob.init({ location: k.sample(ORIGIN) });
      await fast.init();
      await right.init();
      fast.send({ type: 'location', seq: k.nextSeq(), samples: [k.sample(offsetKm(ORIGIN, 1), Date.now() + 5 * 60_000)] });
      await bob.waitFor(k.isUpdateOf(k.u.alice));
      const mark = bob.frames.length;
      const there = offsetKm(ORIGIN, 2);
      right.send({ type: 'location', seq: k.nextSeq(), samples: [k.sample(there)] });
      await bob.waitFor(k.isUpdateOf(k.u.alice, there), mark);
    });

    it('a device whose clock was ahead and is corrected keeps being shown with its newest fixes', async () => {
      const { alice, bob } = await k.aliceSeesBob();
      const ahead = 5 * 60_000;
      for (let km = 1.1; km < 1.5; km += 0.1) {
        const point = offsetKm(ORIGIN, km);
        bob.send({ type: 'location', seq: k.nextSeq(), samples: [k.sample(point, Date.now() + ahead)] });
        await alice.waitFor(k.isUpdateOf(k.u.bob, point));
      }
      // The clock is corrected: every new fix is dated minutes before the last one sent.
      for (let km = 2; km < 2.5; km += 0.1) {
        const point = offsetKm(ORIGIN, km);
        bob.send({ type: 'location', seq: k.nextSeq(), samples: [k.sample(point)] });
        await alice.waitFor(k.isUpdateOf(k.u.bob, point));
      }
    });

    it('a sample from an implausible future counts as received now: honest samples after it are shown', async () => {
      const { alice, bob } = await k.aliceSeesBob();
      const future = offsetKm(ORIGIN, 1.2);
      bob.send({ type: 'location', seq: k.nextSeq(), samples: [k.sample(future, 9_999_999_999_000)] }); // the year 2286
      const shown = await alice.waitFor(k.isUpdateOf(k.u.bob, future));
      // updatedAt is always the server's receive time, never the device's.
      expect(shown.friends.find((f) => f.userId === k.u.bob)!.updatedAt).toBeLessThanOrEqual(Date.now());
      const honest = offsetKm(ORIGIN, 1.4);
      await new Promise((resolve) => setTimeout(resolve, 2));
      bob.send({ type: 'location', seq: k.nextSeq(), samples: [k.sample(honest)] });
      await alice.waitFor(k.isUpdateOf(k.u.bob, honest));
    });

    it("an older sample in a later frame is not the live position, but an init's location starts the device's order afresh", async () => {
      const { alice, bob, pat } = await k.aliceSeesBob(S1);
      const newest = offsetKm(ORIGIN, 1.3);
      bob.send({ type: 'location', seq: k.nextSeq(), samples: [k.sample(newest)] });
      await alice.waitFor(k.isUpdateOf(k.u.bob, newest));
      const mark = alice.frames.length;
      bob.send({ type: 'location', seq: k.nextSeq(), samples: [k.sample(offsetKm(ORIGIN, 1.6), Date.now() - 60_000)] });
      await k.expectNothingAbout(alice, k.u.bob, mark, [bob], pat);
      // The device's clock was set back a minute: it says so with an init, and its fix is shown.
      const reset = offsetKm(ORIGIN, 1.7);
      bob.send({ type: 'init', v: 1, location: k.sample(reset, Date.now() - 60_000) });
      await alice.waitFor(k.isUpdateOf(k.u.bob, reset), mark);
    });

    it("a radius given in init is the account's: the user's devices on other processes get it, and so does a later session", async () => {
      const phone = await k.peer(k.u.alice, S0);
      const tablet = await k.peer(k.u.alice, S1);
      await phone.init({ location: k.sample(ORIGIN) });
      await tablet.init({ location: k.sample(ORIGIN) });
      const mark = tablet.frames.length;
      phone.send({ type: 'init', v: 1, radiusKm: 3 });
      await phone.waitFor((f) => f.type === 'snapshot' && f.radiusKm === 3);
      await tablet.waitFor((f) => f.type === 'snapshot' && f.radiusKm === 3, mark);
      const laptop = await k.peer(k.u.alice, S2);
      expect(await laptop.init()).toMatchObject({ radiusKm: 3 });
    });
}
