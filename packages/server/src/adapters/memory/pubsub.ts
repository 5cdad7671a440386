import type { PubSubMessageHandler, PubSubTransport } from '../types.js';
import { checkOptionKeys, optionKeys } from '@nearby/protocol';

/**
 * The message bus that in-process {@link MemoryPubSub} transports share. Servers in one
 * process that are given transports on the same hub behave like processes sharing a Redis.
 */
export class MemoryPubSubHub {
  readonly #subscribers = new Map<string, Set<MemoryPubSub>>();

  /** @internal */
  add(channel: string, transport: MemoryPubSub): void {
    let set = this.#subscribers.get(channel);
    if (set === undefined) {
      set = new Set();
      this.#subscribers.set(channel, set);
    }
    set.add(transport);
  }

  /** @internal */
  remove(channel: string, transport: MemoryPubSub): void {
    const set = this.#subscribers.get(channel);
    if (set === undefined) return;
    set.delete(transport);
    if (set.size === 0) this.#subscribers.delete(channel);
  }

  /** @internal Delivers to every subscribed transport; returns how many received it. */
  deliver(channel: string, message: string): number {
    const set = this.#subscribers.get(channel);
    if (set === undefined) return 0;
    for (const transport of set) transport.receive(channel, message);
    return set.size;
  }

  /** Number of channels with at least one subscriber. */
  get channelCount(): number {
    return this.#subscribers.size;
  }
}

/** Counters of a {@link MemoryPubSub}, for tests and metrics. */
export interface MemoryPubSubStats {
  published: number;
  received: number;
  subscribeCalls: number;
  unsubscribeCalls: number;
  channels: number;
}

export interface MemoryPubSubOptions {
  /** Hub shared with other transports; a private one when omitted. */
  hub?: MemoryPubSubHub;
}

/** Every key of {@link MemoryPubSubOptions}; any other is refused. */
const MEMORY_PUB_SUB_OPTION_KEYS = optionKeys<MemoryPubSubOptions>()(['hub']);

/**
 * In-process Pub/Sub: the embedded default. Messages are delivered asynchronously (in a
 * microtask), like over a network, so code written against it also holds on Redis.
 */
export class MemoryPubSub implements PubSubTransport {
  readonly hub: MemoryPubSubHub;
  readonly #channels = new Set<string>();
  #handler: PubSubMessageHandler | undefined;
  #closed = false;
  readonly #stats: MemoryPubSubStats = { published: 0, received: 0, subscribeCalls: 0, unsubscribeCalls: 0, channels: 0 };

  constructor(options: MemoryPubSubOptions = {}) {
    checkOptionKeys(options, MEMORY_PUB_SUB_OPTION_KEYS);
    this.hub = options.hub ?? new MemoryPubSubHub();
  }

  get stats(): Readonly<MemoryPubSubStats> {
    return { ...this.#stats, channels: this.#channels.size };
  }

  /** True while this transport is subscribed to `channel`. */
  isSubscribed(channel: string): boolean {
    return this.#channels.has(channel);
  }

  async publish(channel: string, message: string): Promise<void> {
    if (this.#closed) return;
    this.#stats.published++;
    this.hub.deliver(channel, message);
  }

  async subscribe(channels: readonly string[]): Promise<void> {
    if (this.#closed) return;
    this.#stats.subscribeCalls++;
    for (const channel of channels) {
      if (this.#channels.has(channel)) continue;
      this.#channels.add(channel);
      this.hub.add(channel, this);
    }
  }

  async unsubscribe(channels: readonly string[]): Promise<void> {
    this.#stats.unsubscribeCalls++;
    for (const channel of channels) {
      if (!this.#channels.delete(channel)) continue;
      this.hub.remove(channel, this);
    }
  }

  onMessage(handler: PubSubMessageHandler): void {
    this.#handler = handler;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const channel of this.#channels) this.hub.remove(channel, this);
    this.#channels.clear();
  }

  /** @internal Called by the hub. */
  receive(channel: string, message: string): void {
    queueMicrotask(() => {
      if (this.#closed || !this.#channels.has(channel)) return;
      this.#stats.received++;
      this.#handler?.(channel, message);
    });
  }
}
