import type { Timers } from '../timers.js';

/**
 * Writes the server must not lose (saved settings, withdrawals in the location cache, sign-off
 * checks), retried until they succeed. Keyed: a newer write for a key replaces an older one
 * that is still waiting or in flight, so retries never reorder a key's writes.
 */
export class RetryQueue {
  readonly #timers: Timers;
  readonly #intervalMs: number;
  readonly #onFailure: (key: string, error: unknown) => void;
  /** Writes waiting for a retry, by key. */
  readonly #waiting = new Map<string, () => Promise<void>>();
  /** Per key: incremented by every write, so an attempt that fails late knows it was replaced. */
  readonly #generations = new Map<string, number>();
  #timer: unknown;
  #stopped = false;

  constructor(options: { timers: Timers; intervalMs: number; onFailure: (key: string, error: unknown) => void }) {
    this.#timers = options.timers;
    this.#intervalMs = options.intervalMs;
    this.#onFailure = options.onFailure;
  }

  /** Writes waiting for a retry. */
  get size(): number {
    return this.#waiting.size;
  }

  /** Whether a write for `key` is waiting for a retry. */
  has(key: string): boolean {
    return this.#waiting.has(key);
  }

  /** Attempts `write` now; if it fails, retries it every interval until it succeeds or a newer write for `key` replaces it. */
  run(key: string, write: () => Promise<void>): void {
    const generation = (this.#generations.get(key) ?? 0) + 1;
    this.#generations.set(key, generation);
    this.#waiting.delete(key);
    this.#attempt(key, generation, write);
  }

  /** Forgets the write waiting for `key`: something newer made it pointless. */
  cancel(key: string): void {
    if (!this.#waiting.delete(key)) return;
    this.#generations.set(key, (this.#generations.get(key) ?? 0) + 1);
  }

  /** Retries every waiting write at once (the backend is back). */
  retryNow(): void {
    if (this.#stopped) return;
    this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const [key, write] of waiting) this.#attempt(key, this.#generations.get(key) ?? 0, write);
  }

  stop(): void {
    this.#stopped = true;
    this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waiting.clear();
  }

  #attempt(key: string, generation: number, write: () => Promise<void>): void {
    let pending: Promise<void>;
    try {
      pending = write();
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      () => {
        if (this.#generations.get(key) === generation) this.#generations.delete(key);
      },
      (error: unknown) => {
        if (this.#stopped || this.#generations.get(key) !== generation) return;
        this.#onFailure(key, error);
        this.#waiting.set(key, write);
        this.#arm();
      },
    );
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined;
      this.retryNow();
    }, this.#intervalMs);
  }
}
