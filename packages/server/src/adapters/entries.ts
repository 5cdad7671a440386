import type { CacheEntry, CachedWithdrawal, UserSettings } from './types.js';

/** True when `entry` is a withdrawal rather than a position. */
export function isWithdrawal(entry: CacheEntry): entry is CachedWithdrawal {
  return (entry as Partial<CachedWithdrawal>).withdrawn !== undefined;
}

/**
 * Settings after applying `incoming` to `stored`, field by field: the value with the higher
 * version wins, and an equal version takes the incoming value. The reference for what
 * `SettingsStore.set` must do.
 */
export function mergeSettings(stored: UserSettings | undefined, incoming: UserSettings): UserSettings {
  if (stored === undefined) return { ...incoming, radiusVersion: incoming.radiusVersion ?? 0, sharingVersion: incoming.sharingVersion ?? 0 };
  const radiusNewer = (incoming.radiusVersion ?? 0) >= (stored.radiusVersion ?? 0);
  const sharingNewer = (incoming.sharingVersion ?? 0) >= (stored.sharingVersion ?? 0);
  return {
    radiusKm: radiusNewer ? incoming.radiusKm : stored.radiusKm,
    radiusVersion: radiusNewer ? (incoming.radiusVersion ?? 0) : (stored.radiusVersion ?? 0),
    sharing: sharingNewer ? incoming.sharing : stored.sharing,
    sharingVersion: sharingNewer ? (incoming.sharingVersion ?? 0) : (stored.sharingVersion ?? 0),
  };
}
