import type { NearbyFriend } from '@nearby/protocol';
import { describe, expect, it } from 'vitest';
import { FriendList } from './friend-list.js';

const f = (userId: string, distanceKm: number, updatedAt = 100): NearbyFriend => ({
  userId,
  lat: 1,
  lon: 2,
  distanceKm,
  updatedAt,
});

describe('FriendList', () => {
  it('sorts nearest first, ties by user id, and freezes list and entries', () => {
    const list = new FriendList();
    list.replace([f('c', 2), f('b', 1), f('a', 1)]);
    expect(list.list.map((x) => x.userId)).toEqual(['a', 'b', 'c']);
    expect(Object.isFrozen(list.list)).toBe(true);
    expect(Object.isFrozen(list.list[0])).toBe(true);
  });

  it('keeps the same array when a replace or upsert changes nothing', () => {
    const list = new FriendList();
    list.replace([f('a', 1), f('b', 2)]);
    const before = list.list;
    expect(list.replace([f('b', 2), f('a', 1)])).toBe(false);
    expect(list.upsert([f('a', 1)]).changed).toBe(false);
    expect(list.list).toBe(before);
    expect(list.upsert([f('a', 3)]).changed).toBe(true);
    expect(list.list).not.toBe(before);
    expect(list.list.map((x) => x.userId)).toEqual(['b', 'a']);
  });

  it('removes entries and reports expiry candidates by updatedAt', () => {
    const list = new FriendList();
    list.replace([f('a', 1, 50), f('b', 2, 10), f('c', 3, 30)]);
    expect(list.oldestUpdate()).toBe(10);
    expect(list.removeUpdatedBefore(30)).toEqual(['b', 'c']);
    expect(list.list.map((x) => x.userId)).toEqual(['a']);
    expect(list.remove('a')).toBe(true);
    expect(list.remove('a')).toBe(false);
    expect(list.oldestUpdate()).toBeUndefined();
    expect(list.clear()).toBe(false);
  });
});
