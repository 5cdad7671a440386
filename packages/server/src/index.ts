export { createNearbyServer } from './server.js';
export type { NearbyServer, NearbyServerState, NearbyServerStats, DrainOptions, NearbyLiveness, NearbyReadiness } from './server.js';
export { createHealthHandlers } from './health.js';
export type { NearbyHealthHandlers } from './health.js';
export { consoleLogger } from './core/logging.js';
export type {
  AdapterName,
  AdapterHealth,
  LogLevel,
  LogMethod,
  LogEventName,
  NearbyLogger,
  NearbyTelemetry,
  TelemetrySource,
} from './core/telemetry.js';
export type { NearbyServerOptions, Authenticate } from './options.js';
export { MemoryLocationCache } from './adapters/memory/location-cache.js';
export type { MemoryLocationCacheOptions } from './adapters/memory/location-cache.js';
export { MemoryPubSub, MemoryPubSubHub } from './adapters/memory/pubsub.js';
export type { MemoryPubSubOptions, MemoryPubSubStats } from './adapters/memory/pubsub.js';
export { MemorySettingsStore } from './adapters/memory/settings-store.js';
export { MemoryPresenceRegistry } from './adapters/memory/presence-registry.js';
export { MemoryHistoryStore } from './adapters/memory/history-store.js';
export type { MemoryHistoryStoreOptions } from './adapters/memory/history-store.js';
export { isWithdrawal, mergeSettings } from './adapters/entries.js';
export type {
  CachedLocation,
  CachedWithdrawal,
  CacheEntry,
  UserSettings,
  LocationCache,
  SettingsStore,
  PresenceRegistry,
  PubSubTransport,
  PubSubMessageHandler,
  HistorySample,
  HistoryQuery,
  HistoryStore,
  FriendGraph,
  Discovery,
  DiscoveryNode,
} from './adapters/types.js';
export type { Timers } from './timers.js';
export type { TokenBucketOptions } from './core/token-bucket.js';
export { tokenFromRequest } from './auth.js';
export { HashRing, hash32 } from './sharding/hash-ring.js';
export type { RingNode, HashRingOptions } from './sharding/hash-ring.js';
export { StaticDiscovery } from './sharding/static-discovery.js';
export {
  NearbyError,
  isNearbyError,
  ErrorCode,
  CloseCode,
  LeaveReason,
  StrangerLeftReason,
  PROTOCOL_VERSION,
} from '@nearby/protocol';
export type { NearbyFriend, NearbyStranger, LocationSample } from '@nearby/protocol';
export type { StrangersOptions, StrangerIdentity } from './core/engine-options.js';
