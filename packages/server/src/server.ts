import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCode, ErrorCode, Limits, NearbyError } from '@nearby/protocol';
import { MemoryHistoryStore } from './adapters/memory/history-store.js';
import { MemoryLocationCache } from './adapters/memory/location-cache.js';
import { MemoryPubSub } from './adapters/memory/pubsub.js';
import type { HistoryStore, LocationCache, PubSubTransport } from './adapters/types.js';
import { HistoryWriter } from './core/history-writer.js';
import { NearbyCore, type CoreCounters } from './core/nearby-core.js';
import { resolveOptions, type NearbyServerOptions, type ResolvedOptions } from './options.js';

/** Lifecycle of a {@link NearbyServer}. */
export type NearbyServerState = 'idle' | 'listening' | 'draining' | 'closed';

/** Counters and gauges of a running server. */
export interface NearbyServerStats extends CoreCounters {
  state: NearbyServerState;
  connections: number;
  users: number;
  /** Pub/Sub channels this server is subscribed to (one per followed user, however many followers). */
  channels: number;
  historyBatches: number;
  historyPending: number;
  /** The Pub/Sub transport's own counters, when it keeps any. */
  pubsub: Readonly<Record<string, number>> | undefined;
}

export interface DrainOptions {
  /** Window over which clients are moved off, in waves. Default: the server's `drainWindowMs`. */
  windowMs?: number;
  /** Number of waves. Default: 10 (fewer with fewer clients). */
  waves?: number;
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
  readonly state: NearbyServerState;
  /** The bound port once listening on `port`. */
  readonly port: number | undefined;
  /** This process's identity on the Pub/Sub bus. */
  readonly serverId: string;
}

/** Time a closing socket gets to finish its close handshake before it is cut. */
const CLOSE_GRACE_MS = 3_000;

/**
 * Creates a Nearby server. In-memory adapters are used for whatever is omitted, so one process
 * works with no infrastructure; pass Redis/PostgreSQL adapters to scale out.
 */
export function createNearbyServer(options: NearbyServerOptions): NearbyServer {
  return new NearbyServerImpl(resolveOptions(options), options);
}

class NearbyServerImpl implements NearbyServer {
  readonly #options: ResolvedOptions;
  readonly #core: NearbyCore;
  readonly #writer: HistoryWriter;
  readonly #owned: Array<LocationCache | PubSubTransport | HistoryStore> = [];
  readonly #adapters: Array<LocationCache | PubSubTransport | HistoryStore>;
  readonly #pubsub: PubSubTransport;
  readonly #wss: WebSocketServer;
  readonly #sockets = new Map<WebSocket, import('./core/connection.js').Connection>();
  #http: HttpServer | undefined;
  #ownsHttp = false;
  #state: NearbyServerState = 'idle';
  #sweepTimer: unknown;
  #port: number | undefined;
  #drainPromise: Promise<void> | undefined;

  constructor(options: ResolvedOptions, raw: NearbyServerOptions) {
    this.#options = options;
    const cache = raw.cache ?? this.#own(new MemoryLocationCache({ now: () => options.timers.now() }));
    const pubsub = raw.pubsub ?? this.#own(new MemoryPubSub());
    const history = raw.history ?? this.#own(new MemoryHistoryStore());
    this.#adapters = [cache, pubsub, history];
    this.#pubsub = pubsub;
    this.#writer = new HistoryWriter(history, { ...options.historyWriter, timers: options.timers });
    this.#core = new NearbyCore(options, cache, pubsub, this.#writer);
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxPayloadBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
  }

  get state(): NearbyServerState {
    return this.#state;
  }

  get port(): number | undefined {
    return this.#port;
  }

  get serverId(): string {
    return this.#options.serverId;
  }

