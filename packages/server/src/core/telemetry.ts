/**
 * What a running engine tells the host about itself, apart from `stats()`: structured log
 * events (through a pino-compatible {@link NearbyLogger}), latency observations and adapter
 * health (through {@link NearbyTelemetry}). Both are optional; without them the engine pays
 * for neither.
 */

import type { NearbyEngineStats } from './engine.js';

/** The adapters the engine calls, as they are named in logs, metrics labels and readiness. */
export type AdapterName = 'cache' | 'pubsub' | 'history' | 'settings' | 'presence' | 'friends';

/** Log levels, lowest first: the names and order pino uses. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** One log method: `(fields, message)`, the call shape pino, bunyan and the console adapter accept. */
export type LogMethod = (fields: Record<string, unknown>, message: string) => void;

/**
 * A structured logger: a pino logger is one as it is (`logger: pino()`). Every call passes the
 * fields first (always with `event`, one of {@link LogEventName}) and a human message second.
 */
export interface NearbyLogger {
  trace?: LogMethod;
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
  fatal?: LogMethod;
}

/** The `event` field of every record the engine logs. */
export type LogEventName =
  | 'server_listening'
  | 'connection_accepted'
  | 'connection_closed'
  | 'auth_refused'
  | 'adapter_unavailable'
  | 'adapter_errors_repeated'
  | 'adapter_recovered'
  | 'bus_down'
  | 'bus_up'
  | 'drain_started'
  | 'drain_finished'
  | 'slow_consumer_closed'
  | 'internal_error';

/** The health of one adapter as the engine last saw it. */
export interface AdapterHealth {
  up: boolean;
  /** Why it is down (the last error's message), when it is. */
  reason?: string;
  /** Server time (ms) of the last change between up and down. */
  since: number;
}

/**
 * Observations the engine makes while it works, for a metrics exporter
 * (`@nearby/server/metrics` implements it on prom-client). Every method is called
 * synchronously on the engine's thread and must not throw; durations are in seconds.
 */
export interface NearbyTelemetry {
  /** Called once by the engine it is given to, before any other call, with what can be read at scrape time. */
  bind?(source: TelemetrySource): void;
  /** A friend_update / friend_left written to a viewer's socket, `seconds` after the bus message behind its oldest entry was received. */
  fanout?(seconds: number): void;
  /** An init answered with its snapshot, `seconds` after the init frame arrived. */
  init?(seconds: number): void;
  /** One adapter call finished (`ok` false: it threw or rejected). */
  adapterCall?(adapter: AdapterName, operation: string, seconds: number, ok: boolean): void;
}

/** What a {@link NearbyTelemetry} may read whenever it is asked for figures (a Prometheus scrape). */
export interface TelemetrySource {
  /** The engine's counters and gauges, as `engine.stats()` returns them. */
  stats(): Readonly<NearbyEngineStats>;
  /** Each adapter's health. */
  adapterHealth(): Readonly<Partial<Record<AdapterName, AdapterHealth>>>;
}
