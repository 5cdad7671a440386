import type { SqlClient } from './sql.js';
import { quoteIndex, quoteTable } from './sql.js';

/** Default table of location history. */
export const DEFAULT_HISTORY_TABLE = 'nearby_location_history';

/**
 * Creates the history table and its index if they do not exist. Safe to call at every start
 * and from several processes at once (`IF NOT EXISTS`). Times are `timestamptz` (millisecond
 * values from the protocol are stored exactly); the primary key `(user_id, recorded_at)` is
 * what makes writes idempotent.
 *
 * ```sql
 * user_id text, recorded_at timestamptz, lat double precision, lon double precision,
 * accuracy real NULL, received_at timestamptz, PRIMARY KEY (user_id, recorded_at)
 * ```
 */
export async function migrateHistory(client: SqlClient, options: { table?: string } = {}): Promise<void> {
  const name = options.table ?? DEFAULT_HISTORY_TABLE;
  const table = quoteTable(name);
  await client.query(`
    CREATE TABLE IF NOT EXISTS ${table} (
      user_id     text             NOT NULL,
      recorded_at timestamptz      NOT NULL,
      lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
      lon         double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
      accuracy    real             NULL CHECK (accuracy >= 0),
      received_at timestamptz      NOT NULL,
      PRIMARY KEY (user_id, recorded_at)
    )`);
  // Retention deletes by age across all users: an index on recorded_at keeps it from scanning.
  await client.query(`CREATE INDEX IF NOT EXISTS ${quoteIndex(name, 'recorded_at_idx')} ON ${table} (recorded_at)`);
}