  async listen(): Promise<{ port: number; host: string }> {
    if (this.#state !== 'idle') throw new NearbyError(ErrorCode.INVALID_ARGUMENT, `listen() called on a ${this.#state} server`);
    // Backends first: a server that cannot reach its Redis or database should not accept users.
    const connected = await Promise.allSettled([...new Set(this.#adapters)].map((adapter) => adapter.connect?.()));
    const failed = connected.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    if (this.#options.server !== undefined) {
      this.#http = this.#options.server;
    } else {
      this.#http = createServer((request, response) => this.#onHttpRequest(request, response));
      this.#ownsHttp = true;
    }
    this.#http.on('upgrade', this.#onUpgrade);
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
    this.#state = 'listening';
    this.#scheduleSweep();
    this.#core.start();
    const address = this.#http.address();
    if (address !== null && typeof address === 'object') {
      this.#port = (address as AddressInfo).port;
      return { port: address.port, host: address.address };
    }
    return { port: this.#options.port ?? 0, host: this.#options.host ?? '' };
  }

  async friendAdded(a: string, b: string): Promise<void> {
    this.#checkPair('friendAdded', a, b);
    await Promise.all([this.#core.friendAdded(a, b), this.#core.friendAdded(b, a)]);
  }

  async friendRemoved(a: string, b: string): Promise<void> {
    this.#checkPair('friendRemoved', a, b);
    await Promise.all([this.#core.friendRemoved(a, b), this.#core.friendRemoved(b, a)]);
  }

  drain(options: DrainOptions = {}): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    this.#drainPromise ??= this.#drain(options);
    return this.#drainPromise;
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#options.timers.clearTimeout(this.#sweepTimer);
    for (const connection of this.#core.connections()) connection.close(CloseCode.GOING_AWAY, 'server closing');
    await this.#waitForSockets(CLOSE_GRACE_MS);
    this.#http?.off('upgrade', this.#onUpgrade);
    if (this.#ownsHttp && this.#http !== undefined) {
      const http = this.#http;
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await this.#core.settle();
    this.#core.stop();
    await this.#writer.flush();
    const results = await Promise.allSettled(this.#owned.map((adapter) => adapter.close?.()));
    for (const result of results) if (result.status === 'rejected') this.#options.onError(result.reason);
  }

  stats(): NearbyServerStats {
    return {
      ...this.#core.counters,
      state: this.#state,
      connections: this.#core.connectionCount,
      users: this.#core.userCount,
      channels: this.#core.channelCount,
      historyBatches: this.#writer.batches,
      historyPending: this.#writer.pending,
      pubsub: this.#pubsub.stats,
    };
  }

  #own<T extends LocationCache | PubSubTransport | HistoryStore>(adapter: T): T {
    this.#owned.push(adapter);
    return adapter;
  }

  #checkPair(method: string, a: string, b: string): void {
    for (const id of [a, b]) {
      if (typeof id !== 'string' || id.length === 0 || id.length > Limits.MAX_USER_ID_LENGTH) {
        throw new NearbyError(ErrorCode.INVALID_ARGUMENT, `${method}: user ids must be non-empty strings, got ${String(id)}`);
      }
    }
    if (a === b) throw new NearbyError(ErrorCode.INVALID_ARGUMENT, `${method}: a user cannot be their own friend (${a})`);
  }

  #pathOf(request: IncomingMessage): string {
    const url = request.url ?? '/';
    const query = url.indexOf('?');
    return query === -1 ? url : url.slice(0, query);
  }

  #onHttpRequest(request: IncomingMessage, response: ServerResponse): void {
    const path = this.#pathOf(request);
    if (path === '/healthz') {
      const ok = this.#state === 'listening';
      response.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ status: ok ? 'ok' : this.#state, connections: this.#core.connectionCount }));
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

  readonly #onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (this.#pathOf(request) !== this.#options.path) {
      // Another handler on a shared http server may own this path.
      if (this.#ownsHttp) rejectUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (this.#state !== 'listening') {
      rejectUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    socket.on('error', () => socket.destroy());
    void this.#authenticateAndAccept(request, socket, head);
  };

  async #authenticateAndAccept(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    let userId: string | null;
    let failure: { code: number; reason: string } | undefined;
    try {
      userId = await this.#options.authenticate(request);
      if (userId !== null && (typeof userId !== 'string' || userId.length === 0 || userId.length > Limits.MAX_USER_ID_LENGTH)) {
        this.#options.onError(
          new NearbyError(ErrorCode.INTERNAL, `authenticate returned an invalid user id: ${JSON.stringify(userId)}`),
        );
        failure = { code: CloseCode.INTERNAL_ERROR, reason: 'authentication failed' };
      } else if (userId === null) {
        failure = { code: CloseCode.UNAUTHORIZED, reason: 'unauthorized' };
      }
    } catch (error) {
      this.#options.onError(new NearbyError(ErrorCode.INTERNAL, 'authenticate threw', { cause: error }));
      userId = null;
      failure = { code: CloseCode.INTERNAL_ERROR, reason: 'authentication failed' };
    }
    if (socket.destroyed) return;
    if (this.#state !== 'listening') {
      rejectUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    // The upgrade completes even when refused, so every client (browsers included) can read the close code.
    this.#wss.handleUpgrade(request, socket, head, (ws) => {
      if (failure !== undefined || userId === null) {
        ws.close(failure?.code ?? CloseCode.UNAUTHORIZED, failure?.reason ?? 'unauthorized');
        return;
      }
      this.#attach(ws, userId);
    });
  }

  #attach(ws: WebSocket, userId: string): void {
    const connection = this.#core.accept(ws, userId);
    this.#sockets.set(ws, connection);
    ws.on('message', (data, isBinary) => {
      this.#core.receive(connection, isBinary ? undefined : data.toString());
    });
    ws.on('close', (code) => {
      this.#sockets.delete(ws);
      this.#core.release(connection, code);
    });
    // ws reports protocol errors (oversized frame → 1009, invalid UTF-8 → 1007) and closes the
    // socket itself; the close handler above releases the connection.
    ws.on('error', () => {});
  }

  #scheduleSweep(): void {
    if (this.#state === 'closed') return;
    this.#sweepTimer = this.#options.timers.setTimeout(() => {
      try {
        this.#core.sweep();
      } catch (error) {
        this.#options.onError(error);
      }
      this.#scheduleSweep();
    }, this.#options.sweepIntervalMs);
  }

  async #drain(options: DrainOptions): Promise<void> {
    if (this.#state === 'listening' || this.#state === 'idle') this.#state = 'draining';
    const windowMs = options.windowMs ?? this.#options.drainWindowMs;
    const connections = [...this.#core.connections()];
    const waves = Math.max(1, Math.min(options.waves ?? 10, connections.length));
    const perWave = Math.ceil(connections.length / waves);
    const spacing = waves > 1 ? windowMs / waves : 0;
    const timers = this.#options.timers;
    for (let wave = 0; wave < waves; wave++) {
      if (wave > 0 && spacing > 0) await new Promise<void>((resolve) => timers.setTimeout(resolve, spacing));
      for (const connection of connections.slice(wave * perWave, (wave + 1) * perWave)) {
        if (connection.phase === 'closed') continue;
        // Spread this wave's reconnects over the gap before the next wave.
        const delayMs = Math.floor(Math.random() * Math.max(spacing, 1));
        connection.queue.control(JSON.stringify({ type: 'reconnect', reason: 'draining', delayMs }));
        connection.close(CloseCode.SERVICE_RESTART, 'draining');
      }
    }
    await this.#waitForSockets(CLOSE_GRACE_MS);
  }

  /** Resolves when every socket is gone, cutting those still open after `graceMs`. */
  async #waitForSockets(graceMs: number): Promise<void> {
    if (this.#sockets.size === 0) return;
    const timers = this.#options.timers;
    await new Promise<void>((resolve) => {
      const timer = timers.setTimeout(() => {
        for (const ws of this.#sockets.keys()) ws.terminate();
        resolve();
      }, graceMs);
      const check = () => {
        if (this.#sockets.size > 0) return;
        timers.clearTimeout(timer);
        resolve();
      };
      for (const ws of this.#sockets.keys()) ws.once('close', check);
      check();
    });
  }
}

function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }
  socket.destroy();
}
