import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCode, ErrorCode, Limits, NearbyError } from '@nearby/protocol';
import type { NearbyEngine } from '../core/engine.js';
import type { EngineLog } from '../core/logging.js';
import type { Authenticate } from '../options.js';

export interface WebSocketHandlerOptions {
  engine: NearbyEngine;
  /** The HTTP server whose `upgrade` events carry the WebSockets. */
  httpServer: HttpServer;
  authenticate: Authenticate;
  /** Path WebSocket upgrades must use. */
  path: string;
  /** Largest inbound message in bytes; larger ones close the connection with 1009. */
  maxPayloadBytes: number;
  /** Whether this handler answers every upgrade (404 on other paths), or shares the server with other handlers. */
  ownsHttpServer: boolean;
  onError: (error: unknown) => void;
}

/** The WebSocket side of a server, attached to an HTTP server's `upgrade` events. */
export interface WebSocketHandler {
  /** Stops taking upgrades and closes the WebSocket server (the engine closes the sockets). */
  close(): Promise<void>;
}

/** The path of a request URL, without its query. */
export function pathOf(request: IncomingMessage): string {
  const url = request.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * Wires Node's `ws` to a Nearby engine: upgrades on `path` are authenticated with the host's
 * `authenticate`, then every message and the close of the socket are handed to the engine.
 * The only Node-specific part of the server besides the HTTP listener.
 */
export function applyWebSocketHandler(options: WebSocketHandlerOptions): WebSocketHandler {
  const { engine, httpServer } = options;
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes, perMessageDeflate: false, clientTracking: false });

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (pathOf(request) !== options.path) {
      // Another handler on a shared http server may own this path.
      if (options.ownsHttpServer) rejectUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (!engine.accepting) {
      rejectUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    socket.on('error', () => socket.destroy());
    void authenticateAndAccept(request, socket, head);
  };

  async function authenticateAndAccept(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const { userId, failure } = await identify(request, options, engine.log);
    if (socket.destroyed) return;
    if (!engine.accepting) {
      rejectUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    // The upgrade completes even when refused, so every client (browsers included) can read the close code.
    wss.handleUpgrade(request, socket, head, (ws) => {
      if (failure !== undefined || userId === null) {
        ws.close(failure?.code ?? CloseCode.UNAUTHORIZED, failure?.reason ?? 'unauthorized');
        return;
      }
      attach(ws, userId);
    });
  }

  function attach(ws: WebSocket, userId: string): void {
    const session = engine.accept(ws, userId);
    ws.on('message', (data, isBinary) => session.receive(isBinary ? undefined : data.toString()));
    ws.on('close', (code) => session.closed(code));
    // ws reports protocol errors (oversized frame → 1009, invalid UTF-8 → 1007) and closes the
    // socket itself; the close handler above releases the connection.
    ws.on('error', () => {});
  }

  httpServer.on('upgrade', onUpgrade);
  return {
    async close() {
      httpServer.off('upgrade', onUpgrade);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** The user id `authenticate` gives, or why the socket must be refused once upgraded. */
async function identify(
  request: IncomingMessage,
  options: Pick<WebSocketHandlerOptions, 'authenticate' | 'onError'>,
  log: EngineLog,
): Promise<{ userId: string | null; failure?: { code: number; reason: string } }> {
  const failed = { userId: null, failure: { code: CloseCode.INTERNAL_ERROR, reason: 'authentication failed' } };
  try {
    const userId = await options.authenticate(request);
    if (userId === null) {
      log.authRefused('null_user_id', CloseCode.UNAUTHORIZED);
      return { userId: null, failure: { code: CloseCode.UNAUTHORIZED, reason: 'unauthorized' } };
    }
    if (typeof userId !== 'string' || userId.length === 0 || userId.length > Limits.MAX_USER_ID_LENGTH) {
      const error = new NearbyError(ErrorCode.INTERNAL, `authenticate returned an invalid user id: ${JSON.stringify(userId)}`);
      options.onError(error);
      log.authRefused('invalid_user_id', CloseCode.INTERNAL_ERROR, error);
      return failed;
    }
    return { userId };
  } catch (error) {
    options.onError(new NearbyError(ErrorCode.INTERNAL, 'authenticate threw', { cause: error }));
    log.authRefused('authenticate_threw', CloseCode.INTERNAL_ERROR, error);
    return failed;
  }
}

function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  if (socket.writable) socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}
