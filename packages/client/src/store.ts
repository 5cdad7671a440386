import type { ListenerErrorHandler } from './emitter.js';

/**
 * True when `a` and `b` have the same own fields with the same values (by `Object.is`). The
 * fields compared are the snapshot's own keys, not a hand-kept list, so a field added to the
 * snapshot type is compared without anyone having to remember it.
 */
export function sameFields<S extends object>(a: S, b: S): boolean {
  const keys = Object.keys(a) as (keyof S)[];
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => key in b && Object.is(a[key], b[key]));
}

/**
 * Holds the current snapshot and notifies subscribers when it changes. This is the contract
 * of React's `useSyncExternalStore`: `get()` must return the same object until something
 * changed, or React re-renders forever.
 *
 * Replacing the snapshot and notifying are separate steps: the client replaces it once it has
 * finished handling a call, frame or timer, and notifies together with that entry point's
 * events (see `Notifier`).
 */
export class SnapshotStore<S extends object> {
  private current: S;
  /** The snapshot subscribers were last told about. */
  private notified: S;
  private readonly listeners = new Set<() => void>();

  /**
   * @param initial - The first snapshot.
   * @param onError - Receives exceptions thrown by subscribers.
   */
  constructor(
    initial: S,
    private readonly onError: ListenerErrorHandler,
  ) {
    this.current = Object.freeze({ ...initial });
    this.notified = this.current;
  }

  /** The current snapshot (frozen). */
  get(): S {
    return this.current;
  }

  /**
   * Replaces the snapshot with a frozen copy of `next` if any field differs (by `Object.is`;
   * the friends array is itself rebuilt only on change). Returns true when it changed.
   * Subscribers are told by {@link SnapshotStore.notify}.
   */
  set(next: S): boolean {
    if (sameFields(this.current, next)) return false;
    this.current = Object.freeze({ ...next });
    return true;
  }

  /** Calls every subscriber once if the snapshot changed since they were last called. */
  notify(): void {
    if (this.notified === this.current) return;
    this.notified = this.current;
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch (error) {
        this.onError(error, 'subscribe');
      }
    }
  }

  /** Adds a change listener; returns the function that removes it. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }
}
