import { ErrorCode, LeaveReason, type NearbyFriend } from '@nearby/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHarness } from './test-utils/harness.js';

const T0 = 1_700_000_000_000;

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

const f = (userId: string, distanceKm: number, updatedAt = T0): NearbyFriend => ({
  userId,
  lat: 37.5,
  lon: 127,
  distanceKm,
  updatedAt,
});

function connected(friends: NearbyFriend[] = [], options: Parameters<typeof createHarness>[0] = {}) {
  const h = createHarness(options);
  h.client.connect();
  const socket = h.server.accept({ friends });
  return { ...h, socket };
}

const ids = (friends: readonly NearbyFriend[]) => friends.map((x) => x.userId);

describe('snapshot reconciliation', () => {
  it('replaces the whole list after a reconnect: ghosts removed, missing friends added', () => {
    const h = connected([f('ann', 2), f('ghost', 1)]);
    expect(ids(h.client.getSnapshot().friends)).toEqual(['ghost', 'ann']);
    h.socket.serverClose(1006);
    // The stale list survives the short outage.
    expect(ids(h.client.getSnapshot().friends)).toEqual(['ghost', 'ann']);
    vi.advanceTimersByTime(250);
    h.server.accept({ friends: [f('new', 0.5), f('ann', 2)] });
    expect(ids(h.client.getSnapshot().friends)).toEqual(['new', 'ann']);
    expect(h.of('nearby').map(([list]) => ids(list))).toEqual([
      ['ghost', 'ann'],
      ['new', 'ann'],
    ]);
  });

  it('emits no nearby event for a snapshot that changes nothing', () => {
    const h = connected([f('ann', 2)]);
    h.socket.push(h.server.snapshot({ friends: [f('ann', 2)] }));
    expect(h.of('nearby')).toHaveLength(1);
  });

  it('takes userId, radius and sharing from the snapshot', () => {
    const h = connected([], { radiusKm: 5 });
    h.socket.push(h.server.snapshot({ userId: 'u1', radiusKm: 12, sharing: false }));
    expect(h.client.getSnapshot()).toMatchObject({ userId: 'u1', radiusKm: 12, sharing: false });
  });
});

describe('incremental updates', () => {
  it('friend_update upserts, emits friendUpdate per friend then one nearby, sorted nearest first', () => {
    const h = connected([f('ann', 3)]);
    h.events.length = 0;
    h.socket.push({ type: 'friend_update', friends: [f('bob', 1), f('ann', 0.5), f('cat', 1)] });
    expect(h.events.map((e) => e.event)).toEqual(['friendUpdate', 'friendUpdate', 'friendUpdate', 'nearby']);
    expect(ids(h.of('friendUpdate').map(([x]) => x))).toEqual(['bob', 'ann', 'cat']);
    expect(ids(h.client.getSnapshot().friends)).toEqual(['ann', 'bob', 'cat']);
    expect(h.of('nearby')[0]?.[0]).toBe(h.client.getSnapshot().friends);
  });

  it('friend_left removes the friend and emits friendLeft with the reason, then nearby', () => {
    const h = connected([f('ann', 1), f('bob', 2)]);
    h.events.length = 0;
    h.socket.push({ type: 'friend_left', userId: 'ann', reason: 'out_of_range' });
    expect(h.events.map((e) => e.event)).toEqual(['friendLeft', 'nearby']);
    expect(h.of('friendLeft')).toEqual([[{ userId: 'ann', reason: LeaveReason.OUT_OF_RANGE }]]);
    expect(ids(h.client.getSnapshot().friends)).toEqual(['bob']);
    h.socket.push({ type: 'friend_left', userId: 'nobody', reason: 'offline' });
    expect(h.events).toHaveLength(2);
  });

  it('friend_left with a reason from a newer server removes the friend and passes the reason on', () => {
    const h = connected([f('ann', 1), f('bob', 2)]);
    h.events.length = 0;
    h.socket.pushRaw(JSON.stringify({ type: 'friend_left', userId: 'ann', reason: 'teleported' }));
    expect(h.events.map((e) => e.event)).toEqual(['friendLeft', 'nearby']);
    expect(h.of('friendLeft')).toEqual([[{ userId: 'ann', reason: 'teleported' }]]);
    expect(ids(h.client.getSnapshot().friends)).toEqual(['bob']);
  });

  it('friend_added and friend_removed are reported; a removed friend leaves the list', () => {
    const h = connected([f('ann', 1)]);
    h.events.length = 0;
    h.socket.push({ type: 'friend_added', userId: 'dan' });
    h.socket.push({ type: 'friend_removed', userId: 'ann' });
    expect(h.events.map((e) => e.event)).toEqual(['friendAdded', 'friendRemoved', 'friendLeft', 'nearby']);
    expect(h.of('friendAdded')).toEqual([['dan']]);
    expect(h.of('friendRemoved')).toEqual([['ann']]);
    expect(h.of('friendLeft')).toEqual([[{ userId: 'ann', reason: LeaveReason.UNFRIENDED }]]);
    expect(h.client.getSnapshot().friends).toEqual([]);
  });

  it('ignores unknown frame types; reports undecodable frames as invalid_frame and keeps going', () => {
    const h = connected();
    h.socket.push({ type: 'from_the_future', x: 1 });
    expect(h.events.filter((e) => e.event === 'error')).toEqual([]);
    h.socket.pushRaw('{not json');
    h.socket.pushRaw(JSON.stringify({ type: 'friend_left', userId: 'a', reason: '' }));
    h.socket.pushRaw(new Uint8Array([1, 2]));
    expect(h.errorCodes()).toEqual([ErrorCode.INVALID_FRAME, ErrorCode.INVALID_FRAME, ErrorCode.INVALID_FRAME]);
    h.socket.push({ type: 'friend_update', friends: [f('ok', 1)] });
    expect(ids(h.client.getSnapshot().friends)).toEqual(['ok']);
    expect(h.client.getSnapshot().state).toBe('connected');
  });
});

