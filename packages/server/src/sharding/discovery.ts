/** A Pub/Sub node known to service discovery. */
export interface DiscoveryNode {
  /** Stable identity of the node on the hash ring. */
  id: string;
  /** Connection address, for example `redis://10.0.0.5:6379`. */
  url: string;
}

/**
 * Service discovery for sharded Pub/Sub: the current set of nodes, watched live. Used by
 * sharded transports to build their hash ring.
 */
export interface Discovery {
  /** The current node list. */
  getNodes(): Promise<readonly DiscoveryNode[]>;
  /** Calls `listener` with the full node list after every change; returns an unsubscribe function. */
  watch(listener: (nodes: readonly DiscoveryNode[]) => void): () => void;
  close?(): Promise<void>;
}
