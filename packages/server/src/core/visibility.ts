import { distanceKm, mayBeWithin, type LatLon } from '@nearby/protocol';

/** A friend's position as the engine keeps it: `t` is the server time it was received. */
export interface Position {
  lat: number;
  lon: number;
  /** Server time of receipt, ms since the epoch. */
  t: number;
}

/** What a viewer was last sent about a friend in its list. */
export interface VisibleFriend {
  distanceKm: number;
  /** The friend's position that entry carried. */
  position: Position;
}

/** The rules of protocol.md §9 that depend on configuration. */
export interface VisibilityRules {
  inactiveAfterMs: number;
  /** When only the viewer moved, an entry is sent again once its distance changed by this much. */
  distanceRefreshKm: number;
}

/** The friend is in the list and the entry sent before still holds: nothing to send. */
export const UNCHANGED = -1;
/** The friend is not in the list, and was not: nothing to send. */
export const ABSENT = -2;
/** The friend was in the list and is now farther than the radius: `friend_left` `out_of_range`. */
export const LEFT_OUT_OF_RANGE = -3;
/** The friend was in the list and its position is too old: `friend_left` `inactive`. */
export const LEFT_INACTIVE = -4;

/**
 * Whether `friend` belongs in the list of a viewer at `viewer` with `radiusKm`, given what the
 * viewer was sent before (`previous`, undefined when not in the list). Returns the distance to
 * send (≥ 0, in km) or one of {@link UNCHANGED}, {@link ABSENT}, {@link LEFT_OUT_OF_RANGE},
 * {@link LEFT_INACTIVE}. A number rather than an object: it runs once per friend per update.
 *
 * The friend is visible when it has a position younger than `inactiveAfterMs` within the radius
 * (a cheap bounding box first, then the great-circle distance). A visible friend is sent again
 * when its position changed, or when only the viewer moved and the distance changed by at least
 * `distanceRefreshKm`.
 */
export function judgeFriend(
  viewer: LatLon,
  radiusKm: number,
  friend: Position | undefined,
  previous: VisibleFriend | undefined,
  now: number,
  rules: VisibilityRules,
): number {
  const fresh = friend !== undefined && now - friend.t < rules.inactiveAfterMs;
  if (fresh && mayBeWithin(viewer, friend, radiusKm)) {
    const distance = distanceKm(viewer, friend);
    if (distance <= radiusKm) {
      if (previous !== undefined && previous.position === friend && Math.abs(distance - previous.distanceKm) < rules.distanceRefreshKm) {
        return UNCHANGED;
      }
      return distance;
    }
  }
  if (previous === undefined) return ABSENT;
  return fresh ? LEFT_OUT_OF_RANGE : LEFT_INACTIVE;
}

/** The distance (km) at which `friend` appears in a fresh list of a viewer at `viewer`, or undefined if it does not. */
export function visibleDistance(viewer: LatLon, radiusKm: number, friend: Position | undefined, now: number, inactiveAfterMs: number): number | undefined {
  if (friend === undefined || now - friend.t >= inactiveAfterMs || !mayBeWithin(viewer, friend, radiusKm)) return undefined;
  const distance = distanceKm(viewer, friend);
  return distance <= radiusKm ? distance : undefined;
}
