import { ErrorCode, NearbyError, checkOptionKeys, optionKeys } from '@nearby/protocol';
import { FNV_OFFSET_BASIS, seededHash32 } from '../core/hash32.js';

/** A member of a {@link HashRing}: anything with a stable id. */
export interface RingNode {
  id: string;
}

export interface HashRingOptions {
  /**
   * Points each node gets on the ring. More points spread keys more evenly (the spread of a
   * node's share shrinks with 1/√points) at the cost of memory and build time. Default 160.
   */
  virtualNodes?: number;
}

/** Every key of {@link HashRingOptions}; any other is refused. */
const HASH_RING_OPTION_KEYS = optionKeys<HashRingOptions>()(['virtualNodes']);

/**
 * Consistent hashing with virtual nodes. Immutable: `withNode` / `withoutNode` return new rings.
 * Deterministic: the same set of node ids gives the same mapping in every process, whatever the
 * order they are listed in. `lookup` is a binary search, O(log(nodes × virtualNodes)).
 *
 * Adding one node to n moves about 1/(n+1) of the keys, all of them to the new node; removing
 * one moves only the keys it held.
 */
export class HashRing<N extends RingNode = RingNode> {
  readonly nodes: readonly N[];
  readonly virtualNodes: number;
  readonly #points: Uint32Array;
  /** Index into `nodes` of the owner of each point. */
  readonly #owners: Uint32Array;

  constructor(nodes: readonly N[], options: HashRingOptions = {}) {
    checkOptionKeys(options, HASH_RING_OPTION_KEYS);
    const virtualNodes = options.virtualNodes ?? 160;
    if (!Number.isInteger(virtualNodes) || virtualNodes < 1) {
      throw new NearbyError(ErrorCode.INVALID_ARGUMENT, `virtualNodes must be a positive integer, got ${virtualNodes}`);
    }
    const ids = new Set<string>();
    for (const node of nodes) {
      if (ids.has(node.id)) throw new NearbyError(ErrorCode.INVALID_ARGUMENT, `duplicate ring node id "${node.id}"`);
      ids.add(node.id);
    }
    // Sorted by id so the ring does not depend on the order nodes were listed in.
    this.nodes = [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.virtualNodes = virtualNodes;
    const entries: Array<[point: number, owner: number]> = [];
    this.nodes.forEach((node, owner) => {
      for (let v = 0; v < virtualNodes; v++) entries.push([hash32(`${node.id}#${v}`), owner]);
    });
    // Ties (rare) are broken by owner index, itself ordered by id: still deterministic.
    entries.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    this.#points = Uint32Array.from(entries, (entry) => entry[0]);
    this.#owners = Uint32Array.from(entries, (entry) => entry[1]);
  }

  get size(): number {
    return this.nodes.length;
  }

  /** The node owning `key`: the first point clockwise from the key's hash. */
  lookup(key: string): N {
    if (this.nodes.length === 0) throw new NearbyError(ErrorCode.ADAPTER_UNAVAILABLE, 'the hash ring has no nodes');
    const point = hash32(key);
    const points = this.#points;
    let low = 0;
    let high = points.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (points[middle]! < point) low = middle + 1;
      else high = middle;
    }
    return this.nodes[this.#owners[low === points.length ? 0 : low]!]!;
  }

  withNode(node: N): HashRing<N> {
    return new HashRing([...this.nodes.filter((n) => n.id !== node.id), node], { virtualNodes: this.virtualNodes });
  }

  withoutNode(id: string): HashRing<N> {
    return new HashRing(
      this.nodes.filter((n) => n.id !== id),
      { virtualNodes: this.virtualNodes },
    );
  }
}

/**
 * 32-bit FNV-1a over the UTF-16 code units, finished with MurmurHash3's fmix32 so that similar
 * strings ("node#1", "node#2") land far apart on the ring.
 */
export function hash32(text: string): number {
  return seededHash32(text, FNV_OFFSET_BASIS, 0);
}
