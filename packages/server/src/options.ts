import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { checkOptionKeys, optionKeys } from '@nearby/protocol';
import {
  ENGINE_OPTION_KEYS,
  invalidOption,
  positiveOption,
  resolveEngineOptions,
  type NearbyEngineOptions,
  type ResolvedEngineOptions,
} from './core/engine-options.js';

/**
 * Resolves the user id of an upgrade request, or null to refuse it (the socket is then closed
 * with 4001). This is the only source of identity: frames never name their sender.
 */
export type Authenticate = (request: IncomingMessage) => Promise<string | null> | string | null;

/** Options of {@link createNearbyServer}: the engine's, plus how WebSockets reach it. */
export interface NearbyServerOptions extends NearbyEngineOptions {
  authenticate: Authenticate;
  /** Port to listen on (0 picks a free one). Give either `port` or `server`. */
  port?: number;
  /** Host to bind when listening on `port`. Default: all interfaces. */
  host?: string;
  /** Existing HTTP server to attach to; the host application calls its `listen`. */
  server?: HttpServer;
  /** Path WebSocket upgrades must use. Default `/nearby`. */
  path?: string;
  /** Largest inbound frame in bytes; larger ones close the connection with 1009. Default 16 KiB. */
  maxPayloadBytes?: number;
}

/** The keys of {@link NearbyServerOptions} that are not the engine's: how WebSockets reach it. */
const TRANSPORT_OPTION_KEYS = optionKeys<Omit<NearbyServerOptions, keyof NearbyEngineOptions>>()([
  'authenticate',
  'port',
  'host',
  'server',
  'path',
  'maxPayloadBytes',
]);

/** Every key of {@link NearbyServerOptions}; any other is refused. `server` is not looked into. */
export const SERVER_OPTION_KEYS = optionKeys<NearbyServerOptions>()([...ENGINE_OPTION_KEYS, ...TRANSPORT_OPTION_KEYS]);

/** The engine's part of server options: all but the transport ones. */
export function engineOptionsOf(options: NearbyServerOptions): NearbyEngineOptions {
  const engine: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (!(TRANSPORT_OPTION_KEYS as readonly string[]).includes(key)) engine[key] = value;
  }
  return engine as unknown as NearbyEngineOptions;
}

/** Options after defaults, as the server uses them. */
export interface ResolvedOptions extends ResolvedEngineOptions {
  authenticate: Authenticate;
  port: number | undefined;
  host: string | undefined;
  server: HttpServer | undefined;
  path: string;
  maxPayloadBytes: number;
}

/** Applies defaults and rejects impossible configurations with a message naming the option. */
export function resolveOptions(options: NearbyServerOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('options are required');
  checkOptionKeys(options, SERVER_OPTION_KEYS);
  if (typeof options.authenticate !== 'function') throw invalidOption('authenticate must be a function (request) => userId | null');
  if (typeof options.friends?.getFriends !== 'function') throw invalidOption('friends must be a FriendGraph with getFriends(userId)');
  if (options.port !== undefined && options.server !== undefined) throw invalidOption('give either port or server, not both');
  if (options.port === undefined && options.server === undefined) {
    throw invalidOption('give a port to listen on, or an http server to attach to');
  }
  if (options.port !== undefined && (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535)) {
    throw invalidOption(`port must be an integer in [0, 65535], got ${String(options.port)}`);
  }
  const path = options.path ?? '/nearby';
  if (!path.startsWith('/')) throw invalidOption(`path must start with "/", got ${path}`);
  return {
    ...resolveEngineOptions(options, SERVER_OPTION_KEYS),
    authenticate: options.authenticate,
    port: options.port,
    host: options.host,
    server: options.server,
    path,
    maxPayloadBytes: positiveOption('maxPayloadBytes', options.maxPayloadBytes, 16 * 1024),
  };
}
