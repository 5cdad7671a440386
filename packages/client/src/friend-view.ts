import { LeaveReason, type NearbyFriend, type SnapshotFrame } from '@nearby/protocol';
import { Timer, type Timers } from './environment.js';
import { FriendList } from './friend-list.js';
import type { Notifier } from './notifier.js';

/** See {@link createFriendView}. */
export type FriendView = ReturnType<typeof createFriendView>;

/**
 * The live nearby list as the server describes it: replaced by each snapshot, changed by
 * `friend_update`, `friend_left` and `friend_removed`, and expired locally when a friend's
 * position is older than `inactiveAfterMs` in server time (estimated from the clock offset
 * measured at each snapshot), even if the server's own `friend_left` has not arrived.
 *
 * A closure rather than a class, like the connection: private state as locals.
 *
 * @param timers - Timers whose callbacks run as entry points.
 * @param notifier - Queues the list's events.
 * @param inactiveAfterMs - Local expiry until a snapshot supplies the server's value.
 */
export function createFriendView(timers: Timers, notifier: Notifier, inactiveAfterMs: number) {
  const friends = new FriendList();
  /** Armed for the earliest expiry instead of polling the list. */
  const expiryTimer = new Timer(timers, () => expire());
  /** `serverTime − local now` at the last snapshot; converts local time to server time for expiry. */
  let clockOffsetMs = 0;

  const announce = (): void => notifier.emit('nearby', friends.list);

  const scheduleExpiry = (): void => {
    const oldest = friends.oldestUpdate();
    if (oldest === undefined) {
      expiryTimer.stop();
      return;
    }
    const dueLocal = oldest + inactiveAfterMs - clockOffsetMs;
    expiryTimer.start(dueLocal - timers.now());
  };

  const expire = (): void => {
    const serverNow = timers.now() + clockOffsetMs;
    const removed = friends.removeUpdatedBefore(serverNow - inactiveAfterMs);
    scheduleExpiry();
    if (removed.length === 0) return;
    for (const userId of removed) notifier.emit('friendLeft', { userId, reason: LeaveReason.INACTIVE });
    announce();
  };

  /** A friend in the list left it (nothing happens for one not in the list). */
  const leave = (userId: string, reason: LeaveReason): void => {
    if (!friends.remove(userId)) return;
    scheduleExpiry();
    notifier.emit('friendLeft', { userId, reason });
    announce();
  };

  return {
    leave,
    /** Raises `nearby` with the current list. */
    announce,

    /** The current list: frozen, nearest first, the same array until it changes. */
    get list(): readonly NearbyFriend[] {
      return friends.list;
    },

    /**
     * Takes a snapshot's list, expiry and clock. The snapshot is authoritative: ghosts disappear,
     * missing friends appear. Returns whether the list changed; the caller raises `nearby` with
     * `announce()`, after the state change the snapshot may bring.
     */
    replace(frame: SnapshotFrame): boolean {
      inactiveAfterMs = frame.inactiveAfterMs;
      clockOffsetMs = frame.serverTime - timers.now();
      const changed = friends.replace(frame.friends);
      scheduleExpiry();
      return changed;
    },

    /** A `friend_update`: one `friendUpdate` per entry, then `nearby` if the list changed. */
    update(entries: readonly NearbyFriend[]): void {
      const { friends: stored, changed } = friends.upsert(entries);
      if (changed) scheduleExpiry();
      for (const friend of stored) notifier.emit('friendUpdate', friend);
      if (changed) announce();
    },

    /** The server reports a new friendship; the friend shows up once in range. */
    friendAdded(userId: string): void {
      notifier.emit('friendAdded', userId);
    },

    /** The server reports a removed friendship; a listed friend leaves as `unfriended`. */
    friendRemoved(userId: string): void {
      notifier.emit('friendRemoved', userId);
      leave(userId, LeaveReason.UNFRIENDED);
    },

    /** Empties the list and stops expiry (the client closed). */
    clear(): void {
      expiryTimer.stop();
      if (friends.clear()) announce();
    },
  };
}
