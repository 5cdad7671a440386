/**
 * `@nearby/client`: live "nearby friends" over WebSocket for React Native, browsers and Node.
 *
 * This entry must stay free of Node built-ins: it is what Metro and browser bundlers load.
 */
export { NearbyClient } from './client.js';
export { backoffDelay } from './backoff.js';
export { fromAppState, fromNetInfo } from './lifecycle.js';
export type { AppStateSource, NetworkSource, AppStateLike, NetInfoLike } from './lifecycle.js';
export type { SampleStorage } from './persist.js';
export type { BackoffOptions } from './backoff.js';
export type { NearbyClientOptions, ReconnectOptions, HeartbeatOptions } from './options.js';
export type { Timers, TimerHandle } from './environment.js';
export type { ListenerErrorHandler } from './emitter.js';
export type {
  ConnectionState,
  NearbySnapshot,
  LocationFix,
  FriendLeftEvent,
  StrangerLeftEvent,
  AckEvent,
  NearbyClientEvents,
  NearbyClientEventName,
} from './types.js';
export type { WebSocketLike, WebSocketConstructor, CloseEventLike, MessageEventLike } from './websocket.js';
export { NearbyError, isNearbyError, ErrorCode, CloseCode, LeaveReason, StrangerLeftReason } from '@nearby/protocol';
export type { NearbyFriend, NearbyStranger, LocationSample } from '@nearby/protocol';
