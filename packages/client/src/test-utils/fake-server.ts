import {
  type ClientFrame,
  type NearbyFriend,
  type NearbyStranger,
  type ServerFrame,
  type SnapshotFrame,
} from '@nearby/protocol';
import { decodeClientFrame } from '@nearby/protocol/schemas';
import type { CloseEventLike, MessageEventLike, WebSocketConstructor, WebSocketLike } from '../websocket.js';

type Handler<E> = ((event: E) => void) | null;

/**
 * In-memory WebSocket double. The client drives the usual half (`send`, `close`, handlers);
 * the test drives the server half (`open`, `push`, `serverClose`, `fail`). Everything is
 * synchronous so tests are deterministic.
 */
export class FakeWebSocket implements WebSocketLike {
  readyState = 0;
  onopen: Handler<unknown> = null;
  onclose: Handler<CloseEventLike> = null;
  onerror: Handler<unknown> = null;
  onmessage: Handler<MessageEventLike> = null;
  /** Frames the client sent on this socket, decoded. */
  readonly frames: ClientFrame[] = [];
  /** How the client closed this socket, if it did. */
  closedByClient: { code: number | undefined; reason: string | undefined } | undefined;

  constructor(
    readonly url: string,
    private readonly server: FakeServer,
  ) {}

  // ---- client side

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('FakeWebSocket: send on a socket that is not open');
    const decoded = decodeClientFrame(data);
    if (!decoded.ok) {
      this.server.protocolErrors.push(`${decoded.code}: ${decoded.message} in ${data}`);
      return;
    }
    this.frames.push(decoded.frame);
    if (decoded.frame.type === 'ping' && this.server.autoPong) {
      this.push({ type: 'pong', serverTime: this.server.now(), ...(decoded.frame.id === undefined ? {} : { id: decoded.frame.id }) });
    }
  }

  close(code?: number, reason?: string): void {
    if (this.readyState >= 2) return;
    this.closedByClient = { code, reason };
    this.readyState = 3;
    this.onclose?.({ code: code ?? 1005, reason: reason ?? '' });
  }

  // ---- server side

  /** Completes the handshake; the client answers with `init`. */
  open(): this {
    this.readyState = 1;
    this.onopen?.({ type: 'open' });
    return this;
  }

  /** Delivers a server frame (any object, so tests can send malformed ones too). */
  push(frame: ServerFrame | Record<string, unknown>): this {
    return this.pushRaw(JSON.stringify(frame));
  }

  /** Delivers raw message data. */
  pushRaw(data: unknown): this {
    if (this.readyState !== 1) throw new Error('FakeWebSocket: push on a socket that is not open');
    this.onmessage?.({ data });
    return this;
  }

  /** The server closes the connection with `code`. */
  serverClose(code: number, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /**
   * The connection fails (refused, or dropped without a close frame): error, then close 1006.
   * `event` is the error event (a browser's carries nothing; React Native's a `message`).
   */
  fail(event: object = { type: 'error' }): void {
    this.onerror?.(event);
    this.serverClose(1006);
  }

  /** Sent frames of one type. */
  framesOf<T extends ClientFrame['type']>(type: T): Extract<ClientFrame, { type: T }>[] {
    return this.frames.filter((frame): frame is Extract<ClientFrame, { type: T }> => frame.type === type);
  }

  /** Clears the record of sent frames. */
  clearFrames(): void {
    this.frames.length = 0;
  }
}

/** Options of {@link FakeServer}. */
export interface FakeServerOptions {
  /** Server clock for `serverTime` fields. Default `Date.now` (faked by vitest fake timers). */
  now?: () => number;
  /** Answer every `ping` with a `pong`. Default true. */
  autoPong?: boolean;
}

/**
 * A fake peer that speaks the Nearby protocol, for deterministic client tests. Pass
 * `server.WebSocket` as the client's `WebSocket` option; every socket the client creates is
 * recorded in `server.sockets`, and every frame it sends is validated with the protocol's own
 * decoder (failures land in `protocolErrors`).
 */
export class FakeServer {
  readonly sockets: FakeWebSocket[] = [];
  readonly protocolErrors: string[] = [];
  readonly WebSocket: WebSocketConstructor;
  readonly now: () => number;
  autoPong: boolean;

  constructor(options: FakeServerOptions = {}) {
    this.now = options.now ?? (() => Date.now());
    this.autoPong = options.autoPong ?? true;
    const server = this;
    this.WebSocket = class extends FakeWebSocket {
      constructor(url: string) {
        super(url, server);
        server.sockets.push(this);
      }
    };
  }

  /** The most recently created socket. */
  get latest(): FakeWebSocket {
    const socket = this.sockets[this.sockets.length - 1];
    if (socket === undefined) throw new Error('FakeServer: the client has not opened a socket');
    return socket;
  }

  /** A snapshot frame with sensible defaults. */
  snapshot(overrides: Partial<SnapshotFrame> = {}): SnapshotFrame {
    return {
      type: 'snapshot',
      userId: 'me',
      radiusKm: 8,
      maxRadiusKm: 50,
      sharing: true,
      inactiveAfterMs: 600_000,
      serverTime: this.now(),
      friends: [],
      discoverable: false,
      seeStrangers: false,
      ...overrides,
    };
  }

  /**
   * Opens the latest socket, checks that the client sent `init`, and answers with a snapshot:
   * the client is then `connected`.
   */
  accept(overrides: Partial<SnapshotFrame> = {}): FakeWebSocket {
    const socket = this.latest;
    socket.open();
    if (socket.framesOf('init').length !== 1) throw new Error('FakeServer: the client did not send init on open');
    socket.push(this.snapshot(overrides));
    return socket;
  }
}

/** A stranger entry with defaults. */
export function stranger(id: string, distanceKm: number, patch: Partial<NearbyStranger> = {}): NearbyStranger {
  return { id, lat: 37.5, lon: 127, distanceKm, updatedAt: Date.now(), ...patch };
}

/** A friend entry with defaults. */
export function friend(userId: string, distanceKm: number, patch: Partial<NearbyFriend> = {}): NearbyFriend {
  return { userId, lat: 37.5, lon: 127, distanceKm, updatedAt: Date.now(), ...patch };
}
