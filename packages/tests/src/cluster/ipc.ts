/**
 * Messages between the test process (parent) and a cluster server process (child), over the
 * IPC channel of `child_process.fork`. Every request carries an id its answer repeats.
 */

/** Serialisable form of an error that crossed the process boundary. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
}

/** Operations the parent asks a child server process to run. */
export type ServerOp =
  | { op: 'friendAdded'; a: string; b: string }
  | { op: 'friendRemoved'; a: string; b: string }
  | { op: 'stats' }
  | { op: 'drain'; windowMs?: number; waves?: number }
  /**
   * Round trip on one Redis connection of the child. On `commands`: every PUBLISH the child
   * issued before has been executed by Redis. On `subscriber`: every message Redis published to
   * the child before it answered has been handed to the server.
   */
  | { op: 'fence'; connection: 'commands' | 'subscriber' }
  | { op: 'close' };

export type ParentMessage =
  | ({ type: 'call'; id: number } & ServerOp)
  | { type: 'friends'; id: number; ok: true; friends: string[] }
  | { type: 'friends'; id: number; ok: false; error: WireError };

export type ChildMessage =
  | { type: 'ready'; port: number; serverId: string }
  | { type: 'fatal'; error: WireError }
  | { type: 'result'; id: number; ok: true; value: unknown }
  | { type: 'result'; id: number; ok: false; error: WireError }
  | { type: 'getFriends'; id: number; userId: string };

/** What the `stats` operation returns: the server's stats plus the Redis side of the child. */
export interface ChildStats {
  serverId: string;
  pid: number;
  server: import('@nearby/server').NearbyServerStats;
  pubsub:
    | import('@nearby/server/redis').RedisPubSubStats
    | import('@nearby/server/redis').ShardedRedisPubSubStats
    | import('@nearby/server/redis').RedisClusterPubSubStats;
  /** Connection states: of the single Redis, or `<node id>` → state for every node of a sharded ring. */
  redis: Record<string, string>;
  /** With sharded adapters: the node ids on this process's ring. */
  ring?: string[];
  /** Errors the server reported through `onError`, and the latest few messages. */
  errors: number;
  lastErrors: string[];
}

export function toWireError(error: unknown): WireError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(error) };
}

/** An Error rebuilt in the receiving process, keeping `name` and `code`. */
export class RemoteError extends Error {
  readonly code: string | undefined;

  constructor(wire: WireError, context: string) {
    super(`${context}: ${wire.message}`);
    this.name = wire.name;
    this.code = wire.code;
  }
}

/** Sharded adapters of a child: nodes listed in etcd, settings and presence on a primary Redis. */
export interface ShardedConfig {
  etcdUrl: string;
  prefix: string;
  primaryUrl: string;
  transitionMs: number;
  handoverMs: number;
}

/** Configuration passed to a child in its environment. */
export const ENV = {
  /** `redis://host:port` of the Redis shared by the cluster. */
  redisUrl: 'REDIS_URL',
  /** The server's identity on the bus. */
  serverId: 'SERVER_ID',
  /** JSON of extra `NearbyServerOptions` (plain data only). */
  options: 'SERVER_OPTIONS',
  /** `connectTimeoutMs` of the Redis adapters. */
  connectTimeoutMs: 'REDIS_CONNECT_TIMEOUT_MS',
  /** JSON of {@link ShardedConfig}: when set, the child uses sharded adapters on etcd discovery. */
  sharded: 'NEARBY_SHARDED',
  /** JSON of the Redis Cluster's master URLs: when set, Pub/Sub is a RedisClusterPubSub on it (cache, settings, presence on the Redis of {@link ENV.redisUrl}). */
  redisCluster: 'NEARBY_REDIS_CLUSTER',
  /** `livenessTtlMs` of the Redis adapters, when set: how long a crashed process still counts as holding its users. */
  livenessTtlMs: 'NEARBY_LIVENESS_TTL_MS',
  /** When set, the child prints the errors its server reports to stderr. */
  debug: 'NEARBY_CLUSTER_DEBUG',
} as const;
