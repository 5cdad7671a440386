import type { LeaveReason, StrangerLeftReason, WireErrorCode } from './codes.js';
import type { PROTOCOL_VERSION } from './limits.js';

// Every frame of the wire format as a plain TypeScript type. The zod schemas of
// `@nearby/protocol/schemas` are checked at compile time to describe exactly these types.

/** One location fix from a device. `timestamp` is the device's time of the fix, in ms since the epoch. */
export interface LocationSample {
  /** Latitude in decimal degrees, −90 … 90. */
  lat: number;
  /** Longitude in decimal degrees, −180 … 180. */
  lon: number;
  /** Horizontal accuracy in metres, 0 … `Limits.MAX_ACCURACY_M`. */
  accuracy?: number;
  /** The device's time of the fix, an integer in ms since the epoch (0 … `Limits.MAX_TIMESTAMP_MS`). */
  timestamp: number;
}

/** A friend currently inside the viewer's radius. */
export interface NearbyFriend {
  userId: string;
  lat: number;
  lon: number;
  /** Straight-line (great-circle) distance from the viewer, in km, to the metre. */
  distanceKm: number;
  /** Server time (ms since the epoch) at which the friend's location was received. */
  updatedAt: number;
}

/**
 * A nearby person who chose to be discoverable ("stranger"). Everything but `display` is
 * derived from the geohash cell the stranger is in (protocol.md §20): never an exact position.
 */
export interface NearbyStranger {
  /**
   * Pseudonymous id, 1 … `Limits.MAX_STRANGER_ID_LENGTH` characters: stable for this viewer and
   * this stranger, and different for every other viewer of the same stranger (unless the host
   * chooses to reveal a real id).
   */
  id: string;
  /** Latitude of the centre of the stranger's display cell, to 4 decimals. */
  lat: number;
  /** Longitude of the centre of the stranger's display cell, to 4 decimals. */
  lon: number;
  /** Distance from the viewer to that cell centre, rounded up to a whole km (an integer ≥ 0). */
  distanceKm: number;
  /** Server time of the stranger's last move, rounded down to 30 s (ms since the epoch). */
  updatedAt: number;
  /** What the host chose to show about the stranger (a name, an avatar URL, …): any JSON value. */
  display?: unknown;
}

// ---------------------------------------------------------------- client → server

export interface InitFrame {
  type: 'init';
  /** Protocol version; this package speaks {@link PROTOCOL_VERSION}. */
  v: number;
  /** The device's current position, if it has a fix. */
  location?: LocationSample;
  /** Requested radius in km; the server default applies when absent. */
  radiusKm?: number;
  /** Whether the user shares their location; the user's current setting applies when absent. */
  sharing?: boolean;
  /** Whether others may see this user among nearby people; off when absent (never kept by the server). */
  discoverable?: boolean;
  /** Whether this user wants to see nearby people; off when absent (never kept by the server). */
  seeStrangers?: boolean;
}

export interface LocationFrame {
  type: 'location';
  /** Client-chosen sequence number, echoed by `ack` (or by `error.seq` when not stored). */
  seq: number;
  /** 1 … `Limits.MAX_SAMPLES_PER_FRAME` samples. */
  samples: LocationSample[];
}

export interface RadiusFrame {
  type: 'radius';
  radiusKm: number;
}

export interface SharingFrame {
  type: 'sharing';
  enabled: boolean;
}

export interface PingFrame {
  type: 'ping';
  /** Opaque number echoed in `pong.id`. */
  id?: number;
}

/** Changes the user's opt-ins to nearby people; at least one field. Answered with `discovery_state`. */
export interface DiscoveryFrame {
  type: 'discovery';
  /** Whether others may see this user among nearby people. */
  discoverable?: boolean;
  /** Whether this user wants to see nearby people. */
  seeStrangers?: boolean;
}

export type ClientFrame = InitFrame | LocationFrame | RadiusFrame | SharingFrame | PingFrame | DiscoveryFrame;

export const CLIENT_FRAME_TYPES = ['init', 'location', 'radius', 'sharing', 'ping', 'discovery'] as const;
export type ClientFrameType = (typeof CLIENT_FRAME_TYPES)[number];

// ---------------------------------------------------------------- server → client

