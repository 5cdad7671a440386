import { z } from 'zod';
import { LeaveReason, StrangerLeftReason, WIRE_ERROR_CODES } from '../codes.js';
import type * as Frames from '../frames.js';
import { Limits, type PROTOCOL_VERSION } from '../limits.js';

// The full zod schemas of every frame, for servers (and tests) that validate client frames.
// The frame types themselves are the hand-written interfaces of `../frames.ts`; the checks at
// the end of this file make the compiler refuse any drift between a schema and its interface.

const latitude = z.number().min(-90).max(90);
const longitude = z.number().min(-180).max(180);
const timestampMs = z.number().int().min(0).max(Limits.MAX_TIMESTAMP_MS);
const userId = z.string().min(1).max(Limits.MAX_USER_ID_LENGTH);
const seq = z.number().int().min(0).max(Limits.MAX_SEQ);

/** One location fix from a device. `timestamp` is the device's time of the fix, in ms since the epoch. */
export const LocationSampleSchema = z.object({
  lat: latitude,
  lon: longitude,
  accuracy: z.number().min(0).max(Limits.MAX_ACCURACY_M).optional(),
  timestamp: timestampMs,
});

/** A friend currently inside the viewer's radius. */
export const NearbyFriendSchema = z.object({
  userId,
  lat: latitude,
  lon: longitude,
  /** Straight-line (great-circle) distance from the viewer, in km, to the metre. */
  distanceKm: z.number().min(0),
  /** Server time (ms since the epoch) at which the friend's location was received. */
  updatedAt: timestampMs,
});

/** A nearby person who chose to be discoverable; every number is derived from their display cell. */
export const NearbyStrangerSchema = z.object({
  /** Pseudonymous id, stable for this viewer and this stranger. */
  id: z.string().min(1).max(Limits.MAX_STRANGER_ID_LENGTH),
  /** Centre of the stranger's display cell, to 4 decimals. */
  lat: latitude,
  lon: longitude,
  /** Distance from the viewer to that cell centre, rounded up to a whole km. */
  distanceKm: z.number().int().min(0),
  /** Server time of the stranger's last move, rounded down to 30 s. */
  updatedAt: timestampMs,
  /** What the host chose to show about the stranger: any JSON value. */
  display: z.unknown().optional(),
});

// ---------------------------------------------------------------- client → server

export const InitFrameSchema = z.object({
  type: z.literal('init'),
  /** Protocol version; this package speaks {@link PROTOCOL_VERSION}. */
  v: z.number().int().min(1),
  /** The device's current position, if it has a fix. */
  location: LocationSampleSchema.optional(),
  /** Requested radius in km; the server default applies when absent. */
  radiusKm: z.number().optional(),
  /** Whether the user shares their location; the user's current setting applies when absent. */
  sharing: z.boolean().optional(),
  /** Whether others may see this user among nearby people; off when absent. */
  discoverable: z.boolean().optional(),
  /** Whether this user wants to see nearby people; off when absent. */
  seeStrangers: z.boolean().optional(),
});

export const LocationFrameSchema = z.object({
  type: z.literal('location'),
  /** Client-chosen sequence number, echoed by `ack` (or by `error.seq` when not stored). */
  seq,
  samples: z.array(LocationSampleSchema).min(1).max(Limits.MAX_SAMPLES_PER_FRAME),
});

export const RadiusFrameSchema = z.object({
  type: z.literal('radius'),
  radiusKm: z.number(),
});

export const SharingFrameSchema = z.object({
  type: z.literal('sharing'),
  enabled: z.boolean(),
});

export const PingFrameSchema = z.object({
  type: z.literal('ping'),
  /** Opaque number echoed in `pong.id`. */
  id: z.number().int().min(0).max(Limits.MAX_SEQ).optional(),
});

/** Changes the user's opt-ins to nearby people: at least one of the two fields. */
export const DiscoveryFrameSchema = z
  .object({
    type: z.literal('discovery'),
    discoverable: z.boolean().optional(),
    seeStrangers: z.boolean().optional(),
  })
  .refine((frame) => frame.discoverable !== undefined || frame.seeStrangers !== undefined, {
    message: 'a discovery frame names discoverable, seeStrangers or both',
  });

