import WebSocketImpl from 'isomorphic-ws';

/**
 * Declares a callback with bivariant parameters (the "bivariance hack"). The DOM's
 * `WebSocket.onmessage` takes a `MessageEvent`, React Native's and `ws`'s their own event
 * types; checking them contravariantly against our minimal `{ data }` shape would reject all
 * of them even though each provides what the client reads.
 */
type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

/** Close event fields the client reads. */
export interface CloseEventLike {
  /** WebSocket close code (1000–4999; 1006 when the connection dropped without a close frame). */
  code: number;
  /** Close reason text sent by the peer (may be empty). */
  reason: string;
}

/** Message event fields the client reads. Text frames carry a `string`; anything else is refused. */
export interface MessageEventLike {
  data: unknown;
}

/**
 * The part of the WebSocket API the client uses. The browser `WebSocket`, React Native's
 * `WebSocket` and the `ws` package's `WebSocket` all satisfy it, as does a test double.
 */
export interface WebSocketLike {
  /** 0 connecting, 1 open, 2 closing, 3 closed (the standard values). */
  readonly readyState: number;
  /** Sends one text frame. */
  send(data: string): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Called once the connection is open. */
  onopen: Handler<unknown> | null;
  /** Called once the connection is closed, for whatever reason. */
  onclose: Handler<CloseEventLike> | null;
  /** Called on a connection error; `onclose` always follows. */
  onerror: Handler<unknown> | null;
  /** Called for each inbound message. */
  onmessage: Handler<MessageEventLike> | null;
}

/** A WebSocket constructor such as the global `WebSocket` or `ws`'s default export. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** `readyState` of an open socket (`WebSocket.OPEN`). */
export const READY_STATE_OPEN = 1;

/**
 * The platform's WebSocket: the global one in browsers and React Native (via the `browser`
 * field of `isomorphic-ws`, honoured by bundlers and Metro), the `ws` package in Node.
 * Can be `null` in a browser-like runtime without WebSocket.
 */
export const defaultWebSocket = WebSocketImpl as unknown as WebSocketConstructor | null;

/**
 * Appends `param=token` to a ws:// or wss:// URL, URL-encoding both and keeping any existing
 * query string and fragment. Done with string operations rather than `URL` because React
 * Native's `URL` implementation lacks `searchParams`.
 */
export function withQueryParam(url: string, param: string, value: string): string {
  const hashAt = url.indexOf('#');
  const base = hashAt === -1 ? url : url.slice(0, hashAt);
  const hash = hashAt === -1 ? '' : url.slice(hashAt);
  const pair = `${encodeURIComponent(param)}=${encodeURIComponent(value)}`;
  const separator = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&';
  return `${base}${separator}${pair}${hash}`;
}
