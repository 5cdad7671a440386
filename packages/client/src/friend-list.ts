import type { NearbyFriend } from '@nearby/protocol';

/** Nearest first; equal distances ordered by user id (code-unit order, locale-independent). */
function compareFriends(a: NearbyFriend, b: NearbyFriend): number {
  return a.distanceKm - b.distanceKm || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0);
}

function sameFriend(a: NearbyFriend, b: NearbyFriend): boolean {
  return (
    a.userId === b.userId &&
    a.lat === b.lat &&
    a.lon === b.lon &&
    a.distanceKm === b.distanceKm &&
    a.updatedAt === b.updatedAt
  );
}

function freezeFriend(friend: NearbyFriend): NearbyFriend {
  return Object.freeze({
    userId: friend.userId,
    lat: friend.lat,
    lon: friend.lon,
    distanceKm: friend.distanceKm,
    updatedAt: friend.updatedAt,
  });
}

/**
 * The nearby list, keyed by user id, exposed as a frozen array sorted nearest first. The array
 * is rebuilt only when an entry actually changed, so its identity can drive React re-renders.
 */
export class FriendList {
  private readonly byId = new Map<string, NearbyFriend>();
  private sorted: readonly NearbyFriend[] = Object.freeze([]);

  /** The current list: frozen, sorted, and the same array until something changes. */
  get list(): readonly NearbyFriend[] {
    return this.sorted;
  }

  /**
   * Replaces the whole list (a snapshot is authoritative: friends missing from it are gone,
   * new ones are added). Returns true when the list changed.
   */
  replace(friends: readonly NearbyFriend[]): boolean {
    const previous = new Map(this.byId);
    this.byId.clear();
    for (const friend of friends) this.byId.set(friend.userId, freezeFriend(friend));
    const changed =
      previous.size !== this.byId.size ||
      [...this.byId.values()].some((friend) => {
        const before = previous.get(friend.userId);
        return before === undefined || !sameFriend(before, friend);
      });
    if (changed) this.rebuild();
    return changed;
  }

  /**
   * Inserts or updates friends. Returns the stored (frozen) entries, in input order, and
   * whether the list changed.
   */
  upsert(friends: readonly NearbyFriend[]): { friends: NearbyFriend[]; changed: boolean } {
    let changed = false;
    const stored = friends.map((friend) => {
      const before = this.byId.get(friend.userId);
      if (before !== undefined && sameFriend(before, friend)) return before;
      const frozen = freezeFriend(friend);
      this.byId.set(friend.userId, frozen);
      changed = true;
      return frozen;
    });
    if (changed) this.rebuild();
    return { friends: stored, changed };
  }

  /** Removes `userId`; returns true when it was in the list. */
  remove(userId: string): boolean {
    if (!this.byId.delete(userId)) return false;
    this.rebuild();
    return true;
  }

  /** Empties the list; returns true when it was not empty. */
  clear(): boolean {
    return this.replace([]);
  }

  /** Earliest `updatedAt` in the list (server time), or `undefined` when empty. */
  oldestUpdate(): number | undefined {
    let oldest: number | undefined;
    for (const friend of this.byId.values()) {
      if (oldest === undefined || friend.updatedAt < oldest) oldest = friend.updatedAt;
    }
    return oldest;
  }

  /** Removes and returns the ids of friends whose `updatedAt` is at or before `cutoff` (server time). */
  removeUpdatedBefore(cutoff: number): string[] {
    const removed: string[] = [];
    for (const friend of this.byId.values()) {
      if (friend.updatedAt <= cutoff) removed.push(friend.userId);
    }
    if (removed.length === 0) return removed;
    removed.sort();
    for (const userId of removed) this.byId.delete(userId);
    this.rebuild();
    return removed;
  }

  private rebuild(): void {
    this.sorted = Object.freeze([...this.byId.values()].sort(compareFriends));
  }
}
