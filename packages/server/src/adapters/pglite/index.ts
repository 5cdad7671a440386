import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PostgresHistoryStore, type PostgresHistoryStoreOptions } from '../postgres/history-store.js';
import type { SqlClient } from '../postgres/sql.js';
import { checkOptionKeys, optionKeys } from '@nearby/protocol';

/** Options of {@link createPgliteHistoryStore}. */
export interface CreatePgliteHistoryStoreOptions extends Omit<PostgresHistoryStoreOptions, 'client' | 'describe' | 'onClose'> {
  /** Directory holding the database files; created if missing. Omit for a database in memory. */
  dataDir?: string;
}

/** Every key of {@link CreatePgliteHistoryStoreOptions}; any other is refused. */
const CREATE_PGLITE_HISTORY_STORE_OPTION_KEYS = optionKeys<CreatePgliteHistoryStoreOptions>()([
  'dataDir',
  'table',
  'maxBatchSamples',
  'maxInFlightBatches',
  'pageSize',
  'migrate',
]);

/**
 * Location history that persists without a database server: PostgreSQL compiled to WebAssembly
 * (PGlite) running in this process, storing its files in `dataDir`. The same SQL as
 * {@link PostgresHistoryStore} on a server, so moving to a real database changes only wiring.
 * One process at a time may open a `dataDir`.
 */
export function createPgliteHistoryStore(options: CreatePgliteHistoryStoreOptions = {}): PostgresHistoryStore {
  checkOptionKeys(options, CREATE_PGLITE_HISTORY_STORE_OPTION_KEYS);
  const { dataDir, ...storeOptions } = options;
  if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true });
  const db = new PGlite(dataDir);
  return new PostgresHistoryStore({
    ...storeOptions,
    client: db as unknown as SqlClient,
    describe: dataDir === undefined ? 'an in-memory PGlite database' : `PGlite in ${dataDir}`,
    onClose: () => db.close(),
  });
}
