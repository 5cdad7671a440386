import { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import { ErrorCode, NearbyError } from '@nearby/protocol';
import { nextReady, type Timers } from '../../timers.js';
import { SLOTS } from './key-slot.js';
import type { SlotOwners } from './reconciler.js';

/**
 * The ioredis `Cluster` client of a Redis Cluster transport: it publishes (SPUBLISH, routed by
 * slot, following MOVED and ASK) and loads the slot map. `shared` are the options of every
 * connection, without address options.
 */
export function createClusterClient(nodes: ReadonlyArray<string | { host: string; port: number }>, shared: RedisOptions): Cluster {
  const options: ClusterOptions = {
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
  return new Cluster(
    nodes.map((node) => (typeof node === 'string' ? node : { host: node.host, port: node.port })),
    options,
  );
}

/**
 * Connects `cluster` if it has not tried yet and resolves once it is ready. Past `deadline`
 * (on `timers`) rejects with `adapter_unavailable` naming the addresses and the last error;
 * ioredis keeps reconnecting in the background.
 */
export async function whenClusterReady(
  cluster: Cluster,
  options: { timers: Timers; deadline: number; addresses: string; connectTimeoutMs: number },
): Promise<void> {
  if (cluster.status === 'ready') return;
  const { timers } = options;
  let lastError: unknown;
  const onError = (error: unknown) => {
    lastError = error;
  };
  cluster.on('error', onError);
  cluster.on('node error', onError);
  try {
    // After a failed attempt, ioredis keeps reconnecting on its own (clusterRetryStrategy).
    if (cluster.status === 'wait') cluster.connect().catch(onError);
    await nextReady(cluster, timers, options.deadline - timers.now(), () => {
      const reason = lastError instanceof Error ? lastError.message : `not ready after ${options.connectTimeoutMs} ms`;
      return new NearbyError(ErrorCode.ADAPTER_UNAVAILABLE, `could not connect to Redis Cluster at ${options.addresses}: ${reason}`, {
        cause: lastError,
      });
    });
  } finally {
    cluster.off('error', onError);
    cluster.off('node error', onError);
  }
}

/** Has `cluster` load the slot map again (it emits 'refresh' when it has). */
export function refreshSlotMap(cluster: Cluster): Promise<void> {
  return new Promise((resolve, reject) => {
    cluster.refreshSlotsCache((error) => (error ? reject(error) : resolve()));
  });
}

/**
 * The master of every slot as `cluster` last loaded it. A copy, because the client patches its
 * own map in place when a command is redirected, which can point a whole range of slots at the
 * wrong node until the next load.
 */
export function slotOwners(cluster: Cluster): SlotOwners {
  return Array.from({ length: SLOTS }, (_, slot) => cluster.slots[slot]?.[0]);
}
