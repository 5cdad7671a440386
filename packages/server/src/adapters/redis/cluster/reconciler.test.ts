import { describe, expect, it } from 'vitest';
import { manualTimers } from '../../../manual-timers.test-support.js';
import { SLOTS, keySlot } from './key-slot.js';
import { ClusterReconciler, type SlotOwners } from './reconciler.js';
import type { Wake } from './schedule.js';

const A = '10.0.0.1:6379';
const B = '10.0.0.2:6379';
const C = '10.0.0.3:6379';

/** Slots split in three equal ranges over A, B and C, with `moves` (slot → master) applied. */
function slotMap(moves: Record<number, string | undefined> = {}): SlotOwners {
  const owners = Array.from({ length: SLOTS }, (_, slot) => [A, B, C][Math.floor((slot * 3) / SLOTS)]);
  for (const [slot, master] of Object.entries(moves)) owners[Number(slot)] = master;
  return owners;
}

const channels = Array.from({ length: 60 }, (_, i) => `nearby:u:user-${i}`);
const ownerOf = (channel: string, owners: SlotOwners) => owners[keySlot(channel)]!;

/** Subscribes every assigned channel as if each master accepted it. */
function placeAll(reconciler: ClusterReconciler, wanted: Iterable<string>, down: ReadonlySet<string> = new Set()): number {
  let failed = 0;
  const { groups, unowned } = reconciler.assign(wanted);
  for (const [master, group] of groups) {
    if (down.has(master)) failed += group.length;
    else reconciler.subscribed(master, group);
  }
  return failed + unowned;
}

/** A reconciler started on the three-master map, every channel placed on its owner. */
function settled(now = 0) {
  const reconciler = new ClusterReconciler();
  expect(reconciler.slotMapLoaded(slotMap(), now)).toBeUndefined(); // not started: no pass
  reconciler.want(channels, keySlot);
  for (const master of reconciler.missingConnections()) reconciler.opened(master);
  reconciler.start();
  expect(placeAll(reconciler, reconciler.unplaced())).toBe(0);
  return reconciler;
}

/** One pass as the transport runs it, with `down` masters refusing everything; returns whether it was complete. */
function pass(reconciler: ClusterReconciler, down: ReadonlySet<string> = new Set()): boolean {
  const { open, unplaced } = reconciler.arrange();
  for (const master of open) reconciler.opened(master);
  const failed = placeAll(reconciler, unplaced, down);
  reconciler.idle();
  return failed === 0 && reconciler.pending === 0;
}

