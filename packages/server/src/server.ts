import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, NearbyError } from '@nearby/protocol';
import { createNearbyEngine, type DrainOptions, type NearbyEngine, type NearbyEngineStats } from './core/engine.js';
import { engineOptionsOf, resolveOptions, type NearbyServerOptions, type ResolvedOptions } from './options.js';
import { applyWebSocketHandler, pathOf, type WebSocketHandler } from './transports/ws.js';

/** Lifecycle of a {@link NearbyServer}. */
export type NearbyServerState = 'idle' | 'listening' | 'draining' | 'closed';

/** Counters and gauges of a running server. */
export interface NearbyServerStats extends NearbyEngineStats {
  state: NearbyServerState;
}

export type { DrainOptions };

/** A Nearby protocol server. Create it with {@link createNearbyServer}. */
export interface NearbyServer {
  /** Starts serving: listens on `port`, or attaches to the given http server. Resolves to the bound address. */
  listen(): Promise<{ port: number; host: string }>;
  /** Makes `a` and `b` friends of each other, live, on every server process. */
  friendAdded(a: string, b: string): Promise<void>;
  /** Ends the friendship of `a` and `b`, live, on every server process. */
  friendRemoved(a: string, b: string): Promise<void>;
  /**
   * Stops accepting connections and moves connected clients off in waves over the window
   * (each gets a `reconnect` frame and close code 1012); resolves when none is left.
   */
  drain(options?: DrainOptions): Promise<void>;
  /** Closes every connection (1001), stops serving and closes the adapters this server created. */
  close(): Promise<void>;
  /** Counters and gauges. */
  stats(): NearbyServerStats;
  readonly state: NearbyServerState;
  /** The bound port once listening on `port`. */
  readonly port: number | undefined;
  /** This process's identity on the Pub/Sub bus. */
  readonly serverId: string;
}

/**
 * Creates a Nearby server: the protocol engine (`@nearby/server/engine`) behind Node's `ws` on
 * an HTTP server of its own or of the host's. In-memory adapters are used for whatever is
 * omitted, so one process works with no infrastructure; pass Redis/PostgreSQL adapters to scale out.
 */
export function createNearbyServer(options: NearbyServerOptions): NearbyServer {
  return new NearbyServerImpl(resolveOptions(options), options);
}

const STATE_OF_ENGINE = { idle: 'idle', running: 'listening', draining: 'draining', closed: 'closed' } as const;

class NearbyServerImpl implements NearbyServer {
  readonly #options: ResolvedOptions;
  readonly #engine: NearbyEngine;
  #http: HttpServer | undefined;
  #ownsHttp = false;
  #ws: WebSocketHandler | undefined;
  #port: number | undefined;

  constructor(options: ResolvedOptions, raw: NearbyServerOptions) {
    this.#options = options;
    // The engine resolves its own options again from the raw ones (the same values).
    this.#engine = createNearbyEngine({ ...engineOptionsOf(raw), serverId: options.serverId, timers: options.timers, random: options.random });
  }

  get state(): NearbyServerState {
    return STATE_OF_ENGINE[this.#engine.state];
  }

  get port(): number | undefined {
    return this.#port;
  }

  get serverId(): string {
    return this.#engine.serverId;
  }

  async listen(): Promise<{ port: number; host: string }> {
    if (this.state !== 'idle') throw new NearbyError(ErrorCode.INVALID_ARGUMENT, `listen() called on a ${this.state} server`);
    await this.#engine.start();
    if (this.#options.server !== undefined) {
      this.#http = this.#options.server;
    } else {
      this.#http = createServer((request, response) => this.#onHttpRequest(request, response));
      this.#ownsHttp = true;
    }
    this.#ws = applyWebSocketHandler({
      engine: this.#engine,
      httpServer: this.#http,
      authenticate: this.#options.authenticate,
      path: this.#options.path,
      maxPayloadBytes: this.#options.maxPayloadBytes,
      ownsHttpServer: this.#ownsHttp,
      onError: this.#options.onError,
    });
    if (this.#ownsHttp) {
      const http = this.#http;
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error) => reject(error);
        http.once('error', onError);
        http.listen(this.#options.port, this.#options.host, () => {
          http.off('error', onError);
          resolve();
        });
      });
    }
    const address = this.#http.address();
    if (address !== null && typeof address === 'object') {
      this.#port = (address as AddressInfo).port;
      return { port: address.port, host: address.address };
    }
    return { port: this.#options.port ?? 0, host: this.#options.host ?? '' };
  }

  friendAdded(a: string, b: string): Promise<void> {
    return this.#engine.friendAdded(a, b);
  }

  friendRemoved(a: string, b: string): Promise<void> {
    return this.#engine.friendRemoved(a, b);
  }

  drain(options: DrainOptions = {}): Promise<void> {
    return this.#engine.drain(options);
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const ws = this.#ws;
    const http = this.#http;
    await this.#engine.close();
    await ws?.close();
    if (this.#ownsHttp && http !== undefined) {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  }

  stats(): NearbyServerStats {
    return { ...this.#engine.stats(), state: this.state };
  }

  #onHttpRequest(request: IncomingMessage, response: ServerResponse): void {
    const path = pathOf(request);
    if (path === '/healthz') {
      const ok = this.state === 'listening';
      const connections = this.#engine.stats().connections;
      response.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ status: ok ? 'ok' : this.state, connections }));
      return;
    }
    if (path === this.#options.path) {
      response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      response.end('This endpoint speaks the Nearby protocol over WebSocket.\n');
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' });
    response.end('Not found\n');
  }
}
