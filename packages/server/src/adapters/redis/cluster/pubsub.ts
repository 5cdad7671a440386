import { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import { ErrorCode, NearbyError } from '@nearby/protocol';
import { globalTimers } from '../../timers.js';
import type { PubSubMessageHandler, PubSubTransport } from '../../types.js';
import { FAIL_FAST_OPTIONS } from '../connection.js';
import { SLOTS, keySlot } from './key-slot.js';
import { ShardSubscriber, isClosed, isMoved, movedTo, subscriberOptions, whenAllReady } from './subscriber.js';
/** Pause after a shard-channel unsubscribe pushed by a node, so the pushes of one slot move are handled together. */
const MOVED_DEBOUNCE_MS = 10;
/** First and longest pause between attempts while some channel is not subscribed on its slot owner. */
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 2_000;
/** Passes retried at once after a MOVED answer named a slot's new master, before falling back to backoff. */
const QUICK_RETRIES = 5;
/**
 * Failed passes in a row before `onError` hears of unplaced channels (a reshard alone causes a
 * failed pass or two), and how many more between reminders while the trouble lasts.
 */
const REPORT_AFTER_PASSES = 3;
const REPORT_EVERY_PASSES = 30;
/** How long publishes are dropped at once after the cluster answered CLUSTERDOWN. */
const CLUSTER_DOWN_HOLD_MS = 1_000;

/** Options of {@link RedisClusterPubSub}. */
export interface RedisClusterPubSubOptions {
  /**
   * Startup nodes: any reachable masters of the cluster, as `redis://host:port` URLs or
   * `{ host, port }`. The rest of the cluster is discovered from them.
   */
  nodes: ReadonlyArray<string | { host: string; port: number }>;
  /**
   * Extra ioredis options for every connection (TLS, username, password, …). Address options
   * are ignored: each connection goes to the node it is for.
   */
  redis?: RedisOptions;
  /** How long `connect()` waits for the cluster and its masters. Default 5 000 ms. */
  connectTimeoutMs?: number;
  /**
   * Receives connection errors, and reports of channels that stay unsubscribed for several
   * attempts in a row (they are retried until they succeed). Default: ignored.
   */
  onError?: (error: unknown) => void;
  /** Most channels per SSUBSCRIBE / SUNSUBSCRIBE command. Default 1000. */
  batchSize?: number;
  /**
   * Period of the safety check that reloads the slot map and confirms, on every master, that
   * each channel is still subscribed where its slot lives. Slot moves are normally handled as
   * soon as a node reports them; this check catches anything missed. Default 5 000 ms.
   */
  verifyIntervalMs?: number;
}

/** Counters of a {@link RedisClusterPubSub}. */
export interface RedisClusterPubSubStats {
  /** Messages published (SPUBLISH accepted by the slot owner). */
  published: number;
  /** Messages received on channels this process is subscribed to. */
  received: number;
  /** Messages not published because their slot owner or the cluster was unreachable (delivery is at most once). */
  dropped: number;
  /** Channels subscribed again after their subscription was lost to a slot move or a lost connection. */
  resubscribed: number;
  /** Channels this process is subscribed to. */
  channels: number;
  /** Channels not currently subscribed on their slot owner (being moved, or the owner is unreachable). */
  pending: number;
  /** SSUBSCRIBE commands sent to subscribe channels (each carries channels of one slot, up to `batchSize`). */
  subscribeCommands: number;
  /** Subscriber connections, one per master that serves slots. */
  nodes: number;
  /** Slot map changes applied to the subscriptions. */
  slotMapChanges: number;
}

/** A dedicated subscriber connection to one master, and what it carries. */
interface Subscriber {
  key: string;
  connection: ShardSubscriber;
  /** Channels subscribed on this connection, by this transport's account. */
  channels: Set<string>;
}

/**
 * Pub/Sub over a Redis 7 Cluster with sharded Pub/Sub: a channel lives in the hash slot of its
 * name, SPUBLISH goes to the master serving that slot, and subscribers must SSUBSCRIBE on that
 * same master. Publishes go through an ioredis `Cluster`, which routes by slot and follows MOVED
 * and ASK. Subscriptions use one dedicated connection per master, so this transport always knows
 * which node carries which channel.
 *
 * When slots move (resharding, failover), a node unsubscribes its clients from the channels of
 * the slots it gave away. Those channels are subscribed again on the slot's new master: on the
 * node's unsubscribe push, on a slot map change, on reconnect, and by a periodic check that
 * compares each connection's subscription count with what it should carry. A channel that cannot
 * be placed yet is retried with backoff until it is; none is dropped silently.
 *
 * Publishes are at most once: while the cluster or a channel's master is unreachable they are
 * dropped and counted, never queued.
 *
 * ```ts
 * const pubsub = new RedisClusterPubSub({ nodes: ['redis://10.0.0.5:6379', 'redis://10.0.0.6:6379'] });
 * const server = createNearbyServer({ ...options, pubsub });
 * await server.listen(); // fails with adapter_unavailable naming the nodes if the cluster is down
 * ```
 */
export class RedisClusterPubSub implements PubSubTransport {
  readonly #cluster: Cluster;
  readonly #subscriberOptions: RedisOptions;
  readonly #addresses: string;
  readonly #batchSize: number;
  readonly #connectTimeoutMs: number;
  readonly #verifyIntervalMs: number;
  readonly #onError: (error: unknown) => void;
  /** Channels asked for, with their slot. */
  readonly #wanted = new Map<string, number>();
  /** Where each wanted channel is subscribed now. */
  readonly #placement = new Map<string, Subscriber>();
  /** Channels whose subscription was lost; subscribing them again counts as a resubscription. */
  readonly #lost = new Set<string>();
  readonly #subscribers = new Map<string, Subscriber>();
  /**
   * Slot owner (`host:port`) of every slot, copied from the cluster client each time it loads the
   * slot map. A copy, because the client patches its own map in place when a command is
   * redirected, which can point a whole range of slots at the wrong node until the next load.
   */
  #map: (string | undefined)[] = [];
  /** The slot map the subscriptions were last arranged for. */
  #owners: (string | undefined)[] = [];
  #handler: PubSubMessageHandler | undefined;
  /** Subscription changes run one after another; this is the tail of that chain. */
  #lock: Promise<unknown> = Promise.resolve();
  #connecting: Promise<void> | undefined;
  #connected = false;
  #closed = false;
  #clusterDownUntil = 0;
  #verifyTimer: ReturnType<typeof setInterval> | undefined;
  #reconcileTimer: ReturnType<typeof setTimeout> | undefined;
  #reconcileDue = Number.POSITIVE_INFINITY;
  #reconcileRefresh = false;
  #reconciling = false;
  #reconcileAgain = false;
  /** Consecutive reconciliations that left something unplaced. */
  #failedPasses = 0;
  /** A MOVED answer during the current pass corrected the slot map. */
  #redirected = false;
  readonly #stats = { published: 0, received: 0, dropped: 0, resubscribed: 0, subscribeCommands: 0, slotMapChanges: 0 };

  constructor(options: RedisClusterPubSubOptions) {
    if (options.nodes.length === 0) throw new TypeError('RedisClusterPubSub needs at least one startup node');
    this.#batchSize = options.batchSize ?? 1000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#verifyIntervalMs = options.verifyIntervalMs ?? 5_000;
    this.#onError = options.onError ?? (() => {});
    this.#addresses = options.nodes.map((node) => (typeof node === 'string' ? node : `redis://${node.host}:${node.port}`)).join(', ');

    const { host: _host, port: _port, path: _path, retryStrategy, enableOfflineQueue: _queue, lazyConnect: _lazy, ...shared } = {
      ...FAIL_FAST_OPTIONS,
      ...options.redis,
    };
    // Reconnect for ever with backoff: a master that restarts gets its channels back by itself.
    this.#subscriberOptions = subscriberOptions({ ...shared, retryStrategy });
    const clusterOptions: ClusterOptions = {
      lazyConnect: true,
      // Publishing while the cluster is unreachable fails at once instead of queueing.
      enableOfflineQueue: false,
      // Auto-pipelined writes are not redirected: a batch in which some publishes succeed and
      // others meet MOVED (a slot that just moved) hands the MOVED errors to the caller, and the
      // slot map is not reloaded. Sent one by one, each publish follows MOVED and ASK.
      enableAutoPipelining: false,
      clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
      redisOptions: { ...shared, enableAutoPipelining: false, connectionName: 'nearby-spublish' },
    };
    const nodes = options.nodes.map((node) => (typeof node === 'string' ? node : { host: node.host, port: node.port }));
    this.#cluster = new Cluster(nodes, clusterOptions);
    // Without listeners, ioredis prints every connection error; they surface through failed operations.
    this.#cluster.on('error', (error: unknown) => this.#onError(error));
    this.#cluster.on('node error', (error: unknown) => this.#onError(error));
    // Any slot map load (ours, or one after a MOVED answer to a publish) may show moved slots.
    this.#cluster.on('refresh', () => {
      this.#map = Array.from({ length: SLOTS }, (_, slot) => this.#cluster.slots[slot]?.[0]);
      // A pass running now checks the map again when it ends.
      if (this.#connected && !this.#reconciling && this.#slotMapChanged()) this.#requestReconcile(0, false);
    });
  }

  /**
   * The hash slot of a shard channel (CRC16 of the name, or of its `{hash tag}`, modulo 16384),
   * as Redis Cluster computes it. Channels of one slot always live on the same master.
   */
  static slotOf(channel: string): number {
    return keySlot(channel);
  }

  get stats(): Readonly<RedisClusterPubSubStats> {
    return {
      ...this.#stats,
      channels: this.#wanted.size,
      pending: this.#wanted.size - this.#placement.size,
      nodes: this.#subscribers.size,
    };
  }

  /** `host:port` of the master serving `channel`'s slot, per the current slot map (undefined before `connect()`). */
  nodeFor(channel: string): string | undefined {
    return this.#ownerOf(keySlot(channel));
  }

  /**
   * Resolves once the cluster answers and a subscriber connection to every master is ready.
   * Rejects with an `adapter_unavailable` NearbyError naming the addresses when that takes longer
   * than `connectTimeoutMs`; the connections keep retrying in the background until `close()`.
   */
  connect(): Promise<void> {
    if (this.#connected) return Promise.resolve();
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async publish(channel: string, message: string): Promise<void> {
    if (this.#closed) return;
    if (this.#cluster.status !== 'ready' || Date.now() < this.#clusterDownUntil) {
      this.#stats.dropped++;
      return;
    }
    const owner = this.#ownerOf(keySlot(channel));
    if (owner !== undefined && this.#subscribers.get(owner)?.connection.down === true) {
      // The master is known to be unreachable: drop now rather than wait for redirections to run out.
      this.#stats.dropped++;
      return;
    }
    try {
      await this.#cluster.spublish(channel, message);
      this.#stats.published++;
    } catch (error) {
      this.#stats.dropped++;
      if (String(error).includes('CLUSTERDOWN')) this.#clusterDownUntil = Date.now() + CLUSTER_DOWN_HOLD_MS;
      throw error;
    }
  }

  /**
   * Subscribes each channel on the master serving its slot. Resolves after one attempt, so the
   * core's batches never wait on a cluster in trouble: a channel whose master cannot take it now
   * (unreachable, or its slot is moving) is retried in the background until it is subscribed,
   * and trouble that lasts is reported to `onError`.
   */
  async subscribe(channels: readonly string[]): Promise<void> {
    const added: string[] = [];
    for (const channel of channels) {
      if (this.#wanted.has(channel)) continue;
      this.#wanted.set(channel, keySlot(channel));
      added.push(channel);
    }
    // Before connect(), channels are remembered and subscribed once the slot map is known.
    if (added.length === 0 || !this.#connected || this.#closed) return;
    const failed = await this.#exclusive(() => this.#place(added));
    if (failed > 0) this.#requestReconcile(RETRY_MIN_MS, true);
  }

  async unsubscribe(channels: readonly string[]): Promise<void> {
    const removed: string[] = [];
    for (const channel of channels) {
      if (!this.#wanted.delete(channel)) continue;
      this.#lost.delete(channel);
      removed.push(channel);
    }
    if (removed.length === 0) return;
    await this.#exclusive(async () => {
      const groups = new Map<Subscriber, string[]>();
      for (const channel of removed) {
        const subscriber = this.#placement.get(channel);
        if (subscriber === undefined) continue;
        this.#unplace(channel);
        let group = groups.get(subscriber);
        if (group === undefined) groups.set(subscriber, (group = []));
        group.push(channel);
      }
      const sends: Promise<unknown>[] = [];
      for (const [subscriber, group] of groups) {
        // A connection that is down has lost its subscriptions already.
        if (!subscriber.connection.ready) continue;
        sends.push(...subscriber.connection.unsubscribe(group, this.#batchSize));
      }
      for (const result of await Promise.allSettled(sends)) {
        // A node that no longer serves the slot has dropped the subscription itself.
        if (result.status === 'rejected' && !isMoved(result.reason)) this.#onError(result.reason);
      }
    });
  }

  onMessage(handler: PubSubMessageHandler): void {
    this.#handler = handler;
  }

  /** Closes the cluster connections and every subscriber connection, and stops all timers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#connected = false;
    this.#handler = undefined;
    if (this.#verifyTimer !== undefined) clearInterval(this.#verifyTimer);
    if (this.#reconcileTimer !== undefined) clearTimeout(this.#reconcileTimer);
    this.#verifyTimer = undefined;
    this.#reconcileTimer = undefined;
    await this.#lock.catch(() => undefined);
    const subscribers = [...this.#subscribers.values()];
    this.#subscribers.clear();
    this.#placement.clear();
    await Promise.all(subscribers.map((subscriber) => this.#retire(subscriber)));
    this.#cluster.disconnect();
  }

  // ------------------------------------------------------------------ connecting

  async #connect(): Promise<void> {
    if (this.#closed) throw new NearbyError(ErrorCode.ADAPTER_UNAVAILABLE, 'RedisClusterPubSub is closed');
    const deadline = Date.now() + this.#connectTimeoutMs;
    await this.#clusterReady(deadline);
    // One subscriber per master, ready before any channel is placed.
    this.#syncSubscribers();
    await whenAllReady(
      [...this.#subscribers.values()].map((subscriber) => subscriber.connection),
      { timers: globalTimers, deadline, addresses: this.#addresses, connectTimeoutMs: this.#connectTimeoutMs },
    );
    if (this.#closed) return;
    this.#connected = true;
    this.#owners = this.#map;
    this.#verifyTimer = setInterval(() => this.#requestReconcile(0, true), this.#verifyIntervalMs);
    this.#verifyTimer.unref();
    const failed = await this.#exclusive(() => this.#place([...this.#wanted.keys()]));
    if (failed > 0) this.#requestReconcile(RETRY_MIN_MS, true);
  }

  async #clusterReady(deadline: number): Promise<void> {
    if (this.#cluster.status === 'ready') return;
    let lastError: unknown;
    const onError = (error: unknown) => {
      lastError = error;
    };
    this.#cluster.on('error', onError);
    this.#cluster.on('node error', onError);
    try {
      // After a failed attempt, ioredis keeps reconnecting on its own (clusterRetryStrategy).
      if (this.#cluster.status === 'wait') this.#cluster.connect().catch(onError);
      await new Promise<void>((resolve, reject) => {
        const onReady = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(
          () => {
            this.#cluster.off('ready', onReady);
            const reason = lastError instanceof Error ? lastError.message : `not ready after ${this.#connectTimeoutMs} ms`;
            reject(
              new NearbyError(ErrorCode.ADAPTER_UNAVAILABLE, `could not connect to Redis Cluster at ${this.#addresses}: ${reason}`, {
                cause: lastError,
              }),
            );
          },
          Math.max(0, deadline - Date.now()),
        );
        timer.unref();
        this.#cluster.once('ready', onReady);
      });
    } finally {
      this.#cluster.off('error', onError);
      this.#cluster.off('node error', onError);
    }
  }

  // ------------------------------------------------------------------ subscriber connections

  /** Opens a subscriber for every master in the slot map. */
  #syncSubscribers(): void {
    for (const key of new Set(this.#map)) {
      if (key !== undefined && !this.#subscribers.has(key)) this.#openSubscriber(key);
    }
  }

  #openSubscriber(key: string): Subscriber {
    const subscriber: Subscriber = {
      key,
      channels: new Set(),
      connection: new ShardSubscriber(key, this.#subscriberOptions, {
        error: (error) => this.#onError(error),
        message: (channel, message) => {
          // A message may still arrive on a channel just unsubscribed; the core asked to stop.
          if (!this.#wanted.has(channel)) return;
          this.#stats.received++;
          this.#handler?.(channel, message);
        },
        moved: () => this.#requestReconcile(MOVED_DEBOUNCE_MS, true),
        lost: () => {
          // A new connection starts without subscriptions, and the node may not own the slots any
          // more when it comes back (failover): every channel it carried is placed again.
          for (const channel of subscriber.channels) {
            this.#placement.delete(channel);
            if (this.#wanted.has(channel)) this.#lost.add(channel);
          }
          subscriber.channels.clear();
          this.#requestReconcile(RETRY_MIN_MS, true);
        },
        ready: () => this.#requestReconcile(0, true),
      }),
    };
    this.#subscribers.set(key, subscriber);
    return subscriber;
  }

  async #retire(subscriber: Subscriber): Promise<void> {
    for (const channel of subscriber.channels) this.#placement.delete(channel);
    subscriber.channels.clear();
    await subscriber.connection.retire();
  }

  // ------------------------------------------------------------------ placing channels

  /**
   * Subscribes the given channels that are wanted and not placed yet, each on the master serving
   * its slot, in one SSUBSCRIBE per slot (a command may carry channels of one slot only).
   * Resolves to the number of channels that could not be placed. Runs under the lock.
   */
  async #place(channels: Iterable<string>): Promise<number> {
    let failed = 0;
    const groups = new Map<Subscriber, string[]>();
    for (const channel of channels) {
      const slot = this.#wanted.get(channel);
      if (slot === undefined || this.#placement.has(channel)) continue;
      const owner = this.#ownerOf(slot);
      const subscriber = owner === undefined ? undefined : (this.#subscribers.get(owner) ?? this.#openSubscriber(owner));
      if (subscriber === undefined || !subscriber.connection.ready) {
        // Placed when the slot gets an owner or the owner's connection is ready.
        failed++;
        continue;
      }
      let group = groups.get(subscriber);
      if (group === undefined) groups.set(subscriber, (group = []));
      group.push(channel);
    }
    const sends: Promise<void>[] = [];
    let firstError: unknown;
    for (const [subscriber, group] of groups) {
      for (const { channels: batch, reply } of subscriber.connection.subscribe(group, this.#batchSize)) {
        this.#stats.subscribeCommands++;
        sends.push(
          reply.then(
            () => {
              for (const channel of batch) this.#setPlaced(channel, subscriber);
            },
            (error: unknown) => {
              failed += batch.length;
              firstError ??= error;
              this.#learnRedirect(error);
            },
          ),
        );
      }
    }
    await Promise.all(sends);
    if (firstError !== undefined && !isMoved(firstError) && !isClosed(firstError)) this.#onError(firstError);
    return failed;
  }

  #setPlaced(channel: string, subscriber: Subscriber): void {
    // Only a connection that is still current may carry the channel (it may have closed meanwhile).
    const { connection } = subscriber;
    if (!this.#wanted.has(channel) || connection.retired || connection.down || this.#subscribers.get(subscriber.key) !== subscriber) return;
    this.#placement.set(channel, subscriber);
    subscriber.channels.add(channel);
    if (this.#lost.delete(channel)) this.#stats.resubscribed++;
  }

  #unplace(channel: string): void {
    const subscriber = this.#placement.get(channel);
    if (subscriber === undefined) return;
    this.#placement.delete(channel);
    subscriber.channels.delete(channel);
  }

  // ------------------------------------------------------------------ reconciling after slot moves

  /**
   * Asks for a reconciliation in `delayMs` (an earlier request wins; requests made while one runs
   * start another right after it), reloading the slot map first when `refresh` is set.
   */
  #requestReconcile(delayMs: number, refresh: boolean): void {
    if (this.#closed || !this.#connected) return;
    this.#reconcileRefresh ||= refresh;
    if (this.#reconciling) {
      this.#reconcileAgain = true;
      return;
    }
    const due = Date.now() + delayMs;
    if (this.#reconcileTimer !== undefined && due >= this.#reconcileDue) return;
    if (this.#reconcileTimer !== undefined) clearTimeout(this.#reconcileTimer);
    this.#reconcileDue = due;
    this.#reconcileTimer = setTimeout(() => void this.#runReconcile(), delayMs);
    this.#reconcileTimer.unref();
  }

  async #runReconcile(): Promise<void> {
    this.#reconcileTimer = undefined;
    this.#reconcileDue = Number.POSITIVE_INFINITY;
    const refresh = this.#reconcileRefresh;
    this.#reconcileRefresh = false;
    this.#reconciling = true;
    this.#redirected = false;
    let complete = false;
    let failure: unknown;
    try {
      complete = await this.#reconcile(refresh);
    } catch (error) {
      failure = error;
    } finally {
      this.#reconciling = false;
    }
    if (this.#closed) return;
    if (complete) {
      this.#failedPasses = 0;
      if (this.#slotMapChanged()) this.#reconcileAgain = true;
    } else {
      // The retry below reloads the slot map; MOVED answers seen during this pass are covered by it.
      this.#reconcileAgain = false;
      this.#failedPasses++;
      // Retrying continues with backoff until everything is placed; lasting trouble is reported.
      if (
        this.#failedPasses >= REPORT_AFTER_PASSES &&
        (this.#failedPasses - REPORT_AFTER_PASSES) % REPORT_EVERY_PASSES === 0
      ) {
        const pending = this.#wanted.size - this.#placement.size;
        this.#onError(
          new NearbyError(
            ErrorCode.ADAPTER_UNAVAILABLE,
            `Redis Cluster at ${this.#addresses}: ${pending} shard channel(s) not subscribed on their slot owner yet; retrying`,
            { cause: failure },
          ),
        );
      }
      if (this.#redirected && this.#failedPasses <= QUICK_RETRIES) {
        // A node named the new owner of a slot: try there now, without waiting for the other
        // nodes to learn of the move (their slot maps can lag behind by a gossip round).
        this.#requestReconcile(0, false);
      } else {
        this.#requestReconcile(Math.min(RETRY_MIN_MS * 2 ** this.#failedPasses, RETRY_MAX_MS), true);
      }
    }
    if (this.#reconcileAgain) {
      this.#reconcileAgain = false;
      this.#requestReconcile(MOVED_DEBOUNCE_MS, false);
    }
  }

  /**
   * Brings every subscription to the master that serves its slot now: channels left behind on a
   * node that gave their slot away are subscribed on the new owner, channels lost with a
   * connection are subscribed again, and each connection's subscription count is checked against
   * what it should carry. Resolves to whether everything is in place.
   */
  async #reconcile(refresh: boolean): Promise<boolean> {
    let complete = true;
    if (refresh) {
      try {
        await this.#refreshSlots();
      } catch (error) {
        this.#onError(error);
        complete = false;
      }
    }
    return this.#exclusive(async () => {
      if (this.#closed) return true;
      const owners = this.#map;
      if (this.#slotMapChanged()) this.#stats.slotMapChanges++;
      this.#owners = owners;
      this.#syncSubscribers();
      // The node that gave a slot away unsubscribes its channels (or already has).
      for (const [channel, subscriber] of this.#placement) {
        const slot = this.#wanted.get(channel);
        // A channel being unsubscribed is left to unsubscribe(), which sends SUNSUBSCRIBE where it is.
        if (slot === undefined || owners[slot] === subscriber.key) continue;
        this.#unplace(channel);
        this.#lost.add(channel);
      }
      if (this.#placement.size < this.#wanted.size) {
        const unplaced = [...this.#wanted.keys()].filter((channel) => !this.#placement.has(channel));
        if ((await this.#place(unplaced)) > 0) complete = false;
      }
      const checks = [...this.#subscribers.values()].map((subscriber) => this.#verify(subscriber));
      for (const ok of await Promise.all(checks)) if (!ok) complete = false;
      // Masters that serve no slot any more carry nothing: close their connections.
      const serving = new Set(owners);
      for (const subscriber of [...this.#subscribers.values()]) {
        if (serving.has(subscriber.key) || subscriber.channels.size > 0) continue;
        this.#subscribers.delete(subscriber.key);
        await this.#retire(subscriber);
      }
      return complete && this.#placement.size === this.#wanted.size;
    });
  }

  /**
   * Checks that a connection still carries every channel placed on it. SSUBSCRIBE of a channel
   * already subscribed changes nothing and answers the connection's number of shard
   * subscriptions; any difference (a node dropped some without us noticing) is repaired by
   * subscribing them all again, which is harmless for those still there.
   */
  async #verify(subscriber: Subscriber): Promise<boolean> {
    if (subscriber.channels.size === 0 || !subscriber.connection.ready) return true;
    const expected = subscriber.channels.size;
    const probe = subscriber.channels.values().next().value!;
    let count: number;
    try {
      count = await subscriber.connection.count(probe);
    } catch (error) {
      if (isMoved(error)) this.#unplaceAll(subscriber, [probe]);
      this.#learnRedirect(error);
      return false;
    }
    if (count === expected) return true;
    let ok = true;
    let highest = count;
    const channels = [...subscriber.channels];
    await Promise.all(
      subscriber.connection.subscribe(channels, this.#batchSize).map(async ({ channels: batch, reply }) => {
        this.#stats.subscribeCommands++;
        try {
          highest = Math.max(highest, await reply);
        } catch (error) {
          ok = false;
          if (isMoved(error)) this.#unplaceAll(subscriber, batch);
          this.#learnRedirect(error);
        }
      }),
    );
    // Each channel that was missing raised the count by one.
    if (highest > count) this.#stats.resubscribed += highest - count;
    return ok;
  }

  /** Forgets channels a node refused (it no longer serves their slot); they are placed again on the next pass. */
  #unplaceAll(subscriber: Subscriber, channels: readonly string[]): void {
    for (const channel of channels) {
      if (this.#placement.get(channel) !== subscriber) continue;
      this.#unplace(channel);
      if (this.#wanted.has(channel)) this.#lost.add(channel);
    }
  }

  /**
   * A MOVED answer names the master now serving a slot. The slot map is corrected with it until
   * the next load, so the next pass subscribes there even while some nodes still report the old
   * owner.
   */
  #learnRedirect(error: unknown): void {
    const moved = movedTo(error);
    if (moved === undefined) return;
    const { slot, owner } = moved;
    if (slot >= SLOTS || this.#map[slot] === owner) return;
    // A new array: the map the subscriptions were arranged for must stay as it was.
    this.#map = this.#map.slice();
    this.#map[slot] = owner;
    this.#redirected = true;
  }

  #refreshSlots(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#cluster.refreshSlotsCache((error) => (error ? reject(error) : resolve()));
    });
  }

  #ownerOf(slot: number): string | undefined {
    return this.#map[slot];
  }

  /** Whether the latest slot map differs from the one the subscriptions were arranged for. */
  #slotMapChanged(): boolean {
    if (this.#map === this.#owners) return false;
    if (this.#owners.length !== this.#map.length) return true;
    for (let slot = 0; slot < SLOTS; slot++) if (this.#map[slot] !== this.#owners[slot]) return true;
    return false;
  }

  /** Runs `task` after every subscription change already started, so changes never interleave. */
  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(task, task);
    this.#lock = run.catch(() => undefined);
    return run;
  }
}