describe('ClusterReconciler', () => {
  it('places every wanted channel on the master serving its slot, one connection per master', () => {
    const reconciler = new ClusterReconciler();
    reconciler.slotMapLoaded(slotMap(), 0);
    expect(reconciler.want(channels, keySlot)).toEqual(channels);
    expect(reconciler.want(channels.slice(0, 5), keySlot)).toEqual([]);
    expect(reconciler.missingConnections().sort()).toEqual([A, B, C]);
    for (const master of [A, B, C]) reconciler.opened(master);
    expect(reconciler.missingConnections()).toEqual([]);
    const { groups, unowned } = reconciler.assign(channels);
    expect(unowned).toBe(0);
    for (const [master, group] of groups) for (const channel of group) expect(ownerOf(channel, slotMap())).toBe(master);
    expect([...groups.values()].flat().sort()).toEqual([...channels].sort());
    for (const [master, group] of groups) expect(reconciler.subscribed(master, group)).toBe(0); // first placements
    expect(reconciler.pending).toBe(0);
    expect(reconciler.assign(channels).groups.size).toBe(0); // nothing left to place
  });

  it('follows a slot move: a new slot map wakes a pass at once, which moves the channel and counts a resubscription', () => {
    const reconciler = settled();
    const channel = channels.find((c) => ownerOf(c, slotMap()) === A)!;
    const moved = slotMap({ [keySlot(channel)]: B });
    expect(reconciler.slotMapLoaded(moved, 1_000)).toEqual({ at: 1_000 });
    expect(reconciler.beginPass()).toEqual({ refresh: false });
    const { mapChanged, unplaced } = reconciler.arrange();
    expect(mapChanged).toBe(true);
    expect(unplaced).toEqual([channel]);
    expect(reconciler.heldBy(A).has(channel)).toBe(false);
    const { groups } = reconciler.assign(unplaced);
    expect([...groups]).toEqual([[B, [channel]]]);
    expect(reconciler.subscribed(B, [channel])).toBe(1);
    expect(reconciler.endPass(1_005, true)).toEqual({});
    // The same map loaded again is no change.
    expect(reconciler.slotMapLoaded(slotMap({ [keySlot(channel)]: B }), 2_000)).toBeUndefined();
  });

  it("answers a node's unsubscribe push with a pass 10 ms later on a reloaded slot map, the earliest request winning", () => {
    const reconciler = settled();
    expect(reconciler.unsubscribePushed(1_000)).toEqual({ at: 1_010 });
    expect(reconciler.unsubscribePushed(1_004)).toBeUndefined(); // the pass at 1 010 covers it
    expect(reconciler.ready(1_005)).toEqual({ at: 1_005 }); // earlier: replaces it
    expect(reconciler.beginPass()).toEqual({ refresh: true });
    // A push during the pass starts another right after it.
    expect(reconciler.unsubscribePushed(1_006)).toBeUndefined();
    expect(pass(reconciler)).toBe(true);
    expect(reconciler.endPass(1_008, true)).toEqual({ wake: { at: 1_018 } });
    expect(reconciler.beginPass()).toEqual({ refresh: true });
  });

  it('re-places the channels of a master whose connection was lost, backing off while it stays away', () => {
    const reconciler = settled();
    const onA = [...reconciler.heldBy(A)];
    expect(onA.length).toBeGreaterThan(5);
    expect(reconciler.lost(A, 10_000)).toEqual({ at: 10_050 });
    expect(reconciler.pending).toBe(onA.length);
    const wakes: number[] = [];
    const reports: number[] = [];
    let now = 10_050;
    for (let attempt = 1; attempt <= 34; attempt++) {
      expect(reconciler.beginPass().refresh).toBe(true);
      expect(pass(reconciler, new Set([A]))).toBe(false);
      const { wake, report } = reconciler.endPass(now, false);
      if (report !== undefined) reports.push(attempt);
      wakes.push(wake!.at - now);
      now = wake!.at;
    }
    expect(wakes.slice(0, 7)).toEqual([100, 200, 400, 800, 1_600, 2_000, 2_000]);
    expect(reports).toEqual([3, 33]);
    // Back before the armed wake-up: a pass at once places them, each counted as a resubscription, and the backoff starts over.
    now -= 1;
    expect(reconciler.ready(now)).toEqual({ at: now });
    reconciler.beginPass();
    const { unplaced } = reconciler.arrange();
    expect(unplaced.sort()).toEqual(onA.sort());
    expect(reconciler.subscribed(A, unplaced)).toBe(onA.length);
    expect(reconciler.endPass(now, true)).toEqual({});
    reconciler.lost(A, now);
    reconciler.beginPass();
    expect(reconciler.endPass(now, false).wake).toEqual({ at: now + 100 });
  });

  it('moves the channels of a master that gave all its slots away, then lets its connection go', () => {
    const reconciler = settled();
    const emptied = slotMap().map((master) => (master === C ? B : master));
    reconciler.slotMapLoaded(emptied, 0);
    reconciler.beginPass();
    const { unplaced } = reconciler.arrange();
    expect(unplaced.length).toBeGreaterThan(5);
    placeAll(reconciler, unplaced);
    expect(reconciler.heldBy(C).size).toBe(0);
    expect(reconciler.idle()).toEqual([C]);
    expect(reconciler.idle()).toEqual([]);
    // C gets slots again: a connection is to be opened.
    reconciler.slotMapLoaded(slotMap(), 0);
    expect(reconciler.missingConnections()).toEqual([C]);
  });

  it('follows a MOVED answer: the slot map is corrected and an incomplete pass is retried at once, five times', () => {
    const reconciler = settled();
    const channel = channels.find((c) => ownerOf(c, slotMap()) === A)!;
    let now = 5_000;
    reconciler.periodicCheck(now);
    reconciler.beginPass();
    pass(reconciler);
    // The count check of A meets MOVED for `channel`: B serves its slot, though the loaded map says A.
    reconciler.refused(A, [channel]);
    reconciler.redirect(keySlot(channel), B);
    expect(reconciler.ownerOf(keySlot(channel))).toBe(B);
    expect(reconciler.endPass(now, false)).toEqual({ wake: { at: now } });
    expect(reconciler.beginPass()).toEqual({ refresh: false });
    expect(reconciler.arrange().unplaced).toEqual([channel]);
    expect([...reconciler.assign([channel]).groups.keys()]).toEqual([B]);
    // B refuses too, each time naming a new owner: retried at once up to five failed passes, then backoff.
    const delays: number[] = [];
    for (let attempt = 2; attempt <= 7; attempt++) {
      reconciler.redirect(keySlot(channel), attempt % 2 === 0 ? C : B);
      const { wake } = reconciler.endPass(now, false);
      delays.push(wake!.at - now);
      now = wake!.at;
      reconciler.beginPass();
    }
    expect(delays).toEqual([0, 0, 0, 0, 2_000, 2_000]);
    // A redirection to the owner already known changes nothing.
    reconciler.redirect(keySlot(channel), reconciler.ownerOf(keySlot(channel))!);
    expect(reconciler.endPass(now, false).wake!.at - now).toBe(2_000);
  });

  it('checks each connection by its subscription count, asking to subscribe everything again on a difference', () => {
    const reconciler = settled();
    expect(reconciler.periodicCheck(7_000)).toEqual({ at: 7_000 });
    expect(reconciler.beginPass()).toEqual({ refresh: true });
    const check = reconciler.countCheck(B)!;
    expect(reconciler.heldBy(B).has(check.probe)).toBe(true);
    expect(check.expected).toBe(reconciler.heldBy(B).size);
    expect(reconciler.counted(B, check.expected, check.expected)).toBeUndefined();
    expect(reconciler.counted(B, check.expected, check.expected - 3)?.sort()).toEqual([...reconciler.heldBy(B)].sort());
    reconciler.lost(C, 7_000);
    expect(reconciler.countCheck(C)).toBeUndefined(); // carries nothing: no check
  });

  it('takes back the subscriptions of channels no longer wanted, and ignores them from then on', () => {
    const reconciler = settled();
    const gone = channels.slice(0, 10);
    expect(reconciler.unwant([...gone, 'nearby:u:never-wanted'])).toEqual(gone);
    expect(reconciler.wants(gone[0]!)).toBe(false);
    // While their SUNSUBSCRIBE waits for the lock, a pass leaves them where they are.
    reconciler.slotMapLoaded(slotMap(Object.fromEntries(gone.map((c) => [keySlot(c), C]))), 0);
    reconciler.beginPass();
    expect(reconciler.arrange().unplaced).toEqual([]);
    const released = reconciler.release(gone);
    expect([...released.values()].flat().sort()).toEqual([...gone].sort());
    for (const [master, group] of released) for (const channel of group) expect(ownerOf(channel, slotMap())).toBe(master);
    expect(reconciler.channels).toBe(channels.length - gone.length);
    expect(reconciler.pending).toBe(0);
    expect(reconciler.subscribed(A, gone)).toBe(0); // a late reply places nothing unwanted
    expect(reconciler.pending).toBe(0);
  });

  it('counts channels whose slot has no owner as unplaceable', () => {
    const reconciler = settled();
    const channel = channels[0]!;
    reconciler.slotMapLoaded(slotMap({ [keySlot(channel)]: undefined }), 0);
    reconciler.beginPass();
    const { unplaced } = reconciler.arrange();
    expect(unplaced).toEqual([channel]);
    expect(reconciler.assign(unplaced)).toEqual({ groups: new Map(), unowned: 1 });
  });

  it('schedules nothing before start or after stop, and forgets every placement on stop', () => {
    const reconciler = new ClusterReconciler();
    reconciler.want(channels, keySlot);
    expect(reconciler.lost(A, 0)).toBeUndefined();
    expect(reconciler.unsubscribePushed(0)).toBeUndefined();
    const started = settled();
    started.stop();
    expect(started.pending).toBe(channels.length);
    expect(started.periodicCheck(0)).toBeUndefined();
    expect(started.ready(0)).toBeUndefined();
  });

  it('on manual timers, drives its retries at the backoff times until the master is back', () => {
    const timers = manualTimers(100_000);
    const reconciler = settled(timers.now());
    const down = new Set([A]);
    const passes: number[] = [];
    let handle: unknown;
    // The transport's loop: arm a timer for each wake-up, run a pass when it fires.
    const wake = (next: Wake | undefined) => {
      if (next === undefined) return;
      if (handle !== undefined) timers.clearTimeout(handle);
      handle = timers.setTimeout(run, next.at - timers.now());
    };
    const run = () => {
      handle = undefined;
      reconciler.beginPass();
      passes.push(timers.now() - 100_000);
      wake(reconciler.endPass(timers.now(), pass(reconciler, down)).wake);
    };
    wake(reconciler.lost(A, timers.now()));
    timers.advance(3_000);
    expect(passes).toEqual([50, 150, 350, 750, 1_550]);
    down.clear();
    wake(reconciler.ready(timers.now()));
    timers.advance(0);
    expect(passes.at(-1)).toBe(3_000);
    expect(reconciler.pending).toBe(0);
    timers.advance(60_000);
    expect(passes).toHaveLength(6); // complete: nothing more to do
    expect(timers.active).toBe(0);
  });
});
