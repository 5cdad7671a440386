import type { Timers } from '../timers.js';

export interface BusHealthOptions {
  timers: Timers;
  /** How often a probe is published. */
  intervalMs: number;
  /** Publishes probe number `seq` on this server's probe channel. */
  publish: (seq: number) => void;
  /** The bus stopped carrying this server's probes back. */
  onDown: () => void;
  /** Probes come back again after the bus was down. */
  onUp: () => void;
}

/** Probes without an echo after which the bus counts as down. */
const MISSED_PROBES_FOR_DOWN = 3;

/**
 * Tells whether the Pub/Sub bus works, whatever the transport: the server publishes a numbered
 * probe on a channel of its own every interval and watches it come back. When no probe has
 * come back for three intervals the bus is down; the first echo after that means it is up
 * again, and, because a probe travels behind everything the server published before it, an
 * echo of probe `n` also confirms every message published before probe `n` was sent.
 */
export class BusHealth {
  readonly #options: BusHealthOptions;
  #timer: unknown;
  #sent = 0;
  #confirmed = 0;
  #lastEchoAt = 0;
  #up = true;

  constructor(options: BusHealthOptions) {
    this.#options = options;
  }

  get up(): boolean {
    return this.#up;
  }

  /** Number of the last probe sent; a message published now is confirmed by the echo of a later one. */
  get sentSeq(): number {
    return this.#sent;
  }

  /** Number of the newest probe that came back. */
  get confirmedSeq(): number {
    return this.#confirmed;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#lastEchoAt = this.#options.timers.now();
    this.#tick();
  }

  stop(): void {
    this.#options.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** A probe of this server came back. */
  echo(seq: number): void {
    if (seq <= this.#confirmed || seq > this.#sent) return;
    this.#confirmed = seq;
    this.#lastEchoAt = this.#options.timers.now();
    if (!this.#up) {
      this.#up = true;
      this.#options.onUp();
    }
  }

  #tick = (): void => {
    const { timers, intervalMs } = this.#options;
    if (this.#up && timers.now() - this.#lastEchoAt > intervalMs * MISSED_PROBES_FOR_DOWN) {
      this.#up = false;
      this.#options.onDown();
    }
    this.#options.publish(++this.#sent);
    this.#timer = timers.setTimeout(this.#tick, intervalMs);
  };
}
