import { Timer, type Timers } from './environment.js';
import type { FriendList } from './friend-list.js';
import type { Notifier } from './notifier.js';

/** The clock both lists expire by, taken from each snapshot. */
export interface ExpiryClock {
  /** `serverTime − local now` at the last snapshot; converts local time to server time. */
  offsetMs: number;
  /** The server's `inactiveAfterMs` from the last snapshot, else the option. */
  inactiveAfterMs: number;
}

/** The events of one list: the whole list changed, one entry arrived or changed, one entry left. */
export type ListEvents = readonly [list: 'nearby' | 'strangers', update: 'friendUpdate' | 'strangerUpdate', left: 'friendLeft' | 'strangerLeft'];

/** See {@link createListView}. */
export type ListView = ReturnType<typeof createListView>;

/**
 * A live list as the server describes it (the nearby friends, or the nearby people): changed by
 * update and leave frames, and expired locally when an entry's `updatedAt` is older than
 * `inactiveAfterMs` in server time (estimated from the clock offset measured at each snapshot),
 * even if the server's own leave frame has not arrived.
 *
 * A closure rather than a class, like the connection: private state as locals.
 *
 * @param timers - Timers whose callbacks run as entry points.
 * @param notifier - Queues the list's events.
 * @param clock - Clock offset and expiry, shared by both lists and updated by each snapshot.
 * @param entries - The list.
 * @param events - Names of the list's events.
 */
export function createListView<T extends { distanceKm: number; updatedAt: number }>(
  timers: Timers,
  notifier: Notifier,
  clock: ExpiryClock,
  entries: FriendList<T>,
  [listEvent, updateEvent, leftEvent]: ListEvents,
) {
  /** Armed for the earliest expiry instead of polling the list. */
  const expiryTimer = new Timer(timers, () => expire());
  const emit = (event: string, payload: unknown): void => notifier.emit(event as 'ack', payload as never);

  const announce = (): void => emit(listEvent, entries.list);

  /** Re-arms the expiry timer for the oldest entry (after a change, or a new clock). */
  const schedule = (): void => {
    const oldest = entries.oldestUpdate();
    if (oldest === undefined) expiryTimer.stop();
    else expiryTimer.start(oldest + clock.inactiveAfterMs - clock.offsetMs - timers.now());
  };

  const expire = (): void => {
    const removed = entries.removeUpdatedBefore(timers.now() + clock.offsetMs - clock.inactiveAfterMs);
    schedule();
    if (removed.length === 0) return;
    for (const id of removed) emit(leftEvent, { [entries.key]: id, reason: 'inactive' });
    announce();
  };

  return {
    announce,

    /** The current list: frozen, nearest first, the same array until it changes. */
    get list(): readonly T[] {
      return entries.list;
    },

    /**
     * Takes a whole list (a snapshot's friends). Returns whether it changed; the caller raises
     * the list event with `announce()`, after the state change the snapshot may bring.
     */
    replace(list: readonly T[]): boolean {
      const changed = entries.replace(list);
      schedule();
      return changed;
    },

    /** An update frame: one update event per entry, then the list event if the list changed. */
    update(list: readonly T[]): void {
      const { stored, changed } = entries.upsert(list);
      if (changed) schedule();
      for (const entry of stored) emit(updateEvent, entry);
      if (changed) announce();
    },

    /** An entry left the list, with the reason (nothing happens for one not in the list). */
    leave(id: string, reason: string): void {
      if (!entries.remove(id)) return;
      schedule();
      emit(leftEvent, { [entries.key]: id, reason });
      announce();
    },

    /** Empties the list (without leave events) and stops expiry. */
    clear(): void {
      expiryTimer.stop();
      if (entries.clear()) announce();
    },
  };
}
