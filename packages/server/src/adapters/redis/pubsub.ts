import type { Redis } from 'ioredis';
import { backgroundTimeout, globalTimers, type Timers } from '../timers.js';
import type { PubSubMessageHandler, PubSubTransport } from '../types.js';
import { closeClient, whenReady } from './connection.js';
import { checkOptionKeys, optionKeys } from '@nearby/protocol';

/** Pause before restoring subscriptions again after a refused attempt. */
const RETRY_MS = 1_000;

export interface RedisPubSubOptions {
  /** Connection used for PUBLISH (may be shared with the location cache). */
  publisher: Redis;
  /** Connection dedicated to SUBSCRIBE; create it with `autoResubscribe: false`, this transport resubscribes itself. */
  subscriber: Redis;
  /** Most channels per SUBSCRIBE / UNSUBSCRIBE command. Default 1000. */
  batchSize?: number;
  /** How long `connect()` waits for Redis. Default 5 000 ms. */
  connectTimeoutMs?: number;
  /** Whether `close()` also closes both connections. Default false. */
  ownsClients?: boolean;
  /** Clock and timers (the retry of a refused resubscription, connect and close timeouts). Default: the globals, looked up at call time. */
  timers?: Timers;
}

/** Every key of {@link RedisPubSubOptions}; any other is refused. */
const REDIS_PUB_SUB_OPTION_KEYS = optionKeys<RedisPubSubOptions>()([
  'publisher',
  'subscriber',
  'batchSize',
  'connectTimeoutMs',
  'ownsClients',
  'timers',
]);

/** Counters of a {@link RedisPubSub}. */
export interface RedisPubSubStats {
  /** Messages published. */
  published: number;
  /** Messages received. */
  received: number;
  /** Channels subscribed again after the subscriber connection came back. */
  resubscribed: number;
  /** Messages not published because Redis was unreachable (delivery is at most once). */
  dropped: number;
  /** SUBSCRIBE commands sent (each may carry up to `batchSize` channels). */
  subscribeCommands: number;
  /** Channels this process is subscribed to. */
  channels: number;
}

/**
 * Pub/Sub over one Redis: one subscriber connection per process, channels subscribed in
 * batches, publishes pipelined with the cache writes issued in the same tick. While Redis is
 * unreachable, publishes are dropped and counted (never queued); when the subscriber
 * connection is back, every channel is subscribed again without the core asking.
 */
export class RedisPubSub implements PubSubTransport {
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #batchSize: number;
  readonly #connectTimeoutMs: number;
  readonly #ownsClients: boolean;
  readonly #timers: Timers;
  readonly #channels = new Set<string>();
  #handler: PubSubMessageHandler | undefined;
  #readyOnce = false;
  #closed = false;
  readonly #stats = { published: 0, received: 0, resubscribed: 0, dropped: 0, subscribeCommands: 0 };

  constructor(options: RedisPubSubOptions) {
    checkOptionKeys(options, REDIS_PUB_SUB_OPTION_KEYS);
    this.#publisher = options.publisher;
    this.#subscriber = options.subscriber;
    this.#batchSize = options.batchSize ?? 1000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#ownsClients = options.ownsClients ?? false;
    this.#timers = options.timers ?? globalTimers;
    this.#subscriber.on('message', (channel: string, message: string) => {
      this.#stats.received++;
      this.#handler?.(channel, message);
    });
    this.#subscriber.on('ready', () => {
      const again = this.#readyOnce;
      this.#readyOnce = true;
      this.#restore(again);
    });
  }

  /** A new connection has no subscriptions: restore all of them, retrying while the connection stays up. */
  #restore(counts: boolean): void {
    if (this.#channels.size === 0 || this.#closed) return;
    const channels = [...this.#channels];
    this.#send('subscribe', channels).then(
      () => {
        if (counts) this.#stats.resubscribed += channels.length;
      },
      () => {
        // Lost with the connection: its next 'ready' restores. Refused while connected: retry.
        if (this.#subscriber.status === 'ready') backgroundTimeout(this.#timers, () => this.#restore(counts), RETRY_MS);
      },
    );
  }

  get stats(): Readonly<RedisPubSubStats> {
    return { ...this.#stats, channels: this.#channels.size };
  }

  /** Whether this transport keeps `channel` subscribed. */
  has(channel: string): boolean {
    return this.#channels.has(channel);
  }

  async connect(): Promise<void> {
    await Promise.all([
      whenReady(this.#publisher, this.#connectTimeoutMs, this.#timers),
      whenReady(this.#subscriber, this.#connectTimeoutMs, this.#timers),
    ]);
  }

  async publish(channel: string, message: string): Promise<void> {
    if (this.#closed) return;
    if (this.#publisher.status !== 'ready') {
      this.#stats.dropped++;
      return;
    }
    try {
      await this.#publisher.publish(channel, message);
      this.#stats.published++;
    } catch (error) {
      this.#stats.dropped++;
      throw error;
    }
  }

  async subscribe(channels: readonly string[]): Promise<void> {
    const added = channels.filter((channel) => !this.#channels.has(channel));
    for (const channel of added) this.#channels.add(channel);
    // While disconnected, the channels are remembered and sent on 'ready'.
    if (added.length > 0 && this.#subscriber.status === 'ready') await this.#send('subscribe', added);
  }

  async unsubscribe(channels: readonly string[]): Promise<void> {
    const removed = channels.filter((channel) => this.#channels.delete(channel));
    if (removed.length > 0 && this.#subscriber.status === 'ready') await this.#send('unsubscribe', removed);
  }

  onMessage(handler: PubSubMessageHandler): void {
    this.#handler = handler;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#handler = undefined;
    if (this.#ownsClients) await Promise.all([closeClient(this.#subscriber, this.#timers), closeClient(this.#publisher, this.#timers)]);
  }

  async #send(command: 'subscribe' | 'unsubscribe', channels: string[]): Promise<void> {
    for (let i = 0; i < channels.length; i += this.#batchSize) {
      const batch = channels.slice(i, i + this.#batchSize);
      if (command === 'subscribe') {
        this.#stats.subscribeCommands++;
        await this.#subscriber.subscribe(...batch);
      } else {
        await this.#subscriber.unsubscribe(...batch);
      }
    }
  }
}
