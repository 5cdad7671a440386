import { ErrorCode, NearbyError } from '@nearby/protocol';
import type { Discovery, DiscoveryNode } from './discovery.js';
import { discoveryNodeProblem, normalizeNodes } from './discovery-node.js';

/**
 * Discovery from a list in configuration. `setNodes` replaces the list (for a configuration
 * reload) and tells every watcher, so a sharded transport rebalances as with a live registry.
 */
export class StaticDiscovery implements Discovery {
  #nodes: readonly DiscoveryNode[];
  readonly #watchers = new Set<(nodes: readonly DiscoveryNode[]) => void>();

  constructor(nodes: readonly DiscoveryNode[]) {
    this.#nodes = StaticDiscovery.#check(nodes);
  }

  async getNodes(): Promise<readonly DiscoveryNode[]> {
    return this.#nodes;
  }

  watch(listener: (nodes: readonly DiscoveryNode[]) => void): () => void {
    this.#watchers.add(listener);
    return () => this.#watchers.delete(listener);
  }

  /** Replaces the node list and notifies watchers. */
  setNodes(nodes: readonly DiscoveryNode[]): void {
    this.#nodes = StaticDiscovery.#check(nodes);
    for (const listener of this.#watchers) listener(this.#nodes);
  }

  async close(): Promise<void> {
    this.#watchers.clear();
  }

  static #check(nodes: readonly DiscoveryNode[]): readonly DiscoveryNode[] {
    const ids = new Set<string>();
    for (const node of nodes) {
      const problem = discoveryNodeProblem(node);
      if (problem !== undefined) throw new NearbyError(ErrorCode.INVALID_ARGUMENT, problem);
      if (ids.has(node.id)) throw new NearbyError(ErrorCode.INVALID_ARGUMENT, `duplicate discovery node id "${node.id}"`);
      ids.add(node.id);
    }
    return normalizeNodes(nodes);
  }
}
