import type { NearbyFriend, NearbyStranger } from '@nearby/protocol';

/** What every list entry has: the sort key and the expiry clock. */
interface Entry {
  distanceKm: number;
  updatedAt: number;
}

/** The fields of a friend entry, its key first. */
export const FRIEND_FIELDS = ['userId', 'lat', 'lon', 'distanceKm', 'updatedAt'] as const satisfies readonly (keyof NearbyFriend)[];
/** The fields of a stranger entry, its key first. */
export const STRANGER_FIELDS = ['id', 'lat', 'lon', 'distanceKm', 'updatedAt', 'display'] as const satisfies readonly (keyof NearbyStranger)[];

/**
 * A live list (the nearby friends, or the nearby people), keyed by its first field, exposed as
 * a frozen array sorted nearest first, equal distances ordered by key (code-unit order,
 * locale-independent). The array is rebuilt only when an entry actually changed, so its identity
 * can drive React re-renders. Entries are frozen copies holding only the known fields.
 *
 * @param fields - The entry's fields, its key first (`FRIEND_FIELDS` by default).
 */
export class FriendList<T extends Entry = NearbyFriend> {
  private readonly byId = new Map<string, T>();
  private sorted: readonly T[] = Object.freeze([]);
  /** The key field. */
  readonly key: keyof T;

  constructor(private readonly fields: readonly (keyof T)[] = FRIEND_FIELDS as never) {
    this.key = fields[0]!;
  }

  /** The current list: frozen, sorted, and the same array until something changes. */
  get list(): readonly T[] {
    return this.sorted;
  }

  /**
   * Replaces the whole list (a snapshot is authoritative: entries missing from it are gone,
   * new ones are added). Returns true when the list changed.
   */
  replace(entries: readonly T[]): boolean {
    const previous = new Map(this.byId);
    this.byId.clear();
    const changed = this.put(entries, previous).changed || previous.size !== this.byId.size;
    if (changed) this.rebuild();
    return changed;
  }

  /**
   * Inserts or updates entries. Returns the stored (frozen) entries, in input order, and
   * whether the list changed.
   */
  upsert(entries: readonly T[]): { stored: T[]; changed: boolean } {
    const result = this.put(entries, this.byId);
    if (result.changed) this.rebuild();
    return result;
  }

  /** Removes `id`; returns true when it was in the list. */
  remove(id: string): boolean {
    if (!this.byId.delete(id)) return false;
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
    for (const entry of this.byId.values()) {
      if (oldest === undefined || entry.updatedAt < oldest) oldest = entry.updatedAt;
    }
    return oldest;
  }

  /** Removes and returns the keys of entries whose `updatedAt` is at or before `cutoff` (server time), sorted. */
  removeUpdatedBefore(cutoff: number): string[] {
    const removed: string[] = [];
    for (const [id, entry] of this.byId) {
      if (entry.updatedAt <= cutoff) removed.push(id);
    }
    if (removed.length === 0) return removed;
    removed.sort();
    for (const id of removed) this.byId.delete(id);
    this.rebuild();
    return removed;
  }

  /** Stores `entries`, keeping the object from `previous` for every entry that did not change. */
  private put(entries: readonly T[], previous: Map<string, T>): { stored: T[]; changed: boolean } {
    let changed = false;
    const stored = entries.map((entry) => {
      const frozen = this.freeze(entry);
      const id = frozen[this.key] as string;
      const before = previous.get(id);
      const kept = before !== undefined && this.same(before, frozen) ? before : ((changed = true), frozen);
      this.byId.set(id, kept);
      return kept;
    });
    return { stored, changed };
  }

  /** A frozen copy holding the known fields that are present, in `fields` order. */
  private freeze(entry: T): T {
    const copy: Partial<T> = {};
    for (const field of this.fields) if (entry[field] !== undefined) copy[field] = entry[field];
    return Object.freeze(copy) as T;
  }

  /** Two frozen copies are equal when their JSON is: both list the same fields in the same order. */
  private same(a: T, b: T): boolean {
    return JSON.stringify(a) === JSON.stringify(b);
  }

  private rebuild(): void {
    const key = this.key;
    this.sorted = Object.freeze(
      [...this.byId.values()].sort((a, b) => a.distanceKm - b.distanceKm || (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0)),
    );
  }
}
