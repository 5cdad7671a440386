import type { LeaveReason, NearbyError, NearbyFriend, NearbyStranger, StrangerLeftReason } from '@nearby/protocol';

/**
 * Lifecycle of a {@link NearbyClient}:
 * - `idle`: constructed, `connect()` not called yet;
 * - `connecting`: fetching the token, opening the socket or waiting for the first snapshot;
 * - `connected`: a snapshot arrived; the nearby list is live;
 * - `reconnecting`: not connected; the client reconnects on its own when its backoff timer
 *   fires, the network comes back, or the app returns to the foreground;
 * - `closed`: `close()` was called, or the server refused the client for good (close codes
 *   4000, 4001, 4002, or HTTP 404 on the path), or the connection dropped with `reconnect: false`.
 */
export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/**
 * Immutable view of the client's state, for React's `useSyncExternalStore` and similar.
 * {@link NearbyClient.getSnapshot} returns the same (frozen) object until a field changes.
 */
export interface NearbySnapshot {
  /** Connection state. */
  readonly state: ConnectionState;
  /** Authenticated user id, from the last snapshot frame; `null` before the first one. */
  readonly userId: string | null;
  /** Friends inside the radius, nearest first, ties broken by `userId`. Emptied by `close()`. */
  readonly friends: readonly NearbyFriend[];
  /** Radius in km: the one this client asked for, else the one the server last reported; `null` if neither is known. */
  readonly radiusKm: number | null;
  /** Largest radius the server accepts, in km, from the last snapshot; `null` before the first one. */
  readonly maxRadiusKm: number | null;
  /** Whether this user shares their location. */
  readonly sharing: boolean;
  /**
   * Nearby people who chose to be discoverable, nearest first, ties broken by `id`; empty unless
   * `seeingStrangers`. Frozen; a new array only when the list changed; emptied by every
   * snapshot frame (the server re-sends the list after it) and by `close()`.
   */
  readonly strangers: readonly NearbyStranger[];
  /** Whether others may see this user among nearby people: asked for by this client and confirmed by the server. */
  readonly discoverable: boolean;
  /** Whether this user sees nearby people: asked for by this client and confirmed by the server. */
  readonly seeingStrangers: boolean;
  /**
   * Age, ms, at which a friend's position expires and the friend leaves the list: the server's
   * `inactiveAfterMs` from the last snapshot frame, else the option. For showing staleness.
   */
  readonly inactiveAfterMs: number;
  /**
   * Server time minus this client's clock, ms, measured at the last snapshot frame (0 before the
   * first): the age of an entry is `Date.now() + serverTimeOffsetMs - updatedAt`.
   */
  readonly serverTimeOffsetMs: number;
  /** Location samples not yet acknowledged by the server (buffered plus in flight). */
  readonly pendingSamples: number;
  /** The most recent error since the client last reached `connected`; `null` when none. */
  readonly lastError: NearbyError | null;
}

/** A location fix handed to {@link NearbyClient.updateLocation}. */
export interface LocationFix {
  /** Latitude in decimal degrees, [-90, 90]. */
  lat: number;
  /** Longitude in decimal degrees, [-180, 180]. */
  lon: number;
  /** Horizontal accuracy radius in metres (≥ 0), as reported by the device. */
  accuracy?: number;
  /** Time of the fix in ms since the epoch (≥ 0; fractions are rounded to the millisecond); defaults to `timers.now()`. */
  timestamp?: number;
}

/** Payload of the `friendLeft` event. */
export interface FriendLeftEvent {
  /** The friend who left the nearby list. */
  userId: string;
  /**
   * Why: out of range, inactive, sharing off, unfriended or offline; from a newer server possibly
   * another reason (passed on unchanged), after which the friend has left all the same.
   */
  reason: LeaveReason | (string & {});
}

/** Payload of the `strangerLeft` event. */
export interface StrangerLeftEvent {
  /** The `id` of the stranger who left the list. */
  id: string;
  /**
   * Why: out of range, inactive, hidden, offline, not allowed or displaced; from a newer server
   * possibly another reason (passed on unchanged), best treated as out of range.
   */
  reason: StrangerLeftReason | (string & {});
}

/** Payload of the `ack` event: the server stored every sample of location frame `seq`. */
export interface AckEvent {
  /** Sequence number of the acknowledged location frame. */
  seq: number;
  /** Number of samples the server stored from it. */
  count: number;
}

/** Events of {@link NearbyClient.on} and their listener signatures. */
export interface NearbyClientEvents {
  /** The nearby list changed; receives the whole list (same array as `getSnapshot().friends`). */
  nearby: (friends: readonly NearbyFriend[]) => void;
  /** A friend inside the radius appeared or moved (one call per friend of a `friend_update`). */
  friendUpdate: (friend: NearbyFriend) => void;
  /** A friend left the nearby list, with the reason. */
  friendLeft: (event: FriendLeftEvent) => void;
  /** The server reports a new friendship (the friend shows up in `nearby` once in range). */
  friendAdded: (userId: string) => void;
  /** The server reports a removed friendship. */
  friendRemoved: (userId: string) => void;
  /** The list of nearby people changed; receives the whole list (same array as `getSnapshot().strangers`). */
  strangers: (strangers: readonly NearbyStranger[]) => void;
  /** A nearby person appeared or changed (one call per entry of a `stranger_update`). */
  strangerUpdate: (stranger: NearbyStranger) => void;
  /** A nearby person left the list, with the reason. */
  strangerLeft: (event: StrangerLeftEvent) => void;
  /** The connection state changed. */
  state: (state: ConnectionState, previous: ConnectionState) => void;
  /**
   * Something went wrong; match on `error.code` (an `ErrorCode`, or a code from a newer server's
   * `error` frame passed on unchanged). The client keeps running unless the state is `closed`.
   */
  error: (error: NearbyError) => void;
  /** The server acknowledged (stored) a location frame. */
  ack: (ack: AckEvent) => void;
}

/** Name of an event of {@link NearbyClientEvents}. */
export type NearbyClientEventName = keyof NearbyClientEvents;
