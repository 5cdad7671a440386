import pg from 'pg';
import { PostgresHistoryStore, type PostgresHistoryStoreOptions } from './history-store.js';
import { checkOptionKeys, optionKeys } from '@nearby/protocol';

export { PostgresHistoryStore } from './history-store.js';
export type { PostgresHistoryStoreOptions } from './history-store.js';
export { migrateHistory, DEFAULT_HISTORY_TABLE } from './schema.js';
export type { SqlClient } from './sql.js';

/** Options of {@link createPostgresHistoryStore}. */
export interface CreatePostgresHistoryStoreOptions
  extends Omit<PostgresHistoryStoreOptions, 'client' | 'describe' | 'onClose'> {
  /** `postgres://user:password@host:port/database`. */
  connectionString: string;
  /** Extra `pg.Pool` settings. Default: at most 4 connections, 5 s connection timeout, 15 s statement timeout, TCP keep-alive. */
  pool?: pg.PoolConfig;
}

/** Every key of {@link CreatePostgresHistoryStoreOptions}; any other is refused. */
const CREATE_POSTGRES_HISTORY_STORE_OPTION_KEYS = optionKeys<CreatePostgresHistoryStoreOptions>()([
  'connectionString',
  'pool',
  'table',
  'maxBatchSamples',
  'maxInFlightBatches',
  'pageSize',
  'migrate',
]);

/**
 * A {@link PostgresHistoryStore} on its own `pg.Pool`. `server.listen()` connects it (creating
 * the table unless `migrate: false`) and fails with `adapter_unavailable` naming the database;
 * `store.close()` ends the pool.
 */
export function createPostgresHistoryStore(options: CreatePostgresHistoryStoreOptions): PostgresHistoryStore {
  checkOptionKeys(options, CREATE_POSTGRES_HISTORY_STORE_OPTION_KEYS);
  const { connectionString, pool: poolOptions, ...storeOptions } = options;
  const pool = new pg.Pool({
    connectionString,
    max: 4,
    connectionTimeoutMillis: 5_000,
    // A statement that never returns would hold an in-flight slot and a connection for ever.
    statement_timeout: 15_000,
    query_timeout: 20_000,
    keepAlive: true,
    ...poolOptions,
  });
  // An idle connection dropped by the server (restart, failover) is reported here; without a
  // listener it would crash the process. The next query opens a fresh connection.
  pool.on('error', () => {});
  return new PostgresHistoryStore({
    ...storeOptions,
    client: pool,
    describe: redact(connectionString),
    onClose: () => pool.end(),
  });
}

/** The connection string without its password, for error messages. */
function redact(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    return 'the configured PostgreSQL database';
  }
}
