import type { ListenerErrorHandler } from './emitter.js';
import type { NearbySnapshot } from './types.js';

const KEYS = ['state', 'userId', 'friends', 'radiusKm', 'sharing', 'pendingSamples', 'lastError'] as const;

/**
 * Holds the current {@link NearbySnapshot} and notifies subscribers when it changes. This is
 * the contract of React's `useSyncExternalStore`: `get()` must return the same object until
 * something changed, or React re-renders forever.
 */
export class SnapshotStore {
  private current: NearbySnapshot;
  private readonly listeners = new Set<() => void>();

  /**
   * @param initial - The first snapshot.
   * @param onError - Receives exceptions thrown by subscribers.
   */
  constructor(
    initial: NearbySnapshot,
    private readonly onError: ListenerErrorHandler,
  ) {
    this.current = Object.freeze({ ...initial });
  }

  /** The current snapshot (frozen). */
  get(): NearbySnapshot {
    return this.current;
  }

  /**
   * Replaces the snapshot with `next` if any field differs (by `===`; the friends array is
   * itself rebuilt only on change) and notifies subscribers. Returns true when it changed.
   */
  set(next: NearbySnapshot): boolean {
    if (KEYS.every((key) => Object.is(this.current[key], next[key]))) return false;
    this.current = Object.freeze({ ...next });
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch (error) {
        this.onError(error, 'subscribe');
      }
    }
    return true;
  }

  /** Adds a change listener; returns the function that removes it. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }
}