describe('local inactivity expiry', () => {
  it('removes a friend inactiveAfterMs after its updatedAt, in server time, with one timer', () => {
    // The server clock runs 60 s ahead of the device.
    const skew = 60_000;
    const h = createHarness();
    h.client.connect();
    h.server.latest.open();
    h.server.latest.push(
      h.server.snapshot({
        serverTime: T0 + skew,
        inactiveAfterMs: 120_000,
        // ann was updated 100 s ago in server time; bob just now.
        friends: [f('ann', 1, T0 + skew - 100_000), f('bob', 2, T0 + skew)],
      }),
    );
    expect(vi.getTimerCount()).toBe(2); // the heartbeat and ONE expiry timer for both friends
    // The rule and the skew are in the snapshot, for an app that shows how stale an entry is.
    expect(h.client.getSnapshot()).toMatchObject({ inactiveAfterMs: 120_000, serverTimeOffsetMs: skew });
    vi.advanceTimersByTime(19_999);
    expect(ids(h.client.getSnapshot().friends)).toEqual(['ann', 'bob']);
    vi.advanceTimersByTime(1);
    expect(ids(h.client.getSnapshot().friends)).toEqual(['bob']);
    expect(h.of('friendLeft')).toEqual([[{ userId: 'ann', reason: LeaveReason.INACTIVE }]]);
    // A fresh update postpones bob's expiry.
    vi.advanceTimersByTime(50_000);
    h.server.latest.push({ type: 'friend_update', friends: [f('bob', 2, T0 + skew + 70_000)] });
    vi.advanceTimersByTime(119_999);
    expect(ids(h.client.getSnapshot().friends)).toEqual(['bob']);
    vi.advanceTimersByTime(1);
    expect(h.client.getSnapshot().friends).toEqual([]);
    expect(h.of('friendLeft').map(([e]) => e.userId)).toEqual(['ann', 'bob']);
  });

  it('uses the inactiveAfterMs option until a snapshot overrides it', () => {
    const h = createHarness({ inactiveAfterMs: 1_000 });
    expect(h.client.getSnapshot().inactiveAfterMs).toBe(1_000);
    h.client.connect();
    h.server.accept({ inactiveAfterMs: 5_000, friends: [f('ann', 1)] });
    expect(h.client.getSnapshot().inactiveAfterMs).toBe(5_000);
    vi.advanceTimersByTime(4_999);
    expect(h.client.getSnapshot().friends).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(h.client.getSnapshot().friends).toHaveLength(0);
  });
});
