import type { RedisOptions } from 'ioredis';
import type { Timers } from '../../timers.js';
import { optionKeys } from '@nearby/protocol';

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
  /**
   * Clock and timers: the reconciliation passes and their backoff, the periodic check, the
   * CLUSTERDOWN hold, connect and close timeouts. Default: the globals, looked up at call time.
   * ioredis's own reconnect backoff runs on the global timers.
   */
  timers?: Timers;
}

/** Every key of {@link RedisClusterPubSubOptions}; any other is refused. */
export const REDIS_CLUSTER_PUB_SUB_OPTION_KEYS = optionKeys<RedisClusterPubSubOptions>()([
  'nodes',
  'redis',
  'connectTimeoutMs',
  'onError',
  'batchSize',
  'verifyIntervalMs',
  'timers',
]);

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
