import { ErrorCode, NearbyError } from '@nearby/protocol';

/**
 * The one method the history store needs from a PostgreSQL client. A `pg.Pool`, a `pg.Client`
 * and a PGlite instance all fit, so the same SQL runs on a server and embedded.
 */
export interface SqlClient {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Quotes a table name, optionally schema-qualified (`schema.table`). Names are checked, not
 * escaped: anything but plain identifiers is refused, so configuration can never inject SQL.
 */
export function quoteTable(name: string): string {
  const parts = name.split('.');
  if (parts.length > 2 || !parts.every((part) => IDENTIFIER.test(part))) {
    throw new NearbyError(
      ErrorCode.INVALID_ARGUMENT,
      `table must be an identifier or schema.identifier (letters, digits, _), got ${JSON.stringify(name)}`,
    );
  }
  return parts.map((part) => `"${part}"`).join('.');
}

/** The name of an index on `table`, quoted, derived from the table's own name. */
export function quoteIndex(table: string, suffix: string): string {
  const bare = table.split('.').pop()!;
  return `"${`${bare}_${suffix}`.slice(0, 63)}"`;
}
