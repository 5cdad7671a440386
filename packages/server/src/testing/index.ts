/**
 * Contract suites for adapter authors (vitest): run the same checks this repository runs
 * against every adapter it ships, against your own, with one import each.
 *
 * ```ts
 * import { describeLocationCacheContract } from '@nearby/server/testing';
 * describeLocationCacheContract('my cache', async () => ({ cache: new MyCache() }));
 * ```
 */
export { describeLocationCacheContract } from './location-cache.js';
export type { LocationCacheUnderTest } from './location-cache.js';
export { describeSettingsStoreContract } from './settings-store.js';
export { describePresenceRegistryContract } from './presence-registry.js';
export type { PresenceRegistryUnderTest, PresenceRegistryContractOptions } from './presence-registry.js';
export { describePubSubContract } from './pubsub.js';
export type { PubSubUnderTest, PubSubContractOptions } from './pubsub.js';
export { describeHistoryStoreContract, historySample, collect } from './history-store.js';
