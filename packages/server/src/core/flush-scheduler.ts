/**
 * Runs queued flushes together once per I/O phase (setImmediate, looked up at call time). One
 * inbound message fans out to many connections; scheduling each connection's flush separately
 * would allocate one Immediate per connection.
 */
export class FlushScheduler {
  #pending: Array<() => void> = [];
  #armed = false;

  readonly schedule = (flush: () => void): void => {
    this.#pending.push(flush);
    if (this.#armed) return;
    this.#armed = true;
    globalThis.setImmediate(this.#run);
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
