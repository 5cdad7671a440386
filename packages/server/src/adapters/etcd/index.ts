export { EtcdDiscovery, DEFAULT_NODE_PREFIX } from './discovery.js';
export type { EtcdDiscoveryOptions, EtcdDiscoveryStats } from './discovery.js';
export { runNodesCommand } from './nodes-command.js';
export type { CommandOutput } from './nodes-command.js';
