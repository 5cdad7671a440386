import type { Emitter } from './emitter.js';
import type { Timers } from './environment.js';
import type { NearbyClientEvents } from './types.js';

/** The snapshot side of delivery. */
export interface SnapshotPublisher {
  /** Replaces the snapshot with one built from the current state; true when it changed. */
  commit(): boolean;
  /** Calls the snapshot's subscribers. */
  notify(): void;
}

/** One delivery waiting in the queue. */
interface Delivery {
  /** Subscriber notifications are never discarded: subscribers only read the current snapshot. */
  readonly kind: 'snapshot' | 'event';
  readonly run: () => void;
}

/**
 * Delivers what the client raised during one entry point (a public call, an inbound frame, a
 * timer callback) once that entry point has finished. Until then events are only queued, so
 * the client's state is fully updated before any listener runs and no listener can observe, or
 * re-enter, a half-done step.
 *
 * At the end of the outermost entry point the snapshot is committed; subscribers are notified
 * first (when it changed), then event listeners, in the order the events were raised. A method
 * a listener calls is itself an entry point: its deliveries join the end of the queue, which is
 * drained before the original entry point returns.
 */
export class Notifier {
  private depth = 0;
  /** Events raised by the entry point in progress. */
  private raised: Delivery[] = [];
  /** Deliveries of finished entry points not made yet. */
  private queue: Delivery[] = [];
  private delivering = false;

  /**
   * @param emitter - Calls the application's event listeners.
   * @param snapshot - Commits the snapshot and notifies its subscribers.
   */
  constructor(
    private readonly emitter: Emitter<NearbyClientEvents>,
    private readonly snapshot: SnapshotPublisher,
  ) {}

  /** Runs `fn` as (part of) an entry point; deliveries happen when the outermost one returns. */
  batch<T>(fn: () => T): T {
    this.depth++;
    try {
      return fn();
    } finally {
      this.depth--;
      if (this.depth === 0) this.finish();
    }
  }

  /** Queues `event` for delivery at the end of the current entry point. */
  emit<K extends keyof NearbyClientEvents>(event: K, ...args: Parameters<NearbyClientEvents[K]>): void {
    const delivery: Delivery = { kind: 'event', run: () => this.emitter.emit(event, ...args) };
    if (this.depth > 0) {
      this.raised.push(delivery);
    } else {
      // Raised outside any entry point (should not happen): deliver as an entry point of its own.
      this.batch(() => this.raised.push(delivery));
    }
  }

  /**
   * Drops the events of earlier entry points that are still waiting, because a listener ended
   * the client's session (it called `close()`): they describe a connection and a list that no
   * longer exist. The events of the entry point in progress are kept.
   */
  discardWaiting(): void {
    this.queue = this.queue.filter((delivery) => delivery.kind === 'snapshot');
  }

  /**
   * The same timers with every callback run as an entry point, so that timer-driven work (a
   * flush, a heartbeat, an expiry) delivers its events like any other.
   */
  entryTimers(timers: Timers): Timers {
    return {
      setTimeout: (callback, ms) => timers.setTimeout(() => this.batch(callback), ms),
      clearTimeout: (handle) => timers.clearTimeout(handle),
      now: () => timers.now(),
    };
  }

  private finish(): void {
    const raised = this.raised;
    this.raised = [];
    if (this.snapshot.commit()) this.queue.push({ kind: 'snapshot', run: () => this.snapshot.notify() });
    this.queue.push(...raised);
    // A listener's call into the client ends here; the loop further up the stack delivers.
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) next.run();
    } finally {
      this.delivering = false;
    }
  }
}
