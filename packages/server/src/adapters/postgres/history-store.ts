import { ErrorCode, NearbyError, checkOptionKeys, optionKeys } from '@nearby/protocol';
import type { HistoryQuery, HistorySample, HistoryStore } from '../types.js';
import { DEFAULT_HISTORY_TABLE, migrateHistory } from './schema.js';
import { quoteTable, type SqlClient } from './sql.js';

export interface PostgresHistoryStoreOptions {
  /** A `pg.Pool` (recommended), a `pg.Client`, or a PGlite instance. */
  client: SqlClient;
  /** Table name, optionally `schema.table`. Default `nearby_location_history`. */
  table?: string;
  /** Most samples per INSERT statement; larger appends are split. Default 1000. */
  maxBatchSamples?: number;
  /** Most INSERT statements in flight at once; further batches wait their turn. Default 2. */
  maxInFlightBatches?: number;
  /** Rows fetched per round trip by `query`. Default 1000. */
  pageSize?: number;
  /** Whether `connect()` runs {@link migrateHistory}. Default true. */
  migrate?: boolean;
  /** Describes the database in error messages, e.g. `postgres://db.internal:5432/app`. */
  describe?: string;
  /** Called by `close()`, e.g. `() => pool.end()` for a pool the store owns. */
  onClose?: () => Promise<void>;
}

/** Every key of {@link PostgresHistoryStoreOptions}; any other is refused. */
const POSTGRES_HISTORY_STORE_OPTION_KEYS = optionKeys<PostgresHistoryStoreOptions>()([
  'client',
  'table',
  'maxBatchSamples',
  'maxInFlightBatches',
  'pageSize',
  'migrate',
  'describe',
  'onClose',
]);

interface Row {
  user_id: string;
  recorded_at_ms: string;
  lat: number;
  lon: number;
  accuracy: number | null;
  received_at_ms: string;
}

/**
 * Location history in PostgreSQL. Each batch is ONE statement, whatever its size: the samples
 * travel as arrays and are expanded with `unnest`, and `ON CONFLICT (user_id, recorded_at) DO
 * NOTHING` makes retries and resends harmless. Work in flight is bounded; `query` pages with a
 * keyset (never OFFSET); `prune` deletes in bounded chunks.
 */
export class PostgresHistoryStore implements HistoryStore {
  readonly #client: SqlClient;
  readonly #tableName: string;
  readonly #table: string;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  readonly #pageSize: number;
  readonly #migrate: boolean;
  readonly #describe: string;
  readonly #onClose: (() => Promise<void>) | undefined;
  #inFlight = 0;
  readonly #waiting: Array<() => void> = [];
  #statements = 0;

  constructor(options: PostgresHistoryStoreOptions) {
    checkOptionKeys(options, POSTGRES_HISTORY_STORE_OPTION_KEYS);
    this.#client = options.client;
    this.#tableName = options.table ?? DEFAULT_HISTORY_TABLE;
    this.#table = quoteTable(this.#tableName);
    this.#maxBatch = positiveInteger('maxBatchSamples', options.maxBatchSamples ?? 1000);
    this.#maxInFlight = positiveInteger('maxInFlightBatches', options.maxInFlightBatches ?? 2);
    this.#pageSize = positiveInteger('pageSize', options.pageSize ?? 1000);
    this.#migrate = options.migrate ?? true;
    this.#describe = options.describe ?? 'PostgreSQL';
    this.#onClose = options.onClose;
  }

  /** INSERT statements executed so far. */
  get statements(): number {
    return this.#statements;
  }

