import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where Debian's `postgresql` package puts the server binaries (the newest version when
 * several are installed), or undefined when it is not installed. PostgresServerProcess runs
 * `initdb` and `postgres` from there.
 */
export function findPostgresBinaries(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((version) => /^\d+$/.test(version))
    .sort((a, b) => Number(b) - Number(a));
  const newest = versions[0];
  if (newest === undefined) return undefined;
  const bin = join(root, newest, 'bin');
  return existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres')) ? bin : undefined;
}

export const MISSING_POSTGRES_MESSAGE = [
  'pnpm bench:history needs a local PostgreSQL server installation, and none was found',
  '(looked for /usr/lib/postgresql/<version>/bin/initdb and .../postgres).',
  "Install Debian's `postgresql` package, e.g.:  apt-get install -y postgresql",
  '(the benchmark starts its own server in a temp directory; no running database is needed).',
].join('\n');
