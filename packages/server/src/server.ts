import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, NearbyError } from '@nearby/protocol';
import { createNearbyEngine, type DrainOptions, type NearbyEngine, type NearbyEngineStats } from './core/engine.js';
import type { AdapterHealth, AdapterName } from './core/telemetry.js';
import { engineOptionsOf, resolveOptions, type NearbyServerOptions, type ResolvedOptions } from './options.js';
import { applyWebSocketHandler, pathOf, type WebSocketHandler } from './transports/ws.js';

/** Lifecycle of a {@link NearbyServer}. */
export type NearbyServerState = 'idle' | 'listening' | 'draining' | 'closed';

/** Counters and gauges of a running server. */
export interface NearbyServerStats extends NearbyEngineStats {
  state: NearbyServerState;
}

export type { DrainOptions };

/** Liveness: whether the process should be left running (`ok` unless closed). */
export interface NearbyLiveness {
  status: 'ok' | 'closed';
}

/** Readiness: whether the server should be sent new clients, and if not, why. */
export interface NearbyReadiness {
  /** Listening, and every adapter up. */
  ready: boolean;
  state: NearbyServerState;
  /** Each adapter's health as the server's last calls showed it. */
  adapters: Partial<Record<AdapterName, AdapterHealth>>;
  /** Why the server is not ready (`server draining`, `cache down: connect ECONNREFUSED …`); empty when ready. */
  reasons: string[];
}

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
  /** Liveness: `ok` from creation until `close()`, draining included. */
  health(): NearbyLiveness;
  /** Readiness: ready while listening with every adapter up; not while starting, draining or closed. */
  readiness(): NearbyReadiness;
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

/** Why a server in each state other than `listening` is not ready. */
const NOT_READY: Record<Exclude<NearbyServerState, 'listening'>, string> = {
  idle: 'server starting',
  draining: 'server draining',
  closed: 'server closed',
};

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
    const bound =
      address !== null && typeof address === 'object'
        ? { port: (address as AddressInfo).port, host: address.address }
        : { port: this.#options.port ?? 0, host: this.#options.host ?? '' };
    if (address !== null && typeof address === 'object') this.#port = bound.port;
    this.#engine.log.serverListening({
      port: address !== null && typeof address === 'object' ? bound.port : undefined,
      host: bound.host,
      path: this.#options.path,
      attached: !this.#ownsHttp,
    });
    return bound;
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

  health(): NearbyLiveness {
    return { status: this.state === 'closed' ? 'closed' : 'ok' };
  }

  readiness(): NearbyReadiness {
    const state = this.state;
    const adapters = this.#engine.adapterHealth();
    const reasons: string[] = state === 'listening' ? [] : [NOT_READY[state]];
    for (const [name, health] of Object.entries(adapters)) {
      if (!health.up) reasons.push(`${name} down: ${health.reason ?? 'unknown'}`);
    }
    return { ready: reasons.length === 0, state, adapters, reasons };
  }

  #onHttpRequest(request: IncomingMessage, response: ServerResponse): void {
    const path = pathOf(request);
    if (path === '/healthz') {
      const { status } = this.health();
      writeJson(response, status === 'ok' ? 200 : 503, { status, state: this.state, connections: this.#engine.stats().connections });
      return;
    }
    if (path === '/readyz') {
      const readiness = this.readiness();
      writeJson(response, readiness.ready ? 200 : 503, readiness);
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

/** Writes `body` as JSON with `status`, never cached (a health answer is only true now). */
export function writeJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}
