export { ErrorCode, CloseCode, LeaveReason, StrangerLeftReason, WIRE_ERROR_CODES } from './codes.js';
export { ERROR_POLICY, CLOSE_POLICY, NEVER_RETRY_CODES, TERMINAL_CLOSE_CODES, retryClassOf } from './policy.js';
export type { ErrorPolicy, ClosePolicy, RetryClass } from './policy.js';
export type { WireErrorCode } from './codes.js';
export { Limits, PROTOCOL_VERSION } from './limits.js';
export { NearbyError, isNearbyError } from './errors.js';
export type { NearbyErrorOptions } from './errors.js';
export { distanceKm, isValidLatLon, mayBeWithin } from './geo.js';
export type { LatLon } from './geo.js';
export { encodeFrame, decodeServerFrame } from './codec.js';
export type { DecodeResult } from './codec.js';
export { CLIENT_FRAME_TYPES, SERVER_FRAME_TYPES } from './frames.js';
export type {
  LocationSample,
  NearbyFriend,
  NearbyStranger,
  ClientFrame,
  ClientFrameType,
  InitFrame,
  LocationFrame,
  RadiusFrame,
  SharingFrame,
  PingFrame,
  DiscoveryFrame,
  ServerFrame,
  ServerFrameType,
  SnapshotFrame,
  FriendUpdateFrame,
  FriendLeftFrame,
  FriendAddedFrame,
  FriendRemovedFrame,
  AckFrame,
  ErrorFrame,
  PongFrame,
  ReconnectFrame,
  DiscoveryStateFrame,
  StrangerUpdateFrame,
  StrangerLeftFrame,
} from './frames.js';
export { checkOptionKeys, editDistance, nearestKey, optionKeys } from './options-check.js';
export type { ListsEveryKey } from './options-check.js';
