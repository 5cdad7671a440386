import { z } from 'zod';
import { LeaveReason, WIRE_ERROR_CODES } from './codes.js';
import { Limits, PROTOCOL_VERSION } from './limits.js';

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
export type LocationSample = z.infer<typeof LocationSampleSchema>;

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
export type NearbyFriend = z.infer<typeof NearbyFriendSchema>;

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

export const ClientFrameSchema = z.discriminatedUnion('type', [
  InitFrameSchema,
  LocationFrameSchema,
  RadiusFrameSchema,
  SharingFrameSchema,
  PingFrameSchema,
]);
export type ClientFrame = z.infer<typeof ClientFrameSchema>;
export type InitFrame = z.infer<typeof InitFrameSchema>;
export type LocationFrame = z.infer<typeof LocationFrameSchema>;
export type RadiusFrame = z.infer<typeof RadiusFrameSchema>;
export type SharingFrame = z.infer<typeof SharingFrameSchema>;
export type PingFrame = z.infer<typeof PingFrameSchema>;

export const CLIENT_FRAME_TYPES = ['init', 'location', 'radius', 'sharing', 'ping'] as const;
export type ClientFrameType = (typeof CLIENT_FRAME_TYPES)[number];

// ---------------------------------------------------------------- server → client

const leaveReason = z.enum([
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
  code: z.enum(WIRE_ERROR_CODES),
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
  reason: z.enum(['draining']),
  /** How long the client should wait before reconnecting, spreading clients over the drain window. */
  delayMs: z.number().int().min(0),
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
]);
export type ServerFrame = z.infer<typeof ServerFrameSchema>;
export type SnapshotFrame = z.infer<typeof SnapshotFrameSchema>;
export type FriendUpdateFrame = z.infer<typeof FriendUpdateFrameSchema>;
export type FriendLeftFrame = z.infer<typeof FriendLeftFrameSchema>;
export type FriendAddedFrame = z.infer<typeof FriendAddedFrameSchema>;
export type FriendRemovedFrame = z.infer<typeof FriendRemovedFrameSchema>;
export type AckFrame = z.infer<typeof AckFrameSchema>;
export type ErrorFrame = z.infer<typeof ErrorFrameSchema>;
export type PongFrame = z.infer<typeof PongFrameSchema>;
export type ReconnectFrame = z.infer<typeof ReconnectFrameSchema>;

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