export interface SnapshotFrame {
  type: 'snapshot';
  /** The authenticated user id of this connection. */
  userId: string;
  radiusKm: number;
  maxRadiusKm: number;
  sharing: boolean;
  inactiveAfterMs: number;
  /** Server clock when the snapshot was made, for clients to correct their own clock's offset. */
  serverTime: number;
  /** Every friend inside the radius, nearest first. Replaces the client's whole list. */
  friends: NearbyFriend[];
  /**
   * Whether the user is discoverable. Always sent by servers that offer nearby people; absent
   * from older servers (read it as false).
   */
  discoverable?: boolean;
  /** Whether the user sees nearby people; as `discoverable`, absent from older servers. */
  seeStrangers?: boolean;
}

export interface FriendUpdateFrame {
  type: 'friend_update';
  /** New or moved friends inside the radius; at most one entry per friend. */
  friends: NearbyFriend[];
}

export interface FriendLeftFrame {
  type: 'friend_left';
  userId: string;
  /**
   * A {@link LeaveReason}, or (from a newer server) another string of 1 …
   * `Limits.MAX_ENUM_VALUE_LENGTH` characters: the friend left all the same.
   */
  reason: LeaveReason | (string & {});
}

export interface FriendAddedFrame {
  type: 'friend_added';
  userId: string;
}

export interface FriendRemovedFrame {
  type: 'friend_removed';
  userId: string;
}

export interface AckFrame {
  type: 'ack';
  /** The `seq` of the location frame whose samples the history store accepted. */
  seq: number;
  /** How many samples the frame carried. */
  count: number;
}

export interface ErrorFrame {
  type: 'error';
  /**
   * A {@link WireErrorCode}, or (from a newer server) another string of 1 …
   * `Limits.MAX_ENUM_VALUE_LENGTH` characters, to be handled as an error the client does not know.
   */
  code: WireErrorCode | (string & {});
  message: string;
  /** The `seq` of the location frame this error is about, when it is about one. */
  seq?: number;
  /** The `type` of the offending frame, when it could be read. */
  frameType?: string;
}

export interface PongFrame {
  type: 'pong';
  id?: number;
  serverTime: number;
}

export interface ReconnectFrame {
  type: 'reconnect';
  /**
   * `draining` (the only value so far), or (from a newer server) another string of 1 …
   * `Limits.MAX_ENUM_VALUE_LENGTH` characters: reconnect after `delayMs` all the same.
   */
  reason: 'draining' | (string & {});
  /** How long the client should wait before reconnecting, spreading clients over the drain window. */
  delayMs: number;
}

/** The user's opt-ins to nearby people as they now apply (after a `discovery` frame, or an init that named them). */
export interface DiscoveryStateFrame {
  type: 'discovery_state';
  discoverable: boolean;
  seeStrangers: boolean;
}

export interface StrangerUpdateFrame {
  type: 'stranger_update';
  /** New or changed strangers, 1 … `Limits.MAX_STRANGERS_PER_FRAME`; at most one entry per stranger. */
  strangers: NearbyStranger[];
}

export interface StrangerLeftFrame {
  type: 'stranger_left';
  /** The `NearbyStranger.id` the viewer knew the stranger by. */
  id: string;
  /**
   * A {@link StrangerLeftReason}, or (from a newer server) another string of 1 …
   * `Limits.MAX_ENUM_VALUE_LENGTH` characters: treat it as `out_of_range`.
   */
  reason: StrangerLeftReason | (string & {});
}

export type ServerFrame =
  | SnapshotFrame
  | FriendUpdateFrame
  | FriendLeftFrame
  | FriendAddedFrame
  | FriendRemovedFrame
  | AckFrame
  | ErrorFrame
  | PongFrame
  | ReconnectFrame
  | DiscoveryStateFrame
  | StrangerUpdateFrame
  | StrangerLeftFrame;

export const SERVER_FRAME_TYPES = [
  'snapshot',
  'friend_update',
  'friend_left',
  'friend_added',
  'friend_removed',
  'ack',
  'error',
  'pong',
  'reconnect',
  'discovery_state',
  'stranger_update',
  'stranger_left',
] as const;
export type ServerFrameType = (typeof SERVER_FRAME_TYPES)[number];
