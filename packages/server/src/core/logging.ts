import { CloseCode } from '@nearby/protocol';
import { backgroundEvery } from '../adapters/timers.js';
import type { Timers } from '../timers.js';
import type { AdapterName, LogEventName, LogLevel, NearbyLogger } from './telemetry.js';

/** How often further failures of an adapter operation that stays down are summed up in one record. */
export const ADAPTER_REPEAT_INTERVAL_MS = 10_000;

/** Why an upgrade was refused after `authenticate` ran. */
export type AuthRefusal = 'null_user_id' | 'authenticate_threw' | 'invalid_user_id';

/** Close codes a server sets for a reason worth an `info` record; other closes log at `debug`. */
const NOTABLE_CLOSE_CODES: ReadonlySet<number> = new Set([CloseCode.IDLE_TIMEOUT, CloseCode.RATE_LIMITED, CloseCode.INTERNAL_ERROR]);

/** Failures of one adapter operation since it went down. */
interface FailingOperation {
  adapter: AdapterName;
  operation: string;
  /** Failures not yet in a record. */
  unreported: number;
  /** Last error not yet in a record. */
  lastError: unknown;
}

/**
 * The engine's structured log: one method per event of {@link LogEventName}, each building its
 * record only when a logger is there. Repeated failures of an adapter operation are collapsed:
 * the first one is an `adapter_unavailable` error, the ones after it are counted and written as
 * one `adapter_errors_repeated` warning per interval, and the adapter's first success after
 * that is an `adapter_recovered` record.
 */
export class EngineLog {
  readonly #logger: NearbyLogger | undefined;
  readonly #timers: Timers;
  readonly #intervalMs: number;
  readonly #failing = new Map<string, FailingOperation>();
  #stopRepeats: (() => void) | undefined;

  constructor(logger: NearbyLogger | undefined, timers: Timers, intervalMs = ADAPTER_REPEAT_INTERVAL_MS) {
    this.#logger = logger;
    this.#timers = timers;
    this.#intervalMs = intervalMs;
  }

  /** Whether records go anywhere. */
  get enabled(): boolean {
    return this.#logger !== undefined;
  }

  serverListening(fields: { port: number | undefined; host: string; path: string; attached: boolean }): void {
    const where = fields.attached ? 'attached to the host http server' : `listening on ${fields.host}:${String(fields.port)}`;
    this.#write('info', 'server_listening', { ...fields }, `${where}, WebSocket path ${fields.path}`);
  }

