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

let loader: (() => WebSocketConstructor) | undefined;

/**
 * Registers the fallback used when the runtime has no global `WebSocket` (Node < 22). Only the
 * Node entry calls it, with a loader for the optional peer `ws`.
 */
export function setWebSocketLoader(load: () => WebSocketConstructor): void {
  loader = load;
}

/**
 * The platform's WebSocket, looked up when called (not at import), so a global installed later
 * is used: `globalThis.WebSocket` in browsers, React Native and Node ≥ 22, else the registered
 * loader's. `undefined` when neither exists; the loader throws when it cannot load.
 */
export function platformWebSocket(): WebSocketConstructor | undefined {
  return (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? loader?.();
}

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