export const ClientFrameSchema = z.discriminatedUnion('type', [
  InitFrameSchema,
  LocationFrameSchema,
  RadiusFrameSchema,
  SharingFrameSchema,
  PingFrameSchema,
  DiscoveryFrameSchema,
]);


// ---------------------------------------------------------------- server → client

/**
 * An enumeration that may grow within version 1 (protocol.md §4): one of the `known` values, or
 * any other string of 1 … `Limits.MAX_ENUM_VALUE_LENGTH` characters from a newer server. Typed as
 * the known values plus `string & {}`, which keeps them in autocomplete.
 */
function growable<const T extends readonly [string, ...string[]]>(known: T): z.ZodType<T[number] | (string & {})> {
  return z.union([z.enum(known), z.string().min(1).max(Limits.MAX_ENUM_VALUE_LENGTH)]);
}

const leaveReason = growable([
  LeaveReason.OUT_OF_RANGE,
  LeaveReason.INACTIVE,
  LeaveReason.SHARING_OFF,
  LeaveReason.UNFRIENDED,
  LeaveReason.OFFLINE,
]);

export const SnapshotFrameSchema = z.object({
  type: z.literal('snapshot'),
  /** The authenticated user id of this connection. */
  userId,
  radiusKm: z.number().positive(),
  maxRadiusKm: z.number().positive(),
  sharing: z.boolean(),
  inactiveAfterMs: z.number().int().positive(),
  /** Server clock when the snapshot was made, for clients to correct their own clock's offset. */
  serverTime: timestampMs,
  /** Every friend inside the radius, nearest first. Replaces the client's whole list. */
  friends: z.array(NearbyFriendSchema),
  /** Whether the user is discoverable; absent from servers older than nearby people. */
  discoverable: z.boolean().optional(),
  /** Whether the user sees nearby people; absent from servers older than nearby people. */
  seeStrangers: z.boolean().optional(),
});

export const FriendUpdateFrameSchema = z.object({
  type: z.literal('friend_update'),
  /** New or moved friends inside the radius; at most one entry per friend. */
  friends: z.array(NearbyFriendSchema).min(1),
});

export const FriendLeftFrameSchema = z.object({
  type: z.literal('friend_left'),
  userId,
  reason: leaveReason,
});

export const FriendAddedFrameSchema = z.object({
  type: z.literal('friend_added'),
  userId,
});

export const FriendRemovedFrameSchema = z.object({
  type: z.literal('friend_removed'),
  userId,
});

export const AckFrameSchema = z.object({
  type: z.literal('ack'),
  /** The `seq` of the location frame whose samples the history store accepted. */
  seq,
  /** How many samples the frame carried. */
  count: z.number().int().min(0),
});

export const ErrorFrameSchema = z.object({
  type: z.literal('error'),
  code: growable(WIRE_ERROR_CODES),
  message: z.string(),
  /** The `seq` of the location frame this error is about, when it is about one. */
  seq: seq.optional(),
  /** The `type` of the offending frame, when it could be read. */
  frameType: z.string().optional(),
});

export const PongFrameSchema = z.object({
  type: z.literal('pong'),
  id: z.number().int().min(0).max(Limits.MAX_SEQ).optional(),
  serverTime: timestampMs,
});

export const ReconnectFrameSchema = z.object({
  type: z.literal('reconnect'),
  reason: growable(['draining']),
  /** How long the client should wait before reconnecting, spreading clients over the drain window. */
  delayMs: z.number().int().min(0),
});

export const DiscoveryStateFrameSchema = z.object({
  type: z.literal('discovery_state'),
  discoverable: z.boolean(),
  seeStrangers: z.boolean(),
});

export const StrangerUpdateFrameSchema = z.object({
  type: z.literal('stranger_update'),
  /** New or changed strangers; at most one entry per stranger. */
  strangers: z.array(NearbyStrangerSchema).min(1).max(Limits.MAX_STRANGERS_PER_FRAME),
});

