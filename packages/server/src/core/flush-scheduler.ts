import { globalTimers, runAfterIoPhase, type Timers } from '../timers.js';

/**
 * Runs queued flushes together once per I/O phase (the timers' `setImmediate`). One inbound
 * message fans out to many connections; scheduling each connection's flush separately would
 * allocate one Immediate per connection.
 */
export class FlushScheduler {
  readonly #timers: Timers;
  #pending: Array<() => void> = [];
  #armed = false;

  constructor(timers: Timers = globalTimers) {
    this.#timers = timers;
  }

  readonly schedule = (flush: () => void): void => {
    this.#pending.push(flush);
    if (this.#armed) return;
    this.#armed = true;
    runAfterIoPhase(this.#timers, this.#run);
  };

  readonly #run = (): void => {
    this.#armed = false;
    const batch = this.#pending;
    this.#pending = [];
    for (const flush of batch) {
      try {
        flush();
      } catch {
        // A socket failing in send must not stop the other connections' flushes.
      }
    }
  };
}
