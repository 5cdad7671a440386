/**
 * Error codes carried by `error` frames and by {@link NearbyError.code}.
 *
 * Callers match on these values, never on message text. Codes marked "local" are raised by
 * the client library itself and never appear on the wire.
 */
export const ErrorCode = {
  /** The frame was not a JSON object (or was binary). Fatal: the connection is closed with 4000. */
  BAD_JSON: 'bad_json',
  /** The frame's `type` is not one this server understands. The frame is ignored. */
  UNKNOWN_TYPE: 'unknown_type',
  /** The frame failed its schema: a missing field or a field of the wrong type. The frame is ignored. */
  INVALID_FRAME: 'invalid_frame',
  /** A latitude, longitude, accuracy or timestamp is out of its documented range. The frame is ignored. */
  INVALID_LOCATION: 'invalid_location',
  /** A radius is outside (0, maxRadiusKm]. The frame is ignored. */
  INVALID_RADIUS: 'invalid_radius',
  /** A frame other than `init` or `ping` arrived before `init` completed. The frame is ignored. */
  NOT_INITIALIZED: 'not_initialized',
  /** `init.v` names a protocol version this server does not speak. Fatal: closed with 4002. */
  UNSUPPORTED_VERSION: 'unsupported_version',
  /** The connection exceeded its frame or location budget; the frame was dropped (not acknowledged). */
  RATE_LIMITED: 'rate_limited',
  /** The history store did not accept a batch; its samples were not acknowledged and must be resent. */
  HISTORY_UNAVAILABLE: 'history_unavailable',
  /** The server failed while handling the frame. */
  INTERNAL: 'internal',
  /**
   * The host does not let this user do what the frame asked (for example become discoverable
   * or see nearby people). The setting stays as it was; the connection stays open.
   */
  NOT_ALLOWED: 'not_allowed',
  /** local: the server rejected the credentials (close code 4001). The client does not reconnect. */
  UNAUTHORIZED: 'unauthorized',
  /** local: the socket could not be opened or closed unexpectedly, and the platform did not say why. The client reconnects. */
  CONNECTION_FAILED: 'connection_failed',
  /** local: nothing accepts connections at the server's address and port (refused). The client reconnects. */
  CONNECTION_REFUSED: 'connection_refused',
  /** local: the server's host name did not resolve (a typo, or no DNS). The client reconnects. */
  HOST_NOT_FOUND: 'host_not_found',
  /** local: the server answered the upgrade with HTTP 404: wrong path. Terminal: the client closes. */
  ENDPOINT_NOT_FOUND: 'endpoint_not_found',
  /** local: the server answered the upgrade with HTTP 5xx (draining or overloaded). The client reconnects. */
  SERVER_UNAVAILABLE: 'server_unavailable',
  /** local: the TLS handshake failed (untrusted, expired or mismatched certificate). The client reconnects. */
  TLS_FAILED: 'tls_failed',
  /** local: the connection failed while the device is offline; the client reconnects when it is back online. */
  OFFLINE: 'offline',
  /** local: the sample storage failed or held unreadable data; the client carries on in memory. */
  STORAGE_FAILED: 'storage_failed',
  /** local: no frame arrived within the heartbeat timeout; the socket was presumed dead. */
  HEARTBEAT_TIMEOUT: 'heartbeat_timeout',
  /** local: the offline buffer was full and its oldest samples were dropped. */
  BUFFER_OVERFLOW: 'buffer_overflow',
  /** local: a method was called with an invalid argument. */
  INVALID_ARGUMENT: 'invalid_argument',
  /** local: the operation needs an open client, but it was closed. */
  CLOSED: 'closed',
  /** local (server): a backend behind an adapter (Redis, PostgreSQL, …) could not be reached. */
  ADAPTER_UNAVAILABLE: 'adapter_unavailable',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Error codes that can appear in an `error` frame on the wire. */
export const WIRE_ERROR_CODES = [
  ErrorCode.BAD_JSON,
  ErrorCode.UNKNOWN_TYPE,
  ErrorCode.INVALID_FRAME,
  ErrorCode.INVALID_LOCATION,
  ErrorCode.INVALID_RADIUS,
  ErrorCode.NOT_INITIALIZED,
  ErrorCode.UNSUPPORTED_VERSION,
  ErrorCode.RATE_LIMITED,
  ErrorCode.HISTORY_UNAVAILABLE,
  ErrorCode.INTERNAL,
  ErrorCode.NOT_ALLOWED,
] as const;

export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number];