export const StrangerLeftFrameSchema = z.object({
  type: z.literal('stranger_left'),
  id: z.string().min(1).max(Limits.MAX_STRANGER_ID_LENGTH),
  reason: growable([
    StrangerLeftReason.OUT_OF_RANGE,
    StrangerLeftReason.INACTIVE,
    StrangerLeftReason.HIDDEN,
    StrangerLeftReason.OFFLINE,
    StrangerLeftReason.NOT_ALLOWED,
    StrangerLeftReason.DISPLACED,
  ]),
});

export const ServerFrameSchema = z.discriminatedUnion('type', [
  SnapshotFrameSchema,
  FriendUpdateFrameSchema,
  FriendLeftFrameSchema,
  FriendAddedFrameSchema,
  FriendRemovedFrameSchema,
  AckFrameSchema,
  ErrorFrameSchema,
  PongFrameSchema,
  ReconnectFrameSchema,
  DiscoveryStateFrameSchema,
  StrangerUpdateFrameSchema,
  StrangerLeftFrameSchema,
]);

// ---------------------------------------------------------------- schemas ⇔ interfaces

/** True when A and B are assignable to each other. */
export type Equivalent<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Holds<T extends true> = T;

/** Compiles only while every schema describes exactly its interface of `@nearby/protocol`. */
export type SchemasMatchInterfaces = [
  Holds<Equivalent<z.infer<typeof LocationSampleSchema>, Frames.LocationSample>>,
  Holds<Equivalent<z.infer<typeof NearbyFriendSchema>, Frames.NearbyFriend>>,
  Holds<Equivalent<z.infer<typeof NearbyStrangerSchema>, Frames.NearbyStranger>>,
  Holds<Equivalent<z.infer<typeof InitFrameSchema>, Frames.InitFrame>>,
  Holds<Equivalent<z.infer<typeof LocationFrameSchema>, Frames.LocationFrame>>,
  Holds<Equivalent<z.infer<typeof RadiusFrameSchema>, Frames.RadiusFrame>>,
  Holds<Equivalent<z.infer<typeof SharingFrameSchema>, Frames.SharingFrame>>,
  Holds<Equivalent<z.infer<typeof PingFrameSchema>, Frames.PingFrame>>,
  Holds<Equivalent<z.infer<typeof DiscoveryFrameSchema>, Frames.DiscoveryFrame>>,
  Holds<Equivalent<z.infer<typeof ClientFrameSchema>, Frames.ClientFrame>>,
  Holds<Equivalent<z.infer<typeof SnapshotFrameSchema>, Frames.SnapshotFrame>>,
  Holds<Equivalent<z.infer<typeof FriendUpdateFrameSchema>, Frames.FriendUpdateFrame>>,
  Holds<Equivalent<z.infer<typeof FriendLeftFrameSchema>, Frames.FriendLeftFrame>>,
  Holds<Equivalent<z.infer<typeof FriendAddedFrameSchema>, Frames.FriendAddedFrame>>,
  Holds<Equivalent<z.infer<typeof FriendRemovedFrameSchema>, Frames.FriendRemovedFrame>>,
  Holds<Equivalent<z.infer<typeof AckFrameSchema>, Frames.AckFrame>>,
  Holds<Equivalent<z.infer<typeof ErrorFrameSchema>, Frames.ErrorFrame>>,
  Holds<Equivalent<z.infer<typeof PongFrameSchema>, Frames.PongFrame>>,
  Holds<Equivalent<z.infer<typeof ReconnectFrameSchema>, Frames.ReconnectFrame>>,
  Holds<Equivalent<z.infer<typeof DiscoveryStateFrameSchema>, Frames.DiscoveryStateFrame>>,
  Holds<Equivalent<z.infer<typeof StrangerUpdateFrameSchema>, Frames.StrangerUpdateFrame>>,
  Holds<Equivalent<z.infer<typeof StrangerLeftFrameSchema>, Frames.StrangerLeftFrame>>,
  Holds<Equivalent<z.infer<typeof ServerFrameSchema>, Frames.ServerFrame>>,
];
