import type { RedisOptions } from 'ioredis';
import { backgroundTimeout, globalTimers, type Timers } from '../timers.js';
import type { Discovery, DiscoveryNode, PubSubMessageHandler, PubSubTransport } from '../types.js';
import { RedisPubSub, type RedisPubSubStats } from './pubsub.js';
import { RedisShardPool, type RedisShard, type RingChange } from './shard-pool.js';
import { checkOptionKeys, optionKeys } from '@nearby/protocol';

export interface ShardedRedisPubSubOptions {
  /** Where the Pub/Sub nodes are listed; watched for changes. Ignored when `pool` is given. */
  discovery?: Discovery;
  /** Nodes shared with a sharded location cache (see `createShardedRedisAdapters`); closed by its owner. */
  pool?: RedisShardPool;
  /** Extra ioredis options for every connection (TLS, password, …), when the transport makes its own pool. */
  redis?: RedisOptions;
  /** Points per node on the hash ring, when the transport makes its own pool. Default 160. */
  virtualNodes?: number;
  /** How long connecting to a node may take, when the transport makes its own pool. Default 5 000 ms. */
  connectTimeoutMs?: number;
  /** Receives connection errors and failed moves. Default: ignored. */
  onError?: (error: unknown) => void;
  /**
   * After a ring change, for this long, publishes also go to a channel's previous node and
   * subscriptions stay on it too, so no message is lost while processes see the change at
   * slightly different moments (a subscriber still moving, or a publisher still on the old
   * ring). Receivers may then see a message twice (the server core ignores the second copy).
   * Every process should see a change within this time. Default 5 000 ms; 0 disables.
   */
  transitionMs?: number;
  /**
   * Channels named `<channelPrefix><userId>` are placed on the ring by the user id, so a user's
   * channel lives on the same node as the user's cached location. Must match the server's
   * `channelPrefix`. Default `nearby:u:`.
   */
  channelPrefix?: string;
  /**
   * Clock and timers: the transition window, and those of the transport's own pool when it makes
   * one. Default: the globals, looked up at call time. A shared `pool` keeps the timers it was
   * given.
   */
  timers?: Timers;
}

/** Every key of {@link ShardedRedisPubSubOptions}; any other is refused. */
const SHARDED_REDIS_PUB_SUB_OPTION_KEYS = optionKeys<ShardedRedisPubSubOptions>()([
  'discovery',
  'pool',
  'redis',
  'virtualNodes',
  'connectTimeoutMs',
  'onError',
  'transitionMs',
  'channelPrefix',
  'timers',
]);

/** Counters of a {@link ShardedRedisPubSub}. */
export interface ShardedRedisPubSubStats {
  published: number;
  received: number;
  dropped: number;
  resubscribed: number;
  channels: number;
  nodes: number;
  /** Ring changes applied. */
  rebalances: number;
  /** Channel subscriptions moved from one node to another by ring changes. */
  moved: number;
}

type Totals = Pick<RedisPubSubStats, 'published' | 'received' | 'dropped' | 'resubscribed'>;

/**
 * Pub/Sub sharded by channel over several independent Redis servers: a consistent hash ring
 * built from a {@link Discovery} list decides which node carries each channel, for publishers
 * and subscribers alike. When the list changes, publishes follow the new ring at once (and also
 * reach the previous node for `transitionMs`), and every subscription whose owner changed moves:
 * subscribed on the new node at once, unsubscribed from the old one when the transition ends, so
 * whichever ring a publisher is still on, the message is heard. A node that left stays connected
 * through the pool's handover.
 */
export class ShardedRedisPubSub implements PubSubTransport {
  readonly #pool: RedisShardPool;
  readonly #ownsPool: boolean;
  readonly #transitionMs: number;
  readonly #channelPrefix: string;
  readonly #onError: (error: unknown) => void;
  readonly #channels = new Set<string>();
  /** One RedisPubSub per node connection set; closed ones are folded into `#retired`. */
  readonly #perShard = new Map<RedisShard, RedisPubSub>();
  readonly #retired: Totals = { published: 0, received: 0, dropped: 0, resubscribed: 0 };
  /** Pending departures from old nodes. */
  readonly #leaving = new Set<unknown>();
  readonly #timers: Timers;
  #handler: PubSubMessageHandler | undefined;
  #closed = false;
  #moved = 0;

  constructor(options: ShardedRedisPubSubOptions) {
    checkOptionKeys(options, SHARDED_REDIS_PUB_SUB_OPTION_KEYS);
    if (options.pool === undefined && options.discovery === undefined) {
      throw new TypeError('ShardedRedisPubSub needs a discovery or a pool');
    }
    this.#ownsPool = options.pool === undefined;
    this.#timers = options.timers ?? globalTimers;
    this.#pool =
      options.pool ??
      new RedisShardPool({
        discovery: options.discovery!,
        ...(options.redis === undefined ? {} : { redis: options.redis }),
        ...(options.virtualNodes === undefined ? {} : { virtualNodes: options.virtualNodes }),
        ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
        ...(options.onError === undefined ? {} : { onError: options.onError }),
        timers: this.#timers,
        // Only the dual publishing needs the previous nodes when the pool is not shared.
        handoverMs: options.transitionMs ?? 5_000,
      });
    this.#transitionMs = options.transitionMs ?? 5_000;
    this.#channelPrefix = options.channelPrefix ?? 'nearby:u:';
    this.#onError = options.onError ?? (() => {});
    this.#pool.onChange((change) => this.#move(change));
  }

