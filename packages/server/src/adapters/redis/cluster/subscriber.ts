import { Redis, type RedisOptions } from 'ioredis';
import { ErrorCode, NearbyError } from '@nearby/protocol';
import { closeClient } from '../connection.js';
import { nextReady, type Timers } from '../../timers.js';
import { keySlot } from './key-slot.js';

/** What a {@link ShardSubscriber} reports to the transport that owns it. */
export interface ShardSubscriberEvents {
  /** A message on one of the connection's shard channels. */
  message(channel: string, message: string): void;
  /**
   * The node unsubscribed the connection from shard channels by itself (their slot moved away),
   * or answered SSUBSCRIBE with MOVED. Either way the slot map is stale.
   */
  moved(): void;
  /** The connection was lost (not closed on purpose); it holds no subscriptions any more. */
  lost(): void;
  /** The connection is ready, for the first time or again. */
  ready(): void;
  /** A connection error (ioredis keeps reconnecting). */
  error(error: unknown): void;
}

/** One command of a {@link ShardSubscriber.subscribe} call: its channels and the reply. */
export interface SubscribeCommand {
  channels: string[];
  /** The connection's number of shard subscriptions after the command. */
  reply: Promise<number>;
}

/**
 * ioredis options of a subscriber connection, from the options shared by every connection of
 * the transport (without address options).
 */
export function subscriberOptions(shared: RedisOptions): RedisOptions {
  return {
    ...shared,
    lazyConnect: true,
    enableOfflineQueue: false,
    // Subscriptions are restored by the transport, on the node that owns each slot at the time.
    autoResubscribe: false,
    enableAutoPipelining: false,
    connectionName: 'nearby-ssubscriber',
  };
}

/**
 * The dedicated subscriber connection to one master of a Redis Cluster. Knows nothing of which
 * channels it should carry (the reconciler does); it sends SSUBSCRIBE and SUNSUBSCRIBE, one
 * command per slot as the cluster requires, and reports what happens to the connection.
 * ioredis reconnects it for ever with the shared `retryStrategy`; a new connection starts
 * without subscriptions.
 */
export class ShardSubscriber {
  /** `host:port`, as the cluster's slot map names the node. */
  readonly key: string;
  readonly #redis: Redis;
  readonly #timers: Timers;
  #down = false;
  #retired = false;

  constructor(key: string, options: RedisOptions, timers: Timers, events: ShardSubscriberEvents) {
    this.key = key;
    this.#timers = timers;
    const separator = key.lastIndexOf(':');
    this.#redis = new Redis({ ...options, host: key.slice(0, separator), port: Number(key.slice(separator + 1)) });
    this.#redis.on('error', (error: unknown) => events.error(error));
    this.#redis.on('smessage', (channel: string, message: string) => events.message(channel, message));
    // Emitted by ioredis for a node's own sunsubscribe push and for a MOVED answer to SSUBSCRIBE.
    this.#redis.on('moved', () => events.moved());
    this.#redis.on('close', () => {
      if (this.#retired) return;
      this.#down = true;
      events.lost();
    });
    this.#redis.on('ready', () => {
      this.#down = false;
      events.ready();
    });
    this.#redis.connect().catch(() => {
      // Reported through 'error'; retryStrategy keeps trying.
    });
  }

  /** A round trip on the connection: every message the master sent before has been handled. */
  ping(): Promise<unknown> {
    return this.#redis.ping();
  }

  /** Whether commands can be sent now. */
  get ready(): boolean {
    return this.#redis.status === 'ready';
  }

  /** The connection was lost and has not come back; publishes to the node's slots are dropped meanwhile. */
  get down(): boolean {
    return this.#down;
  }

  /** Closed on purpose: its close is not a loss, and replies to it place nothing. */
  get retired(): boolean {
    return this.#retired;
  }

  /**
   * Subscribes `channels`: one SSUBSCRIBE per slot with at most `batchSize` channels, since a
   * command may carry channels of one slot only. Returns the commands sent.
   */
  subscribe(channels: readonly string[], batchSize: number): SubscribeCommand[] {
    return slotBatches(channels, batchSize).map((batch) => ({ channels: batch, reply: this.#redis.ssubscribe(...batch).then(Number) }));
  }

  /** Unsubscribes `channels`, one SUNSUBSCRIBE per slot with at most `batchSize` channels. */
  unsubscribe(channels: readonly string[], batchSize: number): Promise<unknown>[] {
    return slotBatches(channels, batchSize).map((batch) => this.#redis.sunsubscribe(...batch));
  }

  /**
   * The connection's number of shard subscriptions, asked by subscribing `probe` (a channel it
   * carries) again: SSUBSCRIBE of a channel already subscribed changes nothing.
   */
  count(probe: string): Promise<number> {
    return this.#redis.ssubscribe(probe).then(Number);
  }

  /** Resolves once the connection is ready, or rejects with `error()` when `deadline` passes first. */
  whenReady(deadline: number, error: () => Error): Promise<void> {
    if (this.ready) return Promise.resolve();
    return nextReady(this.#redis, this.#timers, deadline - this.#timers.now(), error);
  }

  /** Closes the connection on purpose (QUIT, cut after 1 s). */
  async retire(): Promise<void> {
    this.#retired = true;
    await closeClient(this.#redis, this.#timers);
  }
}

/**
 * Waits until every subscriber is ready; past `deadline` rejects with `adapter_unavailable`
 * naming the masters still not ready.
 */
export async function whenAllReady(
  subscribers: readonly ShardSubscriber[],
  options: { deadline: number; addresses: string; connectTimeoutMs: number },
): Promise<void> {
  const missing = () => subscribers.filter((subscriber) => !subscriber.ready).map((subscriber) => `redis://${subscriber.key}`);
  const error = () =>
    new NearbyError(
      ErrorCode.ADAPTER_UNAVAILABLE,
      `could not connect to Redis Cluster at ${options.addresses}: master ${missing().join(', ')} not ready after ${options.connectTimeoutMs} ms`,
    );
  await Promise.all(subscribers.map((subscriber) => subscriber.whenReady(options.deadline, error)));
}

/** Splits channels into batches of one slot and at most `batchSize` channels. */
export function slotBatches(channels: readonly string[], batchSize: number): string[][] {
  const bySlot = new Map<number, string[]>();
  for (const channel of channels) {
    const slot = keySlot(channel);
    let group = bySlot.get(slot);
    if (group === undefined) bySlot.set(slot, (group = []));
    group.push(channel);
  }
  const batches: string[][] = [];
  for (const group of bySlot.values()) {
    for (let i = 0; i < group.length; i += batchSize) batches.push(group.slice(i, i + batchSize));
  }
  return batches;
}

/** Whether a reply is a MOVED redirection (the node does not serve the slot). */
export function isMoved(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('MOVED ');
}

/** The slot and new master (`host:port`) a MOVED reply names, if it is one. */
export function movedTo(error: unknown): { slot: number; owner: string } | undefined {
  const match = error instanceof Error ? /^MOVED (\d+) (\S+)$/.exec(error.message) : null;
  return match === null ? undefined : { slot: Number(match[1]), owner: match[2]! };
}

/** Whether a command failed because its connection closed (reported through the connection's own events). */
export function isClosed(error: unknown): boolean {
  return error instanceof Error && /Connection is closed|Stream isn't writeable/.test(error.message);
}
