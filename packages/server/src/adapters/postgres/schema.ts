import type { SqlClient } from './sql.js';
import { quoteIndex, quoteTable } from './sql.js';

/** Default table of location history. */
export const DEFAULT_HISTORY_TABLE = 'nearby_location_history';

/**
 * Creates the history table and its index if they do not exist. Safe to call at every start
 * and from several processes at once (`IF NOT EXISTS`, retried when creators race). Times are `timestamptz` (millisecond
 * values from the protocol are stored exactly); the primary key `(user_id, recorded_at)` is
 * what makes writes idempotent.
 *
 * ```sql
 * user_id text, recorded_at timestamptz, lat double precision, lon double precision,
 * accuracy real NULL, received_at timestamptz, PRIMARY KEY (user_id, recorded_at)
 * ```
 */
export async function migrateHistory(client: SqlClient, options: { table?: string } = {}): Promise<void> {
  // IF NOT EXISTS is not atomic against concurrent creators: two processes can both pass the
  // check and the loser fails on a catalog unique index. Its retry then sees the table.
  for (let attempt = 1; ; attempt++) {
    try {
      await createTable(client, options.table ?? DEFAULT_HISTORY_TABLE);
      return;
    } catch (error) {
      if (attempt >= 5 || !isCreationRace(error)) throw error;
    }
  }
}

/** unique_violation (on pg_type / pg_class) or duplicate_table / duplicate_object: another process won the race. */
function isCreationRace(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === '42P07' || code === '42710';
}

async function createTable(client: SqlClient, name: string): Promise<void> {
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