  get stats(): Readonly<ShardedRedisPubSubStats> {
    const totals = { ...this.#retired };
    for (const [shard, pubsub] of this.#perShard) {
      const s = pubsub.stats;
      totals.published += s.published;
      totals.received += s.received;
      totals.dropped += s.dropped;
      totals.resubscribed += s.resubscribed;
      if (shard.commands.status === 'end') this.#fold(shard, pubsub);
    }
    return { ...totals, channels: this.#channels.size, nodes: this.#pool.ring.size, rebalances: this.#pool.changes, moved: this.#moved };
  }

  /** The node currently carrying `channel`. */
  nodeFor(channel: string): DiscoveryNode {
    return this.#pool.owner(this.#keyOf(channel)).node;
  }

  /** Resolves once every ring change seen so far has been applied. */
  settled(): Promise<void> {
    return this.#pool.settled();
  }

  async connect(): Promise<void> {
    await this.#pool.connect();
  }

  async publish(channel: string, message: string): Promise<void> {
    if (this.#closed) return;
    const key = this.#keyOf(channel);
    const current = this.#pubsubOf(this.#pool.owner(key));
    const previous = this.#pool.previousOwner(key, this.#transitionMs);
    if (previous === undefined) return current.publish(channel, message);
    await Promise.all([current.publish(channel, message), this.#pubsubOf(previous).publish(channel, message)]);
  }

  async subscribe(channels: readonly string[]): Promise<void> {
    for (const channel of channels) this.#channels.add(channel);
    await this.#forEachOwner(channels, (pubsub, group) => pubsub.subscribe(group));
  }

  async unsubscribe(channels: readonly string[]): Promise<void> {
    for (const channel of channels) this.#channels.delete(channel);
    await this.#forEachOwner(channels, (pubsub, group) => pubsub.unsubscribe(group));
  }

  onMessage(handler: PubSubMessageHandler): void {
    this.#handler = handler;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#handler = undefined;
    for (const timer of this.#leaving) this.#timers.clearTimeout(timer);
    this.#leaving.clear();
    await Promise.all([...this.#perShard.values()].map((pubsub) => pubsub.close()));
    if (this.#ownsPool) await this.#pool.close();
  }

  #keyOf(channel: string): string {
    return channel.startsWith(this.#channelPrefix) ? channel.slice(this.#channelPrefix.length) : channel;
  }

  #pubsubOf(shard: RedisShard): RedisPubSub {
    let pubsub = this.#perShard.get(shard);
    if (pubsub === undefined) {
      pubsub = new RedisPubSub({ publisher: shard.commands, subscriber: shard.subscriber, timers: this.#timers });
      pubsub.onMessage((channel, message) => this.#handler?.(channel, message));
      this.#perShard.set(shard, pubsub);
    }
    return pubsub;
  }

  #fold(shard: RedisShard, pubsub: RedisPubSub): void {
    const s = pubsub.stats;
    this.#retired.published += s.published;
    this.#retired.received += s.received;
    this.#retired.dropped += s.dropped;
    this.#retired.resubscribed += s.resubscribed;
    this.#perShard.delete(shard);
    void pubsub.close();
  }

  async #forEachOwner(channels: readonly string[], action: (pubsub: RedisPubSub, group: string[]) => Promise<void>): Promise<void> {
    if (this.#pool.ring.size === 0) return; // remembered; subscribed when nodes appear
    const groups = new Map<RedisShard, string[]>();
    for (const channel of channels) {
      const shard = this.#pool.owner(this.#keyOf(channel));
      let group = groups.get(shard);
      if (group === undefined) groups.set(shard, (group = []));
      group.push(channel);
    }
    await Promise.all([...groups].map(([shard, group]) => action(this.#pubsubOf(shard), group)));
  }

  /** After a ring change: subscribe where channels now live, then leave where they were. */
  async #move({ previous }: RingChange): Promise<void> {
    if (this.#closed) return;
    const moves = new Map<string, { from: RedisPubSub | undefined; to: RedisPubSub; channels: string[] }>();
    for (const channel of this.#channels) {
      const key = this.#keyOf(channel);
      const toShard = this.#pool.owner(key);
      const to = this.#pubsubOf(toShard);
      const fromShard = previous.size > 0 ? this.#shardHolding(channel, previous.lookup(key).id) : undefined;
      const from = fromShard === undefined ? undefined : this.#perShard.get(fromShard);
      if (from === to) continue;
      const id = `${fromShard?.node.id ?? ''}→${toShard.node.id}`;
      let move = moves.get(id);
      if (move === undefined) moves.set(id, (move = { from, to, channels: [] }));
      move.channels.push(channel);
    }
    for (const move of moves.values()) {
      try {
        await move.to.subscribe(move.channels);
        if (move.from !== undefined) {
          this.#moved += move.channels.length;
          this.#leaveLater(move.from, move.channels);
        }
      } catch (error) {
        this.#onError(error);
      }
    }
  }

  /**
   * Leaves the old node only when the transition ends: until then a process that has not seen
   * the change yet still publishes there only, and this subscription is what hears it.
   */
  #leaveLater(from: RedisPubSub, channels: string[]): void {
    const leave = () => {
      this.#leaving.delete(timer);
      // Channels that moved back to that node meanwhile stay.
      const gone = channels.filter((channel) => this.#perShard.get(this.#pool.owner(this.#keyOf(channel))) !== from);
      if (gone.length > 0) from.unsubscribe(gone).catch((error: unknown) => this.#onError(error));
    };
    const timer = backgroundTimeout(this.#timers, leave, this.#transitionMs);
    this.#leaving.add(timer);
  }

  /** The connection set of node `id` on which this transport subscribed `channel`, if any. */
  #shardHolding(channel: string, id: string): RedisShard | undefined {
    for (const [shard, pubsub] of this.#perShard) {
      if (shard.node.id === id && pubsub.has(channel)) return shard;
    }
    return undefined;
  }
}