  /** Checks the database answers (and creates the table unless `migrate: false`). */
  async connect(): Promise<void> {
    try {
      await this.#client.query('SELECT 1');
      if (this.#migrate) await migrateHistory(this.#client, { table: this.#tableName });
    } catch (cause) {
      throw new NearbyError(
        ErrorCode.ADAPTER_UNAVAILABLE,
        `could not use the history table ${this.#tableName} at ${this.#describe}: ${describeError(cause)}`,
        { cause },
      );
    }
  }

  async append(samples: readonly HistorySample[]): Promise<void> {
    const batches: Array<Promise<void>> = [];
    for (let i = 0; i < samples.length; i += this.#maxBatch) {
      batches.push(this.#insert(samples.slice(i, i + this.#maxBatch)));
    }
    await Promise.all(batches);
  }

  async *query(query: HistoryQuery): AsyncIterable<HistorySample> {
    let from = query.from ?? Number.MIN_SAFE_INTEGER;
    const to = query.to ?? Number.MAX_SAFE_INTEGER;
    let remaining = query.limit ?? Number.POSITIVE_INFINITY;
    let inclusive = true;
    while (remaining > 0) {
      const page = Math.min(this.#pageSize, remaining);
      const { rows } = await this.#client.query<Row>(
        `SELECT user_id,
                round(extract(epoch FROM recorded_at) * 1000)::bigint AS recorded_at_ms,
                lat, lon, accuracy,
                round(extract(epoch FROM received_at) * 1000)::bigint AS received_at_ms
           FROM ${this.#table}
          WHERE user_id = $1
            AND recorded_at ${inclusive ? '>=' : '>'} ${msToTimestamp('$2')}
            AND recorded_at < ${msToTimestamp('$3')}
          ORDER BY recorded_at
          LIMIT $4`,
        [query.userId, clampMs(from), clampMs(to), page],
      );
      for (const row of rows) {
        const sample: HistorySample = {
          userId: row.user_id,
          lat: row.lat,
          lon: row.lon,
          recordedAt: Number(row.recorded_at_ms),
          receivedAt: Number(row.received_at_ms),
        };
        if (row.accuracy !== null) sample.accuracy = row.accuracy;
        yield sample;
      }
      if (rows.length < page) return;
      remaining -= rows.length;
      // Keyset paging: continue strictly after the last row seen.
      from = Number(rows[rows.length - 1]!.recorded_at_ms);
      inclusive = false;
    }
  }

  /** Deletes rows recorded before `before` in chunks of 10 000, so no single statement holds locks for long. */
  async prune(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const { rows } = await this.#client.query<{ deleted: string }>(
        `WITH doomed AS (
           SELECT ctid FROM ${this.#table} WHERE recorded_at < ${msToTimestamp('$1')} LIMIT 10000
         ), gone AS (
           DELETE FROM ${this.#table} WHERE ctid IN (SELECT ctid FROM doomed) RETURNING 1
         )
         SELECT count(*) AS deleted FROM gone`,
        [clampMs(before)],
      );
      const deleted = Number(rows[0]?.deleted ?? 0);
      total += deleted;
      if (deleted < 10000) return total;
    }
  }

  async close(): Promise<void> {
    await this.#onClose?.();
  }

  async #insert(samples: HistorySample[]): Promise<void> {
    await this.#acquire();
    try {
      this.#statements++;
      await this.#client.query(
        `INSERT INTO ${this.#table} (user_id, recorded_at, lat, lon, accuracy, received_at)
         SELECT u, ${msToTimestamp('r')}, la, lo, a, ${msToTimestamp('rc')}
           FROM unnest($1::text[], $2::bigint[], $3::float8[], $4::float8[], $5::real[], $6::bigint[])
                AS s(u, r, la, lo, a, rc)
         ON CONFLICT (user_id, recorded_at) DO NOTHING`,
        [
          samples.map((s) => s.userId),
          samples.map((s) => s.recordedAt),
          samples.map((s) => s.lat),
          samples.map((s) => s.lon),
          samples.map((s) => s.accuracy ?? null),
          samples.map((s) => s.receivedAt),
        ],
      );
    } finally {
      this.#release();
    }
  }

  async #acquire(): Promise<void> {
    if (this.#inFlight < this.#maxInFlight) {
      this.#inFlight++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next(); // the slot passes straight to the next batch
    else this.#inFlight--;
  }
}

/** SQL turning a millisecond epoch expression into a timestamptz, exactly (numeric division). */
function msToTimestamp(expression: string): string {
  return `(timestamptz 'epoch' + (${expression})::bigint * interval '1 millisecond')`;
}

/** Keeps query bounds inside what both PostgreSQL timestamps and JS safe integers hold (years −4400 … 250 000). */
function clampMs(ms: number): number {
  return Math.max(-200_000_000_000_000, Math.min(7_900_000_000_000_000, Math.trunc(ms)));
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new NearbyError(ErrorCode.INVALID_ARGUMENT, `${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return describeError(error.errors[0]);
  return error instanceof Error ? error.message : String(error);
}
