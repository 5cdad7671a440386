import type { LeaveReason, WireErrorCode } from './codes.js';
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

export type ClientFrame = InitFrame | LocationFrame | RadiusFrame | SharingFrame | PingFrame;

export const CLIENT_FRAME_TYPES = ['init', 'location', 'radius', 'sharing', 'ping'] as const;
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
}

export interface FriendUpdateFrame {
  type: 'friend_update';
  /** New or moved friends inside the radius; at most one entry per friend. */
  friends: NearbyFriend[];
}

export interface FriendLeftFrame {
  type: 'friend_left';
  userId: string;
  reason: LeaveReason;
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
  code: WireErrorCode;
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
  reason: 'draining';
  /** How long the client should wait before reconnecting, spreading clients over the drain window. */
  delayMs: number;
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
  | ReconnectFrame;

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
] as const;
export type ServerFrameType = (typeof SERVER_FRAME_TYPES)[number];
