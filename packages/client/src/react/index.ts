/**
 * `@nearby/client/react`: a provider that owns (or borrows) a `NearbyClient`, and hooks that
 * read its snapshot through React's `useSyncExternalStore`. Needs React 18 or later.
 */
export { NearbyProvider } from './provider.js';
export type { NearbyProviderProps } from './provider.js';
export { useNearbyClient, useNearbySnapshot, useNearbyFriends, useNearbyStrangers, useConnectionState } from './hooks.js';
