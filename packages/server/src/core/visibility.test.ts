import { describe, expect, it } from 'vitest';
import { distanceKm } from '@nearby/protocol';
import { ABSENT, LEFT_INACTIVE, LEFT_OUT_OF_RANGE, UNCHANGED, judgeFriend, visibleDistance, type Position } from './visibility.js';

const rules = { inactiveAfterMs: 600_000, distanceRefreshKm: 0.1 };
const viewer = { lat: 37.5665, lon: 126.978 };
/** About `km` km north of the viewer. */
const north = (km: number, t = 1_000): Position => ({ lat: viewer.lat + km / 111.195, lon: viewer.lon, t });
const NOW = 10_000;

describe('judgeFriend: who may see whom (protocol.md §9)', () => {
  it('a fresh friend within the radius is sent with its exact distance', () => {
    const friend = north(3);
    expect(judgeFriend(viewer, 8, friend, undefined, NOW, rules)).toBe(distanceKm(viewer, friend));
  });

  it('a friend outside the radius is never sent; one who was in the list leaves out_of_range', () => {
    const friend = north(9);
    expect(judgeFriend(viewer, 8, friend, undefined, NOW, rules)).toBe(ABSENT);
    expect(judgeFriend(viewer, 8, friend, { distanceKm: 7.9, position: north(7.9) }, NOW, rules)).toBe(LEFT_OUT_OF_RANGE);
  });

  it('a friend whose position is older than inactiveAfterMs leaves inactive, even within the radius', () => {
    const stale = north(1, NOW - 600_000);
    expect(judgeFriend(viewer, 8, stale, { distanceKm: 1, position: stale }, NOW, rules)).toBe(LEFT_INACTIVE);
    expect(judgeFriend(viewer, 8, stale, undefined, NOW, rules)).toBe(ABSENT);
    expect(judgeFriend(viewer, 8, undefined, { distanceKm: 1, position: stale }, NOW, rules)).toBe(LEFT_INACTIVE);
  });

  it('when only the viewer moved, the entry is sent again only once the distance changed by distanceRefreshKm', () => {
    const friend = north(3);
    const sent = { distanceKm: distanceKm(viewer, friend), position: friend };
    expect(judgeFriend({ lat: viewer.lat + 0.05 / 111.195, lon: viewer.lon }, 8, friend, sent, NOW, rules)).toBe(UNCHANGED);
    const moved = { lat: viewer.lat + 0.2 / 111.195, lon: viewer.lon };
    expect(judgeFriend(moved, 8, friend, sent, NOW, rules)).toBe(distanceKm(moved, friend));
    // A new position of the friend is always sent, however small the move.
    const step = { ...friend, t: friend.t + 1 };
    expect(judgeFriend(viewer, 8, step, sent, NOW, rules)).toBe(distanceKm(viewer, step));
  });

  it('the radius is inclusive', () => {
    const friend = north(5);
    expect(judgeFriend(viewer, distanceKm(viewer, friend), friend, undefined, NOW, rules)).toBeGreaterThan(0);
  });
});

describe('visibleDistance: a fresh list', () => {
  it('keeps fresh friends within the radius only', () => {
    expect(visibleDistance(viewer, 8, north(3), NOW, 600_000)).toBeCloseTo(3, 2);
    expect(visibleDistance(viewer, 8, north(9), NOW, 600_000)).toBeUndefined();
    expect(visibleDistance(viewer, 8, north(3, NOW - 600_000), NOW, 600_000)).toBeUndefined();
    expect(visibleDistance(viewer, 8, undefined, NOW, 600_000)).toBeUndefined();
  });
});
