import type { DiscoveryNode } from './discovery.js';

/** Node ids appear in keys and connection names: printable, no whitespace or slash. */
const NODE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const NODE_URL = /^rediss?:\/\/[^\s]+$/;

/**
 * What is wrong with a discovery node, or `undefined` when it is usable: an id of 1–128
 * letters, digits, `.`, `_`, `:` or `-`, and a `redis://` or `rediss://` URL.
 */
export function discoveryNodeProblem(node: { id?: unknown; url?: unknown }): string | undefined {
  if (typeof node.id !== 'string' || !NODE_ID.test(node.id)) {
    return `node id must be 1–128 characters of letters, digits, ".", "_", ":" or "-", got ${JSON.stringify(node.id)}`;
  }
  if (typeof node.url !== 'string' || !NODE_URL.test(node.url)) {
    return `node "${node.id}" needs a redis:// or rediss:// URL, got ${JSON.stringify(node.url)}`;
  }
  try {
    new URL(node.url);
  } catch {
    return `node "${node.id}" has an unparsable URL ${JSON.stringify(node.url)}`;
  }
  return undefined;
}

/** Frozen copies of `nodes`, ordered by id, so equal sets compare equal. */
export function normalizeNodes(nodes: Iterable<DiscoveryNode>): readonly DiscoveryNode[] {
  return Object.freeze(
    [...nodes].map((node) => Object.freeze({ id: node.id, url: node.url })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
  );
}

/** Whether two normalized node lists name the same nodes at the same addresses. */
export function sameNodes(a: readonly DiscoveryNode[], b: readonly DiscoveryNode[]): boolean {
  return a.length === b.length && a.every((node, i) => node.id === b[i]!.id && node.url === b[i]!.url);
}
