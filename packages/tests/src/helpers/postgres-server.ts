import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort } from './free-port.js';
import { RestartableProcess } from './child-process.js';
import { requireProgram } from './requirements.js';

/** The newest PostgreSQL installed by Debian's packages, e.g. /usr/lib/postgresql/15/bin. */
function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  return join(root, versions[0] ?? '15', 'bin');
}

/** Whether PostgreSQL is installed; in CI its absence fails the suite instead of skipping it. */
export function postgresAvailable(): boolean {
  return requireProgram(join(binDir(), 'initdb'), 'postgresql').available;
}

/** initdb and postgres refuse to run as root: run them as the `postgres` system user then. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

/**
 * A real PostgreSQL server in a temp directory on a free loopback port, trust authentication
 * for user `nearby`. It can be crashed (immediate shutdown) and started again on the same data.
 */
export class PostgresServerProcess {
  readonly port: number;
  readonly url: string;
  readonly #dir: string;
  readonly #data: string;
  readonly #user = runAs();
  readonly #process = new RestartableProcess('postgres');

  private constructor(port: number) {
    this.port = port;
    this.url = `postgres://nearby@127.0.0.1:${port}/postgres`;
    this.#dir = mkdtempSync(join(tmpdir(), 'nearby-pg-'));
    this.#data = join(this.#dir, 'data');
    if (this.#user !== undefined) chownSync(this.#dir, this.#user.uid, this.#user.gid);
  }

  static async start(): Promise<PostgresServerProcess> {
    const server = new PostgresServerProcess(await freePort());
    execFileSync(join(binDir(), 'initdb'), ['-D', server.#data, '-U', 'nearby', '--auth=trust', '-E', 'UTF8', '--no-sync'], {
      stdio: 'ignore',
      ...(server.#user ?? {}),
    });
    await server.restart();
    return server;
  }

  /** Starts postgres (again) on this data directory and waits until it accepts queries. */
  async restart(): Promise<void> {
    this.#process.spawn(
      join(binDir(), 'postgres'),
      ['-D', this.#data, '-p', String(this.port), '-k', this.#dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'full_page_writes=off'],
      this.#user ?? {},
    );
    const deadline = performance.now() + 20_000;
    for (;;) {
      const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 1_000 });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.query('SELECT 1');
        return;
      } catch {
        // starting up (or recovering after a crash)
      } finally {
        await client.end().catch(() => undefined);
      }
      if (!this.#process.running || performance.now() > deadline) {
        throw new Error(`postgres did not start on port ${this.port}:\n${this.#process.stderr}`);
      }
      await sleep(100);
    }
  }

  /** Immediate shutdown (SIGQUIT), the way a crash looks to clients; waits for the exit. */
  async kill(): Promise<void> {
    await this.#process.signal('SIGQUIT');
  }

  /** Stops postgres and removes its directory. */
  async stop(): Promise<void> {
    await this.#process.signal('SIGINT');
    rmSync(this.#dir, { recursive: true, force: true });
  }

  /** A fresh client for the test's own queries; the caller ends it. */
  async client(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.url });
    client.on('error', () => {});
    await client.connect();
    return client;
  }
}
