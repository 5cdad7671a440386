/** Pauses and limits of the reconciliation schedule. */
export const RECONCILE_TIMING = {
  /** Pause after a shard-channel unsubscribe pushed by a node, so the pushes of one slot move are handled together. */
  movedDebounceMs: 10,
  /** First and longest pause between passes while some channel is not subscribed on its slot owner. */
  retryMinMs: 50,
  retryMaxMs: 2_000,
  /** Passes retried at once after a MOVED answer named a slot's new master, before falling back to backoff. */
  quickRetries: 5,
  /**
   * Failed passes in a row before the trouble is reported (a reshard alone causes a failed pass
   * or two), and how many more between reminders while it lasts.
   */
  reportAfterPasses: 3,
  reportEveryPasses: 30,
} as const;

/** When the next pass is due (ms, on the clock the caller passes in). Replaces any earlier wake-up. */
export interface Wake {
  at: number;
}

/** How a pass ended: when to run the next one, and whether lasting trouble should be reported. */
export interface PassOutcome {
  wake?: Wake;
  /** Set when lasting trouble should be reported: the number of channels still not placed. */
  report?: number;
}

/**
 * When the reconciliation passes of a Redis Cluster transport run: one at a time, the earliest
 * request winning, a request made during a pass starting another right after it, and a pass
 * that left something unplaced retried with backoff, or at once after a MOVED answer named the
 * new owner. Reads no clock and sets no timer: callers pass the time in and arm a timer for the
 * {@link Wake} they get back.
 */
export class PassSchedule {
  /** Between `start` and `stop`: only then are passes scheduled. */
  #active = false;
  #due = Number.POSITIVE_INFINITY;
  #refresh = false;
  #running = false;
  /** A pass was asked for while one ran: another follows it. */
  #again = false;
  /** Consecutive passes that left something unplaced. */
  #failedPasses = 0;
  /** A MOVED answer during the current pass corrected the slot map. */
  #redirected = false;

  /** Whether passes are being scheduled (between `start` and `stop`). */
  get active(): boolean {
    return this.#active;
  }

  /** Whether a pass is running now. */
  get running(): boolean {
    return this.#running;
  }

  /** Passes are scheduled from now on. */
  start(): void {
    this.#active = true;
  }

  /** No pass is scheduled from now on. */
  stop(): void {
    this.#active = false;
    this.#due = Number.POSITIVE_INFINITY;
  }

  /**
   * Asks for a pass in `delayMs`, reloading the slot map first when `refresh` is set. Returns the
   * wake-up to arm, or nothing when an earlier one is armed already or a pass is running (the
   * request then starts another pass right after it).
   */
  request(now: number, delayMs: number, refresh: boolean): Wake | undefined {
    if (!this.#active) return undefined;
    this.#refresh ||= refresh;
    if (this.#running) {
      this.#again = true;
      return undefined;
    }
    const at = now + delayMs;
    if (at >= this.#due) return undefined;
    this.#due = at;
    return { at };
  }

  /** A MOVED answer during the pass named a slot's new owner: an incomplete pass is retried at once. */
  redirected(): void {
    this.#redirected = true;
  }

  /** The wake-up came: a pass starts. Reload the slot map first when `refresh` is set. */
  begin(): { refresh: boolean } {
    this.#due = Number.POSITIVE_INFINITY;
    const refresh = this.#refresh;
    this.#refresh = false;
    this.#running = true;
    this.#redirected = false;
    return { refresh };
  }

  /**
   * The pass ended. A complete one is followed by another only if requests came meanwhile or
   * `mapChanged` (the slot map moved on during it); an incomplete one is retried at once after a
   * MOVED answer (a node named the new owner: try there without waiting for the other nodes to
   * learn of the move), else with backoff, reloading the slot map. `pending` is reported after
   * several incomplete passes in a row.
   */
  end(now: number, complete: boolean, mapChanged: boolean, pending: number): PassOutcome {
    this.#running = false;
    if (!this.#active) return {};
    const outcome: PassOutcome = {};
    if (complete) {
      this.#failedPasses = 0;
      if (mapChanged) this.#again = true;
    } else {
      // The retry reloads the slot map, or follows the MOVED answers seen during this pass.
      this.#again = false;
      this.#failedPasses++;
      const { reportAfterPasses, reportEveryPasses, quickRetries, retryMinMs, retryMaxMs } = RECONCILE_TIMING;
      if (this.#failedPasses >= reportAfterPasses && (this.#failedPasses - reportAfterPasses) % reportEveryPasses === 0) {
        outcome.report = pending;
      }
      const wake =
        this.#redirected && this.#failedPasses <= quickRetries
          ? this.request(now, 0, false)
          : this.request(now, Math.min(retryMinMs * 2 ** this.#failedPasses, retryMaxMs), true);
      if (wake !== undefined) outcome.wake = wake;
    }
    if (this.#again) {
      this.#again = false;
      const wake = this.request(now, RECONCILE_TIMING.movedDebounceMs, false);
      if (wake !== undefined) outcome.wake = wake;
    }
    return outcome;
  }
}
