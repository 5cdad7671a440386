import { Redis, type RedisOptions } from 'ioredis';
import type { Discovery, DiscoveryNode, PubSubMessageHandler, PubSubTransport } from '../types.js';
import { HashRing } from '../../sharding/hash-ring.js';
import { FAIL_FAST_OPTIONS, closeClient } from './connection.js';
import { RedisPubSub } from './pubsub.js';

export interface ShardedRedisPubSubOptions {
  /** Where the Pub/Sub nodes are listed; watched for changes. */
  discovery: Discovery;
  /** Extra ioredis options for every connection (TLS, password, …). */
  redis?: RedisOptions;
  /** Points per node on the hash ring. Default 160. */
  virtualNodes?: number;
  /** How long connecting to a node may take. Default 5 000 ms. */
  connectTimeoutMs?: number;
  /** Receives connection errors and failed moves. Default: ignored. */
  onError?: (error: unknown) => void;
  /**
   * After a ring change, publishes also go to a channel's previous node for this long, so a
   * subscriber still moving its subscription misses nothing. Receivers may then see a message
   * twice (the server core ignores the second copy). Default 5 000 ms; 0 disables.
   */
  transitionMs?: number;
}

interface Shard {
  node: DiscoveryNode;
  pubsub: RedisPubSub;
  commands: Redis;
  subscriber: Redis;
}

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

/**
 * Pub/Sub sharded by channel over several independent Redis servers: a consistent hash ring
 * built from a {@link Discovery} list decides which node carries each channel, for publishers
 * and subscribers alike. When the list changes, publishes follow the new ring at once and every
 * subscription whose owner changed moves: subscribed on the new node first, unsubscribed from
 * the old one after, so a channel is never left without a subscription.
 */
export class ShardedRedisPubSub implements PubSubTransport {
  readonly #options: ShardedRedisPubSubOptions;
  readonly #shards = new Map<string, Shard>();
  readonly #channels = new Set<string>();
  #ring: HashRing<DiscoveryNode> = new HashRing([]);
  /** The ring before the last change, and until when publishes also go to it. */
  #previousRing: HashRing<DiscoveryNode> | undefined;
  #transitionUntil = 0;
  #handler: PubSubMessageHandler | undefined;
  #unwatch: (() => void) | undefined;
  /** Ring changes run one after another. */
  #rebalancing: Promise<void> = Promise.resolve();
  #closed = false;
  #rebalances = 0;
  #moved = 0;

  constructor(options: ShardedRedisPubSubOptions) {
    this.#options = options;
  }

