import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '@nearby/protocol';
import type { HistoryStore } from '@nearby/server';
import { createPostgresHistoryStore, migrateHistory, PostgresHistoryStore, type SqlClient } from '@nearby/server/postgres';
import { createPgliteHistoryStore } from '@nearby/server/pglite';
import { PGlite } from '@electric-sql/pglite';
import { PostgresServerProcess, postgresAvailable } from './helpers/postgres-server.js';
import { freePort } from './helpers/free-port.js';
import { collect, describeHistoryStoreContract, historySample as sample } from '@nearby/server/testing';

describe('PostgresHistoryStore on a real PostgreSQL server', () => {
  const available = postgresAvailable();
  let server: PostgresServerProcess | undefined;
  const stores: PostgresHistoryStore[] = [];
  let tables = 0;

  /** A store on a table of its own, so tests never see each other's rows. */
  async function store(options: Partial<Parameters<typeof createPostgresHistoryStore>[0]> = {}): Promise<PostgresHistoryStore> {
    const created = createPostgresHistoryStore({ connectionString: server!.url, table: `history_${++tables}`, ...options });
    stores.push(created);
    await created.connect();
    return created;
  }

  beforeAll(async () => {
    if (available) server = await PostgresServerProcess.start();
  }, 60_000);

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await server?.stop();
  });

  describeHistoryStoreContract('PostgreSQL', async (ctx) => {
    if (!available) ctx.skip();
    return store();
  });

  it('writes each batch with one INSERT statement, split at maxBatchSamples', async (ctx) => {
    if (!available) return ctx.skip();
    const s = await store({ maxBatchSamples: 1000 });
    await s.append(Array.from({ length: 999 }, (_, i) => sample('b', i)));
    expect(s.statements).toBe(1);
    await s.append(Array.from({ length: 2500 }, (_, i) => sample('b', 10_000 + i)));
    expect(s.statements).toBe(4);
    expect(await collect(s.query({ userId: 'b' }))).toHaveLength(3499);
  });

  it('bounds the statements in flight', async (ctx) => {
    if (!available) return ctx.skip();
    const client = await server!.client();
    let running = 0;
    let most = 0;
    const counting: SqlClient = {
      async query(text, params) {
        running++;
        most = Math.max(most, running);
        try {
          return (await client.query(text, params)) as never;
        } finally {
          running--;
        }
      },
    };
    const s = new PostgresHistoryStore({ client: counting, table: `history_${++tables}`, maxBatchSamples: 10, maxInFlightBatches: 2 });
    await s.connect();
    await Promise.all(Array.from({ length: 8 }, (_, i) => s.append(Array.from({ length: 30 }, (_, j) => sample('f', i * 100 + j)))));
    expect(most).toBe(2);
    expect(await collect(s.query({ userId: 'f' }))).toHaveLength(240);
    await client.end();
  });

  it('migrates idempotently, also when processes race to do it', async (ctx) => {
    if (!available) return ctx.skip();
    // Separate connections, as separate processes would have, racing on several fresh tables.
    const racers = await Promise.all(Array.from({ length: 4 }, () => server!.client()));
    for (let round = 0; round < 5; round++) {
      await Promise.all(racers.map((racer) => migrateHistory(racer, { table: `raced_${round}` })));
    }
    await Promise.all(racers.map((racer) => racer.end()));
    const client = await server!.client();
    await migrateHistory(client, { table: 'raced' });
    const { rows } = await client.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'raced_4' ORDER BY ordinal_position`);
    expect(rows.map((r: { column_name: string }) => r.column_name)).toEqual(['user_id', 'recorded_at', 'lat', 'lon', 'accuracy', 'received_at']);
    await client.end();
  });

  it('refuses table names that are not plain identifiers', () => {
    expect(() => new PostgresHistoryStore({ client: { query: async () => ({ rows: [] }) }, table: 'x; DROP TABLE y' })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
  });

  it('an unreachable database fails connect() with adapter_unavailable, naming it without the password', async () => {
    const port = await freePort();
    const s = createPostgresHistoryStore({
      connectionString: `postgres://app:s3cret@127.0.0.1:${port}/db`,
      pool: { connectionTimeoutMillis: 500 },
    });
    const error = await s.connect().then(
      () => undefined,
      (e: unknown) => e as Error & { code: string },
    );
    expect(error).toMatchObject({ code: ErrorCode.ADAPTER_UNAVAILABLE });
    expect(error!.message).toContain(`127.0.0.1:${port}/db`);
    expect(error!.message).not.toContain('s3cret');
    await s.close();
  });
});

describe('PGlite history store (embedded, persisted in a directory)', () => {
  const dirs: string[] = [];
  const open: HistoryStore[] = [];
  afterAll(async () => {
    await Promise.all(open.map((s) => s.close?.()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  // One embedded database (it takes seconds to boot), a table per test.
  let db: PGlite | undefined;
  let table = 0;
  afterAll(async () => db?.close());
  describeHistoryStoreContract('PGlite', async () => {
    db ??= new PGlite();
    const s = new PostgresHistoryStore({ client: db as unknown as SqlClient, table: `contract_${++table}` });
    await s.connect();
    return s;
  });

  it('keeps samples across restarts of the process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nearby-pglite-'));
    dirs.push(dir);
    const first = createPgliteHistoryStore({ dataDir: join(dir, 'nested', 'history') }); // created if missing
    await first.connect();
    await first.append([sample('d', 1), sample('d', 2)]);
    await first.close();
    const second = createPgliteHistoryStore({ dataDir: join(dir, 'nested', 'history') });
    open.push(second);
    await second.connect();
    expect((await collect(second.query({ userId: 'd' }))).map((s) => s.recordedAt)).toEqual([1, 2]);
  }, 60_000);
});
