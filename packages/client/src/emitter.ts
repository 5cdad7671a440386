/** Map of event name → listener signature, e.g. `{ state: (next: S, prev: S) => void }`. */
export type EventMap<Events> = { [K in keyof Events]: (...args: never[]) => void };

/** Called with an exception thrown by a listener, and the name of the event it was handling. */
export type ListenerErrorHandler = (error: unknown, event: string) => void;

/**
 * A minimal typed event emitter. Written here instead of using Node's `events` so that the
 * client has no Node built-in in its dependency graph (React Native and browsers lack it).
 *
 * Two deliberate differences from Node's `EventEmitter`:
 * - a listener that throws never unwinds into the emitter: the exception goes to `onError`
 *   and the remaining listeners still run (the client is mid-way through a frame or a timer
 *   when it emits, and must not be left half-updated);
 * - emitting `error` without listeners is a no-op, not a crash.
 */
export class Emitter<Events extends EventMap<Events>> {
  private readonly listeners = new Map<keyof Events, Set<Events[keyof Events]>>();

  /** @param onError - Receives exceptions thrown by listeners. */
  constructor(private readonly onError: ListenerErrorHandler) {}

  /**
   * Adds `listener` for `event`. Returns a function that removes it again (handy in React
   * effects). Adding the same function twice registers it once.
   */
  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  /** Removes `listener` from `event`; unknown listeners are ignored. */
  off<K extends keyof Events>(event: K, listener: Events[K]): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    set.delete(listener);
    if (set.size === 0) this.listeners.delete(event);
  }

  /**
   * Calls every listener of `event` with `args`, in registration order. Iterates over a copy
   * so listeners may add or remove listeners while being called.
   */
  emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as (...a: Parameters<Events[K]>) => void)(...args);
      } catch (error) {
        this.onError(error, String(event));
      }
    }
  }
}
