import { Redis, type RedisOptions } from 'ioredis';
import { ErrorCode, NearbyError, checkOptionKeys, optionKeys } from '@nearby/protocol';
import type { Discovery, DiscoveryNode } from '../types.js';
import { HashRing } from '../../sharding/hash-ring.js';
import { backgroundTimeout, globalTimers, type Timers } from '../timers.js';
import { FAIL_FAST_OPTIONS, closeClient, whenReady } from './connection.js';

export interface RedisShardPoolOptions {
  /** Where the nodes are listed; watched for changes. Not closed by the pool: close it after. */
  discovery: Discovery;
  /** Extra ioredis options for every connection (TLS, password, …). */
  redis?: RedisOptions;
  /** Points per node on the hash ring. Default 160. */
  virtualNodes?: number;
  /** How long connecting to a node may take. Default 5 000 ms. */
  connectTimeoutMs?: number;
  /**
   * How long after a ring change the previous ring is still consulted, and nodes that left it
   * stay connected. Consumers use shorter windows of their own within it. Default 60 000 ms.
   */
  handoverMs?: number;
  /** Receives connection errors and failed ring changes. Default: ignored. */
  onError?: (error: unknown) => void;
  /**
   * Clock and timers: the handover window, the retries of a ring change that could not be
   * applied, connect and close timeouts. Default: the globals, looked up at call time.
   */
  timers?: Timers;
}

/** Every key of {@link RedisShardPoolOptions}; any other is refused. */
const REDIS_SHARD_POOL_OPTION_KEYS = optionKeys<RedisShardPoolOptions>()([
  'discovery',
  'redis',
  'virtualNodes',
  'connectTimeoutMs',
  'handoverMs',
  'onError',
  'timers',
]);

/** One node of the pool and its two connections. */
export interface RedisShard {
  readonly node: DiscoveryNode;
  /** Command connection (cache reads and writes, PUBLISH), auto-pipelined. */
  readonly commands: Redis;
  /** Subscriber connection, created with `autoResubscribe: false`. */
  readonly subscriber: Redis;
}

/** A ring change, as told to {@link RedisShardPool.onChange} listeners. */
export interface RingChange {
  previous: HashRing<DiscoveryNode>;
  next: HashRing<DiscoveryNode>;
}

/**
 * The Redis nodes of a sharded deployment, kept in step with a {@link Discovery}: a consistent
 * hash ring decides which node owns a key, and each node has one command and one subscriber
 * connection, shared by the sharded Pub/Sub and the sharded location cache, so that one
 * update's cache write and publish leave in the same write to the same node.
 *
 * On a change, nodes that joined are connected before the ring switches; listeners (the
 * Pub/Sub moving its subscriptions) run next, in order; nodes that left stay connected for
 * `handoverMs`, so readers and publishers can still reach a key's previous owner meanwhile.
 */
export class RedisShardPool {
  readonly #options: RedisShardPoolOptions;
  readonly #shards = new Map<string, RedisShard>();
  /** Nodes that left the ring, closed when their handover ends (or when they come back). */
  readonly #retiring = new Map<string, { shard: RedisShard; timer: unknown }>();
  readonly #listeners: Array<(change: RingChange) => Promise<void>> = [];
  #ring: HashRing<DiscoveryNode> = new HashRing([]);
  #previousRing: HashRing<DiscoveryNode> = new HashRing([]);
  #changedAt = Number.NEGATIVE_INFINITY;
  #connected: Promise<void> | undefined;
  #unwatch: (() => void) | undefined;
  /** Ring changes run one after another. */
  #changing: Promise<void> = Promise.resolve();
  /** The newest list seen; an older list that failed is not retried once a newer one arrived. */
  #latest: readonly DiscoveryNode[] | undefined;
  readonly #retries = new Set<unknown>();
  readonly #timers: Timers;
  #closed = false;
  #changes = 0;

  constructor(options: RedisShardPoolOptions) {
    checkOptionKeys(options, REDIS_SHARD_POOL_OPTION_KEYS);
    this.#options = options;
    this.#timers = options.timers ?? globalTimers;
  }

  get ring(): HashRing<DiscoveryNode> {
    return this.#ring;
  }

  /** Ring changes applied (the first ring counts as one). */
  get changes(): number {
    return this.#changes;
  }

  /** The handover window, in ms. */
  get handoverMs(): number {
    return this.#options.handoverMs ?? 60_000;
  }