/**
 * WebSocket close codes used by the server. Codes in 4000–4999 are Nearby's own; the others
 * are the standard RFC 6455 codes with the meaning given here.
 */
export const CloseCode = {
  /** The client closed on purpose (`client.close()`); the user goes offline. */
  NORMAL: 1000,
  /** The server is shutting down (`server.close()`). Reconnect with backoff. */
  GOING_AWAY: 1001,
  /** A frame was larger than the server's payload cap. */
  MESSAGE_TOO_BIG: 1009,
  /** The server failed (for example `authenticate` threw). Reconnect with backoff. */
  INTERNAL_ERROR: 1011,
  /** The server is draining: reconnect (the load balancer routes to another server). */
  SERVICE_RESTART: 1012,
  /** The client broke the protocol (non-JSON or binary frame). Do not reconnect blindly: it is a bug. */
  PROTOCOL_VIOLATION: 4000,
  /** `authenticate` returned null. The client does not reconnect until told to. */
  UNAUTHORIZED: 4001,
  /** `init.v` is not supported by this server. The client does not reconnect. */
  UNSUPPORTED_VERSION: 4002,
  /** No frame arrived within the server's idle timeout. */
  IDLE_TIMEOUT: 4008,
  /** The client kept sending far beyond its rate limit. Reconnect with backoff. */
  RATE_LIMITED: 4029,
  /**
   * Sent by a client that closes only to reconnect (heartbeat timeout, connect timeout, drain
   * notice). Unlike 1000, the user does not go offline.
   */
  CLIENT_RECONNECTING: 4100,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];


/** Why a friend disappeared from a viewer's nearby list (`friend_left.reason`). */
export const LeaveReason = {
  /** The friend (or the viewer) moved, and the friend is now farther than the viewer's radius. */
  OUT_OF_RANGE: 'out_of_range',
  /** No location from the friend within `inactiveAfterMs`. */
  INACTIVE: 'inactive',
  /** The friend turned location sharing off. */
  SHARING_OFF: 'sharing_off',
  /** The friendship was removed. */
  UNFRIENDED: 'unfriended',
  /** The friend closed their last connection on purpose. */
  OFFLINE: 'offline',
} as const;

export type LeaveReason = (typeof LeaveReason)[keyof typeof LeaveReason];

/**
 * Why a stranger disappeared from a viewer's list of nearby people (`stranger_left.reason`).
 * The set may grow within protocol version 1: treat an unknown reason like `out_of_range`.
 */
export const StrangerLeftReason = {
  /** The stranger (or the viewer) moved, and the stranger's cell is now beyond the viewer's radius. */
  OUT_OF_RANGE: 'out_of_range',
  /** No position from the stranger within `inactiveAfterMs`. */
  INACTIVE: 'inactive',
  /** The stranger stopped being discoverable. */
  HIDDEN: 'hidden',
  /** The stranger closed their last connection. */
  OFFLINE: 'offline',
  /** The host no longer lets the viewer see this stranger (`canSee` now refuses). */
  NOT_ALLOWED: 'not_allowed',
  /** A nearer stranger took its place among the nearest `maxPerViewer`. */
  DISPLACED: 'displaced',
} as const;

export type StrangerLeftReason = (typeof StrangerLeftReason)[keyof typeof StrangerLeftReason];
