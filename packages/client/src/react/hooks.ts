import { useRef, useSyncExternalStore } from 'react';
import { ErrorCode, NearbyError, type NearbyFriend, type NearbyStranger } from '@nearby/protocol';
import type { NearbyClient } from '../client.js';
import type { ConnectionState, NearbySnapshot } from '../types.js';
import { useProvidedClient } from './context.js';

/**
 * What every hook reads while rendering on a server and while hydrating: an idle client with no
 * friends. A constant (same object every time), so markup rendered by `renderToString` matches
 * the first render in the browser, which then moves to the client's real snapshot.
 */
export const SERVER_SNAPSHOT: NearbySnapshot = Object.freeze({
  state: 'idle',
  userId: null,
  friends: Object.freeze([]) as readonly NearbyFriend[],
  radiusKm: null,
  maxRadiusKm: null,
  sharing: true,
  strangers: Object.freeze([]) as readonly NearbyStranger[],
  discoverable: false,
  seeingStrangers: false,
  inactiveAfterMs: 600_000,
  serverTimeOffsetMs: 0,
  pendingSamples: 0,
  lastError: null,
});

const getServerSnapshot = (): NearbySnapshot => SERVER_SNAPSHOT;
const selectSnapshot = (snapshot: NearbySnapshot): NearbySnapshot => snapshot;
const selectFriends = (snapshot: NearbySnapshot): readonly NearbyFriend[] => snapshot.friends;
const selectStrangers = (snapshot: NearbySnapshot): readonly NearbyStranger[] => snapshot.strangers;
const selectState = (snapshot: NearbySnapshot): ConnectionState => snapshot.state;

/** The last selection of one hook: which snapshot and selector it came from. */
interface Selection<T> {
  snapshot: NearbySnapshot;
  select: (snapshot: NearbySnapshot) => T;
  value: T;
}

/**
 * Subscribes to `client` through `useSyncExternalStore` and returns `select(snapshot)`. The
 * selection is recomputed only for a new snapshot or selector, and when `isEqual` finds it
 * equal to the previous one the previous value is returned, so the component re-renders only
 * when what it selected changed.
 */
function useSelection<T>(
  client: NearbyClient,
  select: (snapshot: NearbySnapshot) => T,
  isEqual: (a: T, b: T) => boolean,
): T {
  const last = useRef<Selection<T> | null>(null);
  const read = (snapshot: NearbySnapshot): T => {
    const previous = last.current;
    if (previous !== null && previous.snapshot === snapshot && previous.select === select) return previous.value;
    const selected = select(snapshot);
    const value = previous !== null && isEqual(previous.value, selected) ? previous.value : selected;
    last.current = { snapshot, select, value };
    return value;
  };
  return useSyncExternalStore(
    client.subscribe,
    () => read(client.getSnapshot()),
    () => read(getServerSnapshot()),
  );
}

/** The client of the nearest {@link NearbyProvider}, to call `updateLocation`, `setRadius` and the like. */
export function useNearbyClient(): NearbyClient {
  return useProvidedClient('useNearbyClient');
}

/**
 * The client's snapshot, re-rendering on every change. With a selector, the selected value,
 * re-rendering only when it changes (by `Object.is`, or by `isEqual` when given), e.g.
 * `useNearbySnapshot((s) => s.friends.length)`. The selector may be an inline function.
 *
 * While rendering on a server (and while hydrating) the snapshot is an idle one with no friends.
 *
 * @throws Error outside a `NearbyProvider`; NearbyError `invalid_argument` when `selector` or
 * `isEqual` is not a function.
 */
export function useNearbySnapshot(): NearbySnapshot;
export function useNearbySnapshot<T>(
  selector: (snapshot: NearbySnapshot) => T,
  isEqual?: (a: T, b: T) => boolean,
): T;
export function useNearbySnapshot<T>(
  selector?: (snapshot: NearbySnapshot) => T,
  isEqual: (a: T, b: T) => boolean = Object.is,
): T | NearbySnapshot {
  const client = useProvidedClient('useNearbySnapshot');
  if (selector !== undefined && typeof selector !== 'function') {
    throw new NearbyError(ErrorCode.INVALID_ARGUMENT, `useNearbySnapshot: selector must be a function (got ${typeof selector})`);
  }
  if (typeof isEqual !== 'function') {
    throw new NearbyError(ErrorCode.INVALID_ARGUMENT, `useNearbySnapshot: isEqual must be a function (got ${typeof isEqual})`);
  }
  return useSelection<T | NearbySnapshot>(
    client,
    selector ?? selectSnapshot,
    isEqual as (a: T | NearbySnapshot, b: T | NearbySnapshot) => boolean,
  );
}

/** Friends inside the radius, nearest first; re-renders only when the list changes. */
export function useNearbyFriends(): readonly NearbyFriend[] {
  return useSelection(useProvidedClient('useNearbyFriends'), selectFriends, Object.is);
}

/**
 * Nearby people who chose to be discoverable, nearest first (empty unless the client sees them:
 * `setSeeingStrangers(true)`); re-renders only when the list changes.
 */
export function useNearbyStrangers(): readonly NearbyStranger[] {
  return useSelection(useProvidedClient('useNearbyStrangers'), selectStrangers, Object.is);
}

/** The connection state; re-renders only when it changes. */
export function useConnectionState(): ConnectionState {
  return useSelection(useProvidedClient('useConnectionState'), selectState, Object.is);
}
