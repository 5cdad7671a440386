import { LeaveReason, type NearbyFriend, type SnapshotFrame } from '@nearby/protocol';
import { Timer, type Timers } from './environment.js';
import { FriendList } from './friend-list.js';
import type { Notifier } from './notifier.js';

/**
 * The live nearby list as the server describes it: replaced by each snapshot, changed by
 * `friend_update`, `friend_left` and `friend_removed`, and expired locally when a friend's
 * position is older than `inactiveAfterMs` in server time (estimated from the clock offset
 * measured at each snapshot), even if the server's own `friend_left` has not arrived.
 */
export class FriendView {
  private readonly friends = new FriendList();
  /** Armed for the earliest expiry instead of polling the list. */
  private readonly expiryTimer = new Timer(this.timers, () => this.expire());
  /** `serverTime − local now` at the last snapshot; converts local time to server time for expiry. */
  private clockOffsetMs = 0;

  /**
   * @param timers - Timers whose callbacks run as entry points.
   * @param notifier - Queues the list's events.
   * @param inactiveAfterMs - Local expiry until a snapshot supplies the server's value.
   */
  constructor(
    private readonly timers: Timers,
    private readonly notifier: Notifier,
    private inactiveAfterMs: number,
  ) {}

  /** The current list: frozen, nearest first, the same array until it changes. */
  get list(): readonly NearbyFriend[] {
    return this.friends.list;
  }

  /**
   * Takes a snapshot's list, expiry and clock. The snapshot is authoritative: ghosts disappear,
   * missing friends appear. Returns whether the list changed; the caller raises `nearby` with
   * {@link announce}, after the state change the snapshot may bring.
   */
  replace(frame: SnapshotFrame): boolean {
    this.inactiveAfterMs = frame.inactiveAfterMs;
    this.clockOffsetMs = frame.serverTime - this.timers.now();
    const changed = this.friends.replace(frame.friends);
    this.scheduleExpiry();
    return changed;
  }

  /** Raises `nearby` with the current list. */
  announce(): void {
    this.notifier.emit('nearby', this.friends.list);
  }

  /** A `friend_update`: one `friendUpdate` per entry, then `nearby` if the list changed. */
  update(entries: readonly NearbyFriend[]): void {
    const { friends, changed } = this.friends.upsert(entries);
    if (changed) this.scheduleExpiry();
    for (const friend of friends) this.notifier.emit('friendUpdate', friend);
    if (changed) this.notifier.emit('nearby', this.friends.list);
  }

  /** A friend in the list left it (nothing happens for one not in the list). */
  leave(userId: string, reason: LeaveReason): void {
    if (!this.friends.remove(userId)) return;
    this.scheduleExpiry();
    this.notifier.emit('friendLeft', { userId, reason });
    this.notifier.emit('nearby', this.friends.list);
  }

  /** The server reports a new friendship; the friend shows up once in range. */
  friendAdded(userId: string): void {
    this.notifier.emit('friendAdded', userId);
  }

  /** The server reports a removed friendship; a listed friend leaves as `unfriended`. */
  friendRemoved(userId: string): void {
    this.notifier.emit('friendRemoved', userId);
    this.leave(userId, LeaveReason.UNFRIENDED);
  }

  /** Empties the list and stops expiry (the client closed). */
  clear(): void {
    this.expiryTimer.stop();
    if (this.friends.clear()) this.notifier.emit('nearby', this.friends.list);
  }

  /** Arms one timer for the earliest expiry instead of polling the list. */
  private scheduleExpiry(): void {
    const oldest = this.friends.oldestUpdate();
    if (oldest === undefined) {
      this.expiryTimer.stop();
      return;
    }
    const dueLocal = oldest + this.inactiveAfterMs - this.clockOffsetMs;
    this.expiryTimer.start(dueLocal - this.timers.now());
  }

  private expire(): void {
    const serverNow = this.timers.now() + this.clockOffsetMs;
    const removed = this.friends.removeUpdatedBefore(serverNow - this.inactiveAfterMs);
    this.scheduleExpiry();
    if (removed.length === 0) return;
    for (const userId of removed) this.notifier.emit('friendLeft', { userId, reason: LeaveReason.INACTIVE });
    this.notifier.emit('nearby', this.friends.list);
  }
}
