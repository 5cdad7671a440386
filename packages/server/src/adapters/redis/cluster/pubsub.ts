import type { Cluster, RedisOptions } from 'ioredis';
import { ErrorCode, NearbyError, checkOptionKeys } from '@nearby/protocol';
import { backgroundEvery, backgroundTimeout, globalTimers, type Timers } from '../../timers.js';
import type { PubSubMessageHandler, PubSubTransport } from '../../types.js';
import { FAIL_FAST_OPTIONS } from '../connection.js';
import { createClusterClient, refreshSlotMap, slotOwners, whenClusterReady } from './cluster-client.js';
import { keySlot } from './key-slot.js';
import { REDIS_CLUSTER_PUB_SUB_OPTION_KEYS, type RedisClusterPubSubOptions, type RedisClusterPubSubStats } from './options.js';
import { ClusterReconciler } from './reconciler.js';
import type { Wake } from './schedule.js';
import { ShardSubscriber, isClosed, isMoved, movedTo, subscriberOptions, whenAllReady } from './subscriber.js';

/** How long publishes are dropped at once after the cluster answered CLUSTERDOWN. */
const CLUSTER_DOWN_HOLD_MS = 1_000;

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
 * be placed yet is retried with backoff until it is; none is dropped silently. Where each channel
 * belongs and when to look again is decided by a reconciler that does no I/O;
 * this class runs its answers on the connections.
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
  readonly #timers: Timers;
  /** Which channels are wanted, where each is subscribed, and when to look again. */
  readonly #reconciler = new ClusterReconciler();
  /** The subscriber connection of each master, by `host:port`. */
  readonly #subscribers = new Map<string, ShardSubscriber>();
  #handler: PubSubMessageHandler | undefined;
  /** Subscription changes run one after another; this is the tail of that chain. */
  #lock: Promise<unknown> = Promise.resolve();
  #connecting: Promise<void> | undefined;
  #connected = false;
  #closed = false;
  #clusterDownUntil = 0;
  #stopVerifying: (() => void) | undefined;
  #wakeTimer: unknown;
  readonly #stats = { published: 0, received: 0, dropped: 0, resubscribed: 0, subscribeCommands: 0, slotMapChanges: 0 };

  constructor(options: RedisClusterPubSubOptions) {
    checkOptionKeys(options, REDIS_CLUSTER_PUB_SUB_OPTION_KEYS);
    if (options.nodes.length === 0) throw new TypeError('RedisClusterPubSub needs at least one startup node');
    this.#batchSize = options.batchSize ?? 1000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#verifyIntervalMs = options.verifyIntervalMs ?? 5_000;
    this.#onError = options.onError ?? (() => {});
    this.#timers = options.timers ?? globalTimers;
    this.#addresses = options.nodes.map((node) => (typeof node === 'string' ? node : `redis://${node.host}:${node.port}`)).join(', ');

    const { host: _host, port: _port, path: _path, retryStrategy, enableOfflineQueue: _queue, lazyConnect: _lazy, ...shared } = {
      ...FAIL_FAST_OPTIONS,
      ...options.redis,
    };
    // Reconnect for ever with backoff: a master that restarts gets its channels back by itself.
    this.#subscriberOptions = subscriberOptions({ ...shared, retryStrategy });
    this.#cluster = createClusterClient(options.nodes, shared);
    // Without listeners, ioredis prints every connection error; they surface through failed operations.
    this.#cluster.on('error', (error: unknown) => this.#onError(error));
    this.#cluster.on('node error', (error: unknown) => this.#onError(error));
    // Any slot map load (ours, or one after a MOVED answer to a publish) may show moved slots.
    this.#cluster.on('refresh', () => this.#wake(this.#reconciler.slotMapLoaded(slotOwners(this.#cluster), this.#timers.now())));
  }

  /** The hash slot of a shard channel (CRC16 of its name or `{hash tag}`, mod 16384); a slot's channels share a master. */
  static slotOf(channel: string): number {
    return keySlot(channel);
  }

  get stats(): Readonly<RedisClusterPubSubStats> {
    return { ...this.#stats, channels: this.#reconciler.channels, pending: this.#reconciler.pending, nodes: this.#subscribers.size };
  }

  /** A round trip on each connected master's publishing (or subscriber) connection: what went out (came in) before is done. */
  async fence(side: 'publishers' | 'subscribers'): Promise<void> {
    const publishers = () => this.#cluster.nodes('master').filter((node) => node.status === 'ready');
    const connections = side === 'publishers' ? publishers() : [...this.#subscribers.values()].filter((s) => s.ready);
    await Promise.all(connections.map((connection) => connection.ping()));
  }

  /** `host:port` of the master serving `channel`'s slot, per the current slot map (undefined before `connect()`). */
  nodeFor(channel: string): string | undefined {
    return this.#reconciler.ownerOf(keySlot(channel));
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
    if (this.#cluster.status !== 'ready' || this.#timers.now() < this.#clusterDownUntil) {
      this.#stats.dropped++;
      return;
    }
    const owner = this.#reconciler.ownerOf(keySlot(channel));
    if (owner !== undefined && this.#subscribers.get(owner)?.down === true) {
      // The master is known to be unreachable: drop now rather than wait for redirections to run out.
      this.#stats.dropped++;
      return;
    }
    try {
      await this.#cluster.spublish(channel, message);
      this.#stats.published++;
    } catch (error) {
      this.#stats.dropped++;
      if (String(error).includes('CLUSTERDOWN')) this.#clusterDownUntil = this.#timers.now() + CLUSTER_DOWN_HOLD_MS;
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
    const added = this.#reconciler.want(channels, keySlot);
    // Before connect(), channels are remembered and subscribed once the slot map is known.
    if (added.length === 0 || !this.#connected || this.#closed) return;
    const failed = await this.#exclusive(() => this.#place(added));
    if (failed > 0) this.#wake(this.#reconciler.placementFailed(this.#timers.now()));
  }

  async unsubscribe(channels: readonly string[]): Promise<void> {
    const removed = this.#reconciler.unwant(channels);
    if (removed.length === 0) return;
    await this.#exclusive(async () => {
      const sends: Promise<unknown>[] = [];
      for (const [master, group] of this.#reconciler.release(removed)) {
        const subscriber = this.#subscribers.get(master);
        // A connection that is down has lost its subscriptions already.
        if (subscriber?.ready === true) sends.push(...subscriber.unsubscribe(group, this.#batchSize));
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
    this.#reconciler.stop();
    this.#stopVerifying?.();
    this.#stopVerifying = undefined;
    if (this.#wakeTimer !== undefined) this.#timers.clearTimeout(this.#wakeTimer);
    this.#wakeTimer = undefined;
    await this.#lock.catch(() => undefined);
    const subscribers = [...this.#subscribers.values()];
    this.#subscribers.clear();
    await Promise.all(subscribers.map((subscriber) => subscriber.retire()));
    this.#cluster.disconnect();
  }

  // ------------------------------------------------------------------ connecting

  async #connect(): Promise<void> {
    if (this.#closed) throw new NearbyError(ErrorCode.ADAPTER_UNAVAILABLE, 'RedisClusterPubSub is closed');
    const deadline = this.#timers.now() + this.#connectTimeoutMs;
    const wait = { timers: this.#timers, deadline, addresses: this.#addresses, connectTimeoutMs: this.#connectTimeoutMs };
    await whenClusterReady(this.#cluster, wait);
    // One subscriber per master, ready before any channel is placed.
    for (const master of this.#reconciler.missingConnections()) this.#open(master);
    await whenAllReady([...this.#subscribers.values()], wait);
    if (this.#closed) return;
    this.#connected = true;
    this.#reconciler.start();
    this.#stopVerifying = backgroundEvery(this.#timers, this.#verifyIntervalMs, () =>
      this.#wake(this.#reconciler.periodicCheck(this.#timers.now())),
    );
    const failed = await this.#exclusive(() => this.#place(this.#reconciler.unplaced()));
    if (failed > 0) this.#wake(this.#reconciler.placementFailed(this.#timers.now()));
  }

  /** Opens the subscriber connection of a master and tells the reconciler. */
  #open(master: string): ShardSubscriber {
    const subscriber = new ShardSubscriber(master, this.#subscriberOptions, this.#timers, {
      error: (error) => this.#onError(error),
      message: (channel, message) => {
        // A message may still arrive on a channel just unsubscribed; the core asked to stop.
        if (!this.#reconciler.wants(channel)) return;
        this.#stats.received++;
        this.#handler?.(channel, message);
      },
      moved: () => this.#wake(this.#reconciler.unsubscribePushed(this.#timers.now())),
      lost: () => this.#wake(this.#reconciler.lost(master, this.#timers.now())),
      ready: () => this.#wake(this.#reconciler.ready(this.#timers.now())),
    });
    this.#subscribers.set(master, subscriber);
    this.#reconciler.opened(master);
    return subscriber;
  }

  /** Whether `subscriber` is still the live connection of its master, so its replies count. */
  #current(subscriber: ShardSubscriber): boolean {
    return !subscriber.retired && !subscriber.down && this.#subscribers.get(subscriber.key) === subscriber;
  }

  // ------------------------------------------------------------------ placing channels

  /**
   * Subscribes the given channels that are wanted and not placed yet, each on the master serving
   * its slot. Resolves to the number of channels that could not be placed. Runs under the lock.
   */
  async #place(channels: Iterable<string>): Promise<number> {
    const { groups, unowned } = this.#reconciler.assign(channels);
    // Placed when the slot gets an owner or the owner's connection is ready.
    let failed = unowned;
    const sends: Promise<void>[] = [];
    let firstError: unknown;
    for (const [master, group] of groups) {
      const subscriber = this.#subscribers.get(master) ?? this.#open(master);
      if (!subscriber.ready) {
        failed += group.length;
        continue;
      }
      for (const { channels: batch, reply } of subscriber.subscribe(group, this.#batchSize)) {
        this.#stats.subscribeCommands++;
        sends.push(
          reply.then(
            () => {
              // Only a connection that is still current may carry the channel (it may have closed meanwhile).
              if (this.#current(subscriber)) this.#stats.resubscribed += this.#reconciler.subscribed(master, batch);
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

  // ------------------------------------------------------------------ reconciling after slot moves

  /** Arms the wake-up timer for a pass when the reconciler asks for one (it replaces the earlier one). */
  #wake(wake: Wake | undefined): void {
    if (wake === undefined) return;
    if (this.#wakeTimer !== undefined) this.#timers.clearTimeout(this.#wakeTimer);
    this.#wakeTimer = backgroundTimeout(this.#timers, () => void this.#runPass(), Math.max(0, wake.at - this.#timers.now()));
  }

  async #runPass(): Promise<void> {
    this.#wakeTimer = undefined;
    const { refresh } = this.#reconciler.beginPass();
    let complete = false;
    let failure: unknown;
    try {
      complete = await this.#pass(refresh);
    } catch (error) {
      failure = error;
    }
    if (this.#closed) return;
    const { wake, report } = this.#reconciler.endPass(this.#timers.now(), complete);
    if (report !== undefined) {
      this.#onError(
        new NearbyError(
          ErrorCode.ADAPTER_UNAVAILABLE,
          `Redis Cluster at ${this.#addresses}: ${report} shard channel(s) not subscribed on their slot owner yet; retrying`,
          { cause: failure },
        ),
      );
    }
    this.#wake(wake);
  }

  /**
   * Brings every subscription to the master that serves its slot now: channels left behind on a
   * node that gave their slot away are subscribed on the new owner, channels lost with a
   * connection are subscribed again, and each connection's subscription count is checked against
   * what it should carry. Resolves to whether everything is in place.
   */
  async #pass(refresh: boolean): Promise<boolean> {
    let complete = true;
    if (refresh) {
      try {
        await refreshSlotMap(this.#cluster);
      } catch (error) {
        this.#onError(error);
        complete = false;
      }
    }
    return this.#exclusive(async () => {
      if (this.#closed) return true;
      const { mapChanged, open, unplaced } = this.#reconciler.arrange();
      if (mapChanged) this.#stats.slotMapChanges++;
      for (const master of open) this.#open(master);
      if (unplaced.length > 0 && (await this.#place(unplaced)) > 0) complete = false;
      const checks = [...this.#subscribers.values()].map((subscriber) => this.#verify(subscriber));
      for (const ok of await Promise.all(checks)) if (!ok) complete = false;
      // Masters that serve no slot any more carry nothing: close their connections.
      for (const master of this.#reconciler.idle()) {
        const subscriber = this.#subscribers.get(master);
        this.#subscribers.delete(master);
        await subscriber?.retire();
      }
      return complete && this.#reconciler.pending === 0;
    });
  }

  /**
   * Checks that a connection still carries every channel placed on it, and repairs any
   * difference (a node dropped some without us noticing) by subscribing them all again.
   */
  async #verify(subscriber: ShardSubscriber): Promise<boolean> {
    const check = this.#reconciler.countCheck(subscriber.key);
    if (check === undefined || !subscriber.ready) return true;
    let count: number;
    try {
      count = await subscriber.count(check.probe);
    } catch (error) {
      this.#refusedBy(subscriber, [check.probe], error);
      return false;
    }
    const again = this.#reconciler.counted(subscriber.key, check.expected, count);
    if (again === undefined) return true;
    let ok = true;
    let highest = count;
    await Promise.all(
      subscriber.subscribe(again, this.#batchSize).map(async ({ channels: batch, reply }) => {
        this.#stats.subscribeCommands++;
        try {
          highest = Math.max(highest, await reply);
        } catch (error) {
          ok = false;
          this.#refusedBy(subscriber, batch, error);
        }
      }),
    );
    // Each channel that was missing raised the count by one.
    if (highest > count) this.#stats.resubscribed += highest - count;
    return ok;
  }

  /** A node refused channels placed on it: MOVED means it no longer serves their slot, and names the one that does. */
  #refusedBy(subscriber: ShardSubscriber, channels: readonly string[], error: unknown): void {
    if (isMoved(error)) this.#reconciler.refused(subscriber.key, channels);
    this.#learnRedirect(error);
  }

  #learnRedirect(error: unknown): void {
    const moved = movedTo(error);
    if (moved !== undefined) this.#reconciler.redirect(moved.slot, moved.owner);
  }

  /** Runs `task` after every subscription change already started, so changes never interleave. */
  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(task, task);
    this.#lock = run.catch(() => undefined);
    return run;
  }
}
