/** "12 s ago", "3 min 4 s ago", "1 h 2 min ago" for an age in milliseconds. */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s ago`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min ago`;
}

/** "1.4 km": kilometres with one decimal. */
export function formatDistance(km: number): string {
  return `${km.toFixed(1)} km`;
}

/** Opacity of a fresh marker, and the floor it fades to just before the position expires. */
export const FRESH_OPACITY = 1;
export const STALE_OPACITY = 0.25;

/**
 * How opaque a friend's marker is at `ageMs`: full for a fresh position, falling linearly
 * toward {@link STALE_OPACITY} as the age nears `inactiveAfterMs`, when the position expires and
 * the friend leaves the list (`friend_left` reason `inactive`).
 */
export function opacityForAge(ageMs: number, inactiveAfterMs: number): number {
  const share = Math.min(1, Math.max(0, ageMs / inactiveAfterMs));
  return FRESH_OPACITY - (FRESH_OPACITY - STALE_OPACITY) * share;
}