  connectionAccepted(connectionId: number, userId: string): void {
    if (!this.#wants('debug')) return;
    this.#write('debug', 'connection_accepted', { connectionId, userId }, 'connection accepted');
  }

  /**
   * A connection was released. `code` and `reason` are the server's when it closed the
   * connection, else the code the socket closed with; closes the server made for idleness,
   * rate limits or an internal failure log at `info`, every other at `debug`.
   */
  connectionClosed(connectionId: number, userId: string, code: number, reason: string, byServer: boolean): void {
    const level: LogLevel = byServer && NOTABLE_CLOSE_CODES.has(code) ? 'info' : 'debug';
    if (!this.#wants(level)) return;
    const fields = { connectionId, userId, code, reason, byServer };
    this.#write(level, 'connection_closed', fields, `connection closed with ${code}${reason === '' ? '' : ` (${reason})`}`);
  }

  authRefused(reason: AuthRefusal, code: number, err?: unknown): void {
    const text = {
      null_user_id: 'authenticate returned null',
      authenticate_threw: 'authenticate threw',
      invalid_user_id: 'authenticate returned an invalid user id',
    }[reason];
    this.#write('info', 'auth_refused', err === undefined ? { reason, code } : { reason, code, err }, `upgrade refused: ${text}`);
  }

  slowConsumerClosed(connectionId: number, userId: string): void {
    this.#write('warn', 'slow_consumer_closed', { connectionId, userId }, 'connection cut: its peer stopped reading and its backlog overflowed');
  }

  drainStarted(connections: number, windowMs: number, waves: number): void {
    this.#write('info', 'drain_started', { count: connections, windowMs, waves }, `draining ${connections} connection(s) over ${windowMs} ms`);
  }

  drainFinished(connections: number, cut: number, durationMs: number): void {
    const message = `drain finished: ${connections} connection(s) moved off${cut > 0 ? `, ${cut} cut after the grace period` : ''}`;
    this.#write('info', 'drain_finished', { count: connections, cut, durationMs }, message);
  }

  busDown(): void {
    this.#write('error', 'bus_down', { adapter: 'pubsub' }, 'pubsub: probes stopped coming back; cross-process delivery is interrupted');
  }

  busUp(durationMs: number): void {
    this.#write('info', 'bus_up', { adapter: 'pubsub', durationMs }, `pubsub: probes come back again after ${durationMs} ms`);
  }

  internalError(context: string, err: unknown): void {
    this.#write('error', 'internal_error', { operation: context, err }, `${context}: ${describe(err)}`);
  }

  /** One failed call of `adapter.operation`; the first of a run is logged at once, the others counted. */
  adapterFailed(adapter: AdapterName, operation: string, err: unknown): void {
    if (this.#logger === undefined) return;
    const key = `${adapter}.${operation}`;
    const failing = this.#failing.get(key);
    if (failing !== undefined) {
      failing.unreported++;
      failing.lastError = err;
      return;
    }
    this.#failing.set(key, { adapter, operation, unreported: 0, lastError: undefined });
    this.#write('error', 'adapter_unavailable', { adapter, operation, reason: describe(err), err }, `${adapter} ${operation} failed: ${describe(err)}`);
    this.#stopRepeats ??= backgroundEvery(this.#timers, this.#intervalMs, () => this.#reportRepeats());
  }

  /** `adapter` answered again after `durationMs` down and `failures` failed calls in all. */
  adapterRecovered(adapter: AdapterName, durationMs: number, failures: number): void {
    if (this.#logger === undefined) return;
    for (const [key, failing] of this.#failing) {
      if (failing.adapter !== adapter) continue;
      this.#repeated(failing);
      this.#failing.delete(key);
    }
    if (this.#failing.size === 0) this.#stopTimer();
    this.#write('info', 'adapter_recovered', { adapter, durationMs, count: failures }, `${adapter} answers again after ${durationMs} ms down and ${failures} failed call(s)`);
  }

  /** Stops the repeat timer; failures still counted are written first. */
  stop(): void {
    this.#reportRepeats();
    this.#stopTimer();
  }

  #reportRepeats(): void {
    for (const failing of this.#failing.values()) this.#repeated(failing);
  }

  #repeated(failing: FailingOperation): void {
    if (failing.unreported === 0) return;
    const { adapter, operation, unreported: count, lastError: err } = failing;
    failing.unreported = 0;
    failing.lastError = undefined;
    this.#write(
      'warn',
      'adapter_errors_repeated',
      { adapter, operation, count, reason: describe(err), err },
      `${adapter} ${operation} failed ${count} more time(s): ${describe(err)}`,
    );
  }

  #stopTimer(): void {
    this.#stopRepeats?.();
    this.#stopRepeats = undefined;
  }

  /** Whether a record at `level` would be written (pino's `isLevelEnabled` when there is one). */
  #wants(level: LogLevel): boolean {
    const logger = this.#logger as (NearbyLogger & { isLevelEnabled?: (level: string) => boolean }) | undefined;
    if (logger === undefined) return false;
    return typeof logger.isLevelEnabled === 'function' ? logger.isLevelEnabled(level) : true;
  }

  #write(level: LogLevel, event: LogEventName, fields: Record<string, unknown>, message: string): void {
    const logger = this.#logger;
    if (logger === undefined) return;
    try {
      const method = logger[level] ?? logger.error;
      method.call(logger, { event, ...fields }, message);
    } catch {
      // A logger that throws must not take the server down.
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/**
 * A console logger printing records at `level` and above, one line each:
 * `[nearby] warn adapter_errors_repeated: … adapter=cache operation=set count=40`.
 */
export function consoleLogger(level: LogLevel = 'warn'): NearbyLogger {
  const threshold = LEVELS.indexOf(level);
  const method = (at: LogLevel) => {
    if (LEVELS.indexOf(at) < threshold) return () => {};
    const print = at === 'error' || at === 'fatal' ? console.error : at === 'warn' ? console.warn : console.log;
    return (fields: Record<string, unknown>, message: string) => print(formatLine(at, fields, message));
  };
  return {
    trace: method('trace'),
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    fatal: method('fatal'),
  };
}

function formatLine(level: LogLevel, fields: Record<string, unknown>, message: string): string {
  let line = `[nearby] ${level} ${String(fields.event ?? '')}: ${message}`;
  for (const [key, value] of Object.entries(fields)) {
    if (key === 'event' || value === undefined) continue;
    const text = value instanceof Error ? value.message : typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
    line += ` ${key}=${/\s/.test(text) ? JSON.stringify(text) : text}`;
  }
  return line;
}
