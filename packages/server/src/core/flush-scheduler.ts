import { globalTimers, runAfterIoPhase, type Timers } from '../timers.js';

/** Inbound work parked because the turn's budget was spent, taken a slice at a time. */
export interface Backlog {
  /** Does at most `max` units of the parked work, oldest first; returns how many it did. */
  drain(max: number): number;
  /** Whether work is still parked. */
  readonly parked: boolean;
}

export interface FlushSchedulerOptions {
  timers?: Timers;
  /**
   * Inbound frames handled per event-loop turn in the I/O callbacks, and again per slice of the
   * parked ones after them. Default 64.
   */
  sliceSize?: number;
  /**
   * While parked work remains, flushes run at most this often (ms), so that writes under
   * overload carry more entries each; with nothing parked they run every turn. Default 25.
   */
  backlogFlushMs?: number;
}

/**
 * The server's event-loop turn. Queued flushes run together once per I/O phase (the timers'
 * `setImmediate`): one inbound message fans out to many connections, and scheduling each
 * connection's flush separately would allocate one Immediate per connection.
 *
 * It also bounds the inbound work of a turn. Under overload the poll phase can hand over
 * thousands of ready sockets in one go (libuv keeps polling while it gets full batches), and
 * handling each message's fan-out there would hold the check phase — the flushes — and the
 * timers back for seconds. So only `sliceSize` frames per turn are handled where they arrive
 * ({@link take}); after that, and while any are parked, connections park their frames
 * ({@link defer}) and the check phase handles one slice of them, round robin, then flushes, and
 * leaves the rest for the next turn — after that turn's timers. While work stays parked the
 * flushes run every `backlogFlushMs` rather than every turn, so that each write carries more.
 */
export class FlushScheduler {
  readonly #timers: Timers;
  readonly #sliceSize: number;
  #pending: Array<() => void> = [];
  #backlogs: Backlog[] = [];
  #armed = false;
  readonly #backlogFlushMs: number;
  #lastFlushAt = Number.NEGATIVE_INFINITY;
  /** Frames that may still be handled inline in this turn. */
  #budget: number;

  constructor(options: FlushSchedulerOptions | Timers = {}) {
    const resolved: FlushSchedulerOptions = 'now' in options ? { timers: options } : options;
    this.#timers = resolved.timers ?? globalTimers;
    this.#sliceSize = resolved.sliceSize ?? 64;
    this.#backlogFlushMs = resolved.backlogFlushMs ?? 50;
    this.#budget = this.#sliceSize;
  }

  /** Backlogs waiting for a slice. */
  get parkedBacklogs(): number {
    return this.#backlogs.length;
  }

  readonly schedule = (flush: () => void): void => {
    this.#pending.push(flush);
    this.#arm();
  };

  /** Whether one more inbound frame may be handled now; false: park it (behind any frames already parked). */
  take(): boolean {
    this.#arm();
    if (this.#budget <= 0 || this.#backlogs.length > 0) return false;
    this.#budget--;
    return true;
  }

  /** Queues a backlog that has just started parking work; it is drained in the check phase. */
  defer(backlog: Backlog): void {
    this.#backlogs.push(backlog);
    this.#arm();
  }

  #arm(): void {
    if (this.#armed) return;
    this.#armed = true;
    runAfterIoPhase(this.#timers, this.#run);
  }

  readonly #run = (): void => {
    this.#armed = false;
    // A new turn: the next I/O phase may handle a slice where frames arrive.
    this.#budget = this.#sliceSize;
    this.#drainSlice();
    const now = this.#timers.now();
    if (this.#backlogs.length === 0 || now - this.#lastFlushAt >= this.#backlogFlushMs) {
      this.#lastFlushAt = now;
      this.#flushAll();
    }
    if (this.#backlogs.length > 0 || this.#pending.length > 0) this.#arm();
  };

  #drainSlice(): void {
    let left = this.#sliceSize;
    const backlogs = this.#backlogs;
    if (backlogs.length === 0) return;
    this.#backlogs = [];
    let i = 0;
    // Round robin: a connection with much parked gets its turn again behind the others.
    for (; i < backlogs.length && left > 0; i++) {
      const backlog = backlogs[i]!;
      try {
        left -= backlog.drain(left);
      } catch {
        // One connection's failure must not stop the others.
      }
      if (backlog.parked) this.#backlogs.push(backlog);
    }
    // Not reached in this slice: first in the next one, ahead of those just put back.
    if (i < backlogs.length) this.#backlogs = [...backlogs.slice(i), ...this.#backlogs];
  }

  #flushAll(): void {
    const batch = this.#pending;
    this.#pending = [];
    for (const flush of batch) {
      try {
        flush();
      } catch {
        // A socket failing in send must not stop the other connections' flushes.
      }
    }
  }
}