  /** Reads the node list, connects to every node, and follows the discovery from then on. Idempotent. */
  connect(): Promise<void> {
    this.#connected ??= (async () => {
      const nodes = await this.#options.discovery.getNodes();
      if (nodes.length === 0) throw new NearbyError(ErrorCode.ADAPTER_UNAVAILABLE, 'the discovery lists no Redis nodes');
      this.#unwatch = this.#options.discovery.watch((next) => this.#enqueue(next));
      await this.#apply(nodes);
    })().catch((error: unknown) => {
      this.#unwatch?.();
      this.#connected = undefined;
      throw error;
    });
    return this.#connected;
  }

  /** Runs `listener` after every ring change, the first ring included; changes wait for it. */
  onChange(listener: (change: RingChange) => Promise<void>): void {
    this.#listeners.push(listener);
  }

  /** Resolves once every ring change seen so far has been applied. */
  settled(): Promise<void> {
    return this.#changing;
  }

  /** The node owning `key` on the current ring. Throws `adapter_unavailable` when the ring is empty. */
  owner(key: string): RedisShard {
    return this.#shards.get(this.#ring.lookup(key).id)!;
  }

  /**
   * The node that owned `key` before the last ring change, if it was another node, the change
   * happened less than `withinMs` ago, and the node is still connected.
   */
  previousOwner(key: string, withinMs: number): RedisShard | undefined {
    if (this.#previousRing.size === 0 || this.#timers.now() - this.#changedAt >= withinMs) return undefined;
    const id = this.#previousRing.lookup(key).id;
    if (id === this.#ring.lookup(key).id) return undefined;
    return this.#shards.get(id) ?? this.#retiring.get(id)?.shard;
  }

  /** Every node on the current ring. */
  current(): RedisShard[] {
    return this.#ring.nodes.map((node) => this.#shards.get(node.id)!);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unwatch?.();
    for (const timer of this.#retries) this.#timers.clearTimeout(timer);
    this.#retries.clear();
    await this.#changing.catch(() => undefined);
    const all = [...this.#shards.values()];
    for (const { shard, timer } of this.#retiring.values()) {
      this.#timers.clearTimeout(timer);
      all.push(shard);
    }
    this.#shards.clear();
    this.#retiring.clear();
    await Promise.all(all.map((shard) => closeShard(shard, this.#timers)));
  }

  /**
   * Applies the latest list after the changes before it. A list that cannot be applied (a new
   * node unreachable) is retried with backoff until it is, or until a newer list replaces it:
   * a process left on an old ring would publish and subscribe where others no longer do.
   */
  #enqueue(nodes: readonly DiscoveryNode[], attempt = 0): void {
    this.#latest = nodes;
    this.#changing = this.#changing
      .then(() => this.#apply(nodes))
      .catch((error: unknown) => {
        this.#options.onError?.(error);
        if (this.#closed || this.#latest !== nodes) return;
        const timer = backgroundTimeout(
          this.#timers,
          () => {
            this.#retries.delete(timer);
            if (this.#latest === nodes) this.#enqueue(nodes, attempt + 1);
          },
          Math.min(100 * 2 ** attempt, 2_000),
        );
        this.#retries.add(timer);
      });
  }

  async #apply(nodes: readonly DiscoveryNode[]): Promise<void> {
    if (this.#closed) return;
    if (nodes.length === 0) {
      // Routing nowhere would drop every update: keep the current ring until nodes are listed.
      throw new NearbyError(ErrorCode.ADAPTER_UNAVAILABLE, 'the discovery lists no Redis nodes; keeping the current ring');
    }
    const previous = this.#ring;
    const next = new HashRing(nodes, { virtualNodes: this.#options.virtualNodes ?? 160 });
    // Connect to nodes that joined (or moved address) before anything is routed to them.
    for (const node of next.nodes) {
      const current = this.#shards.get(node.id);
      if (current !== undefined && current.node.url === node.url) continue;
      const returning = this.#retiring.get(node.id);
      if (returning !== undefined && returning.shard.node.url === node.url) {
        this.#timers.clearTimeout(returning.timer);
        this.#retiring.delete(node.id);
        this.#shards.set(node.id, returning.shard);
        continue;
      }
      if (current !== undefined) this.#retire(current);
      const shard = this.#open(node);
      await Promise.all([
        whenReady(shard.commands, this.#options.connectTimeoutMs ?? 5_000, this.#timers),
        whenReady(shard.subscriber, this.#options.connectTimeoutMs ?? 5_000, this.#timers),
      ]).catch(async (error: unknown) => {
        await closeShard(shard, this.#timers);
        throw error;
      });
      this.#shards.set(node.id, shard);
    }
    this.#previousRing = previous;
    this.#changedAt = this.#timers.now();
    this.#ring = next;
    this.#changes++;
    for (const listener of this.#listeners) await listener({ previous, next });
    const kept = new Set(next.nodes.map((node) => node.id));
    for (const [id, shard] of this.#shards) if (!kept.has(id)) this.#retire(shard);
  }

  /** Keeps a node that left the ring connected through the handover, then closes it. */
  #retire(shard: RedisShard): void {
    if (this.#shards.get(shard.node.id) === shard) this.#shards.delete(shard.node.id);
    const earlier = this.#retiring.get(shard.node.id);
    if (earlier !== undefined) {
      this.#timers.clearTimeout(earlier.timer);
      void closeShard(earlier.shard, this.#timers);
    }
    const timer = backgroundTimeout(
      this.#timers,
      () => {
        if (this.#retiring.get(shard.node.id)?.shard !== shard) return;
        this.#retiring.delete(shard.node.id);
        void closeShard(shard, this.#timers);
      },
      this.handoverMs,
    );
    this.#retiring.set(shard.node.id, { shard, timer });
  }

  #open(node: DiscoveryNode): RedisShard {
    const base: RedisOptions = { ...FAIL_FAST_OPTIONS, ...this.#options.redis };
    const commands = new Redis(node.url, { ...base, connectionName: `nearby-commands-${node.id}` });
    const subscriber = new Redis(node.url, { ...base, autoResubscribe: false, connectionName: `nearby-subscriber-${node.id}` });
    // Without a listener ioredis prints every reconnect failure; failed operations surface anyway.
    const onError = this.#options.onError ?? (() => {});
    commands.on('error', onError);
    subscriber.on('error', onError);
    return { node, commands, subscriber };
  }
}

async function closeShard(shard: RedisShard, timers: Timers): Promise<void> {
  await Promise.all([closeClient(shard.subscriber, timers), closeClient(shard.commands, timers)]);
}
