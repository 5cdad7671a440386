import type {
  AckFrame,
  DiscoveryStateFrame,
  ErrorFrame,
  FriendAddedFrame,
  FriendRemovedFrame,
  LeaveReason,
  PongFrame,
  ReconnectFrame,
  SnapshotFrame,
  StrangerLeftReason,
  WireErrorCode,
} from '@nearby/protocol';

/**
 * Every frame the server writes. The typed encoders take the protocol's frame types, so a
 * frame cannot drift from its schema without a type error. The hot-path pieces (a friend's
 * entry, `friend_update`, `friend_left`) are concatenated strings for speed; a test decodes
 * them with the protocol's server-frame schema.
 */

const json = (frame: object): string => JSON.stringify(frame);

export function encodeSnapshot(frame: Omit<SnapshotFrame, 'type'>): string {
  return json({ type: 'snapshot', ...frame } satisfies SnapshotFrame);
}

export function encodeAck(seq: number, count: number): string {
  return json({ type: 'ack', seq, count } satisfies AckFrame);
}

export function encodeError(code: WireErrorCode, message: string, extra: { seq?: number; frameType?: string } = {}): string {
  return json({ type: 'error', code, message, ...extra } satisfies ErrorFrame);
}

export function encodePong(id: number | undefined, serverTime: number): string {
  return json({ type: 'pong', ...(id === undefined ? {} : { id }), serverTime } satisfies PongFrame);
}

export function encodeFriendAdded(userId: string): string {
  return json({ type: 'friend_added', userId } satisfies FriendAddedFrame);
}

export function encodeFriendRemoved(userId: string): string {
  return json({ type: 'friend_removed', userId } satisfies FriendRemovedFrame);
}

export function encodeReconnect(delayMs: number): string {
  return json({ type: 'reconnect', reason: 'draining', delayMs } satisfies ReconnectFrame);
}

/** The parts of a friend's entry around its per-viewer distance: `head + distanceKm + tail`. */
export interface FriendEntryParts {
  head: string;
  tail: string;
}

/** Encodes a friend's position once for every viewer; `idJson` is `JSON.stringify(userId)`. */
export function friendEntryParts(idJson: string, lat: number, lon: number, updatedAt: number): FriendEntryParts {
  return { head: `{"userId":${idJson},"lat":${lat},"lon":${lon},"distanceKm":`, tail: `,"updatedAt":${updatedAt}}` };
}

/** A `friend_update` frame from entries built with {@link friendEntryParts}. */
export function friendUpdateFrame(entries: readonly string[]): string {
  return `{"type":"friend_update","friends":[${entries.join(',')}]}`;
}

/** A `friend_left` frame; `idJson` is `JSON.stringify(userId)`. */
export function friendLeftFrame(idJson: string, reason: LeaveReason): string {
  return `{"type":"friend_left","userId":${idJson},"reason":"${reason}"}`;
}

export function encodeDiscoveryState(discoverable: boolean, seeStrangers: boolean): string {
  return json({ type: 'discovery_state', discoverable, seeStrangers } satisfies DiscoveryStateFrame);
}

/** A `stranger_update` frame from entries built by the strangers role (JSON objects of `NearbyStranger`). */
export function strangerUpdateFrame(entries: readonly string[]): string {
  return `{"type":"stranger_update","strangers":[${entries.join(',')}]}`;
}

/** A `stranger_left` frame; `idJson` is `JSON.stringify(id)`. */
export function strangerLeftFrame(idJson: string, reason: StrangerLeftReason): string {
  return `{"type":"stranger_left","id":${idJson},"reason":"${reason}"}`;
}
