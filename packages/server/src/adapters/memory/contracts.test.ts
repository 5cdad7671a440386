import { MemoryHistoryStore } from './history-store.js';
import { MemoryLocationCache } from './location-cache.js';
import { MemoryPresenceRegistry } from './presence-registry.js';
import { MemoryPubSub, MemoryPubSubHub } from './pubsub.js';
import { MemorySettingsStore } from './settings-store.js';
import {
  describeHistoryStoreContract,
  describeLocationCacheContract,
  describePresenceRegistryContract,
  describePubSubContract,
  describeSettingsStoreContract,
} from '../../testing/index.js';

// The in-memory adapters are the reference implementations: they pass the same contracts as every other adapter.
describeLocationCacheContract('MemoryLocationCache', async () => {
  let now = 1_000_000;
  return {
    cache: new MemoryLocationCache({ now: () => now }),
    async advance(ms) {
      now += ms;
    },
  };
});

describePubSubContract('MemoryPubSub on one hub', async () => {
  const hub = new MemoryPubSubHub();
  return { peer: async () => new MemoryPubSub({ hub }) };
});

describeHistoryStoreContract('MemoryHistoryStore', async () => new MemoryHistoryStore({ maxSamplesPerUser: Infinity }));

describeSettingsStoreContract('MemorySettingsStore', async () => new MemorySettingsStore());

// Servers in one Node process share one registry object: every "process" of the contract gets the same one.
describePresenceRegistryContract('MemoryPresenceRegistry', async () => {
  const registry = new MemoryPresenceRegistry();
  return { peer: async () => registry };
});
