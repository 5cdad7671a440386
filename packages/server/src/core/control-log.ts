import type { BusMessage } from './bus.js';

interface Entry {
  message: BusMessage;
  /** The last probe sent before the message was published; a later probe's echo confirms it. */
  afterProbe: number;
}

/**
 * The changes this server announced on the bus (sharing, radius, friendships, sign-offs) that
 * no probe has confirmed yet. If the bus goes down they may be lost, so they are published
 * again when it is back. One entry per subject (latest wins): receivers keep the newest
 * version, so publishing an older message again could not undo a newer one anyway.
 */
export class ControlLog {
  readonly #entries = new Map<string, Entry>();

  get size(): number {
    return this.#entries.size;
  }

  record(message: BusMessage, afterProbe: number): void {
    const subject = subjectOf(message);
    this.#entries.delete(subject); // re-inserted last, so the map stays in publishing order
    this.#entries.set(subject, { message, afterProbe });
  }

  /** Forgets every message published before probe `seq` was sent, now that probe `seq` came back. */
  confirm(seq: number): void {
    for (const [key, entry] of this.#entries) if (entry.afterProbe < seq) this.#entries.delete(key);
  }

  /** Messages not confirmed yet, oldest first. */
  unconfirmed(): BusMessage[] {
    return [...this.#entries.values()].map((entry) => entry.message);
  }
}

function subjectOf(message: BusMessage): string {
  switch (message.k) {
    case 'on':
    case 'off':
      return `sharing ${message.u}`;
    case 'fa':
    case 'fr':
      return `friend ${message.u} ${message.f}`;
    default:
      return `${message.k} ${message.u}`;
  }
}