  get stats(): Readonly<ShardedRedisPubSubStats> {
    const totals = { published: 0, received: 0, dropped: 0, resubscribed: 0 };
    for (const { pubsub } of this.#shards.values()) {
      const s = pubsub.stats;
      totals.published += s.published;
      totals.received += s.received;
      totals.dropped += s.dropped;
      totals.resubscribed += s.resubscribed;
    }
    return { ...totals, channels: this.#channels.size, nodes: this.#ring.size, rebalances: this.#rebalances, moved: this.#moved };
  }

  /** The node currently carrying `channel`. */
  nodeFor(channel: string): DiscoveryNode {
    return this.#ring.lookup(channel);
  }

  /** Resolves once every ring change seen so far has been applied. */
  settled(): Promise<void> {
    return this.#rebalancing;
  }

  async connect(): Promise<void> {
    const nodes = await this.#options.discovery.getNodes();
    this.#unwatch = this.#options.discovery.watch((next) => {
      this.#rebalancing = this.#rebalancing.then(() => this.#rebalance(next));
    });
    await this.#rebalance(nodes);
  }

  async publish(channel: string, message: string): Promise<void> {
    if (this.#closed) return;
    const shard = this.#shardFor(channel);
    const previous = this.#previousRing;
    if (previous !== undefined && previous.size > 0 && Date.now() < this.#transitionUntil) {
      const old = this.#shards.get(previous.lookup(channel).id);
      if (old !== undefined && old !== shard) {
        await Promise.all([shard.pubsub.publish(channel, message), old.pubsub.publish(channel, message)]);
        return;
      }
    }
    await shard.pubsub.publish(channel, message);
  }

  async subscribe(channels: readonly string[]): Promise<void> {
    for (const channel of channels) this.#channels.add(channel);
    await this.#forEachOwner(channels, (shard, group) => shard.pubsub.subscribe(group));
  }

  async unsubscribe(channels: readonly string[]): Promise<void> {
    for (const channel of channels) this.#channels.delete(channel);
    await this.#forEachOwner(channels, (shard, group) => shard.pubsub.unsubscribe(group));
  }

  onMessage(handler: PubSubMessageHandler): void {
    this.#handler = handler;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unwatch?.();
    await this.#rebalancing.catch(() => undefined);
    await Promise.all([...this.#shards.values()].map((shard) => this.#closeShard(shard)));
    this.#shards.clear();
  }

  #shardFor(channel: string): Shard {
    const node = this.#ring.lookup(channel);
    return this.#shards.get(node.id)!;
  }

  async #forEachOwner(channels: readonly string[], action: (shard: Shard, group: string[]) => Promise<void>): Promise<void> {
    if (this.#ring.size === 0) return; // remembered; subscribed when nodes appear
    const groups = new Map<Shard, string[]>();
    for (const channel of channels) {
      const shard = this.#shardFor(channel);
      let group = groups.get(shard);
      if (group === undefined) groups.set(shard, (group = []));
      group.push(channel);
    }
    await Promise.all([...groups].map(([shard, group]) => action(shard, group)));
  }

  async #rebalance(nodes: readonly DiscoveryNode[]): Promise<void> {
    if (this.#closed) return;
    const previous = this.#ring;
    const next = new HashRing(nodes, { virtualNodes: this.#options.virtualNodes ?? 160 });
    // Connect to nodes that joined (or changed address) before anything moves to them.
    for (const node of next.nodes) {
      const current = this.#shards.get(node.id);
      if (current !== undefined && current.node.url === node.url) continue;
      if (current !== undefined) await this.#closeShard(current);
      const shard = this.#openShard(node);
      this.#shards.set(node.id, shard);
      await shard.pubsub.connect();
    }
    // Publishes follow the new ring from here on (and the old one too, for a transition period).
    this.#previousRing = previous;
    this.#transitionUntil = Date.now() + (this.#options.transitionMs ?? 5_000);
    this.#ring = next;
    this.#rebalances++;
    // Subscribe where channels now live, then leave where they were.
    const moves = new Map<string, { from: Shard | undefined; to: Shard; channels: string[] }>();
    for (const channel of this.#channels) {
      const to = this.#shards.get(next.lookup(channel).id)!;
      const fromId = previous.size > 0 ? previous.lookup(channel).id : undefined;
      if (fromId === to.node.id && previous.nodes.some((n) => n.id === fromId && n.url === to.node.url)) continue;
      const from = fromId === undefined ? undefined : this.#shards.get(fromId);
      const key = `${fromId ?? ''}→${to.node.id}`;
      let move = moves.get(key);
      if (move === undefined) moves.set(key, (move = { from, to, channels: [] }));
      move.channels.push(channel);
    }
    for (const move of moves.values()) {
      try {
        await move.to.pubsub.subscribe(move.channels);
        if (move.from !== undefined && move.from !== move.to) await move.from.pubsub.unsubscribe(move.channels);
        this.#moved += move.from === undefined ? 0 : move.channels.length;
      } catch (error) {
        this.#options.onError?.(error);
      }
    }
    // Nodes that left the ring: everything has moved off them.
    const kept = new Set(next.nodes.map((node) => node.id));
    for (const [id, shard] of this.#shards) {
      if (kept.has(id)) continue;
      this.#shards.delete(id);
      await this.#closeShard(shard);
    }
  }

  #openShard(node: DiscoveryNode): Shard {
    const base: RedisOptions = { ...FAIL_FAST_OPTIONS, ...this.#options.redis };
    const commands = new Redis(node.url, { ...base, connectionName: `nearby-commands-${node.id}` });
    const subscriber = new Redis(node.url, { ...base, autoResubscribe: false, connectionName: `nearby-subscriber-${node.id}` });
    const onError = this.#options.onError ?? (() => {});
    commands.on('error', onError);
    subscriber.on('error', onError);
    const pubsub = new RedisPubSub({
      publisher: commands,
      subscriber,
      ...(this.#options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: this.#options.connectTimeoutMs }),
    });
    pubsub.onMessage((channel, message) => this.#handler?.(channel, message));
    return { node, pubsub, commands, subscriber };
  }

  async #closeShard(shard: Shard): Promise<void> {
    await shard.pubsub.close();
    await Promise.all([closeClient(shard.subscriber), closeClient(shard.commands)]);
  }
}
