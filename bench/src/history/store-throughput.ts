import type { HistorySample } from '@nearby/server';
import { createPostgresHistoryStore, type PostgresHistoryStore } from '@nearby/server/postgres';
import pg from 'pg';

export interface ThroughputVariant {
  /** Short label for tables and JSON. */
  name: 'batched' | 'single';
  /** Samples per `append` call (1000 = what the server's group commit hands the store). */
  samplesPerAppend: number;
  /** Samples written in total. */
  samples: number;
}

export interface ThroughputResult extends ThroughputVariant {
  table: string;
  producers: number;
  appends: number;
  insertStatements: number;
  seconds: number;
  samplesPerSecond: number;
  /** Rows in the table afterwards; must equal `samples`. */
  rowsStored: number;
}

const BASE_TIME = Date.UTC(2026, 0, 1);
const USERS = 1000;

/** Sample `i` of a run: 1000 users in turn, one millisecond apart, so every (user, time) is distinct. */
function sampleAt(i: number, receivedAt: number): HistorySample {
  return {
    userId: `user-${i % USERS}`,
    lat: 37.5 + ((i * 7919) % 10_000) / 100_000,
    lon: 127 + ((i * 104_729) % 10_000) / 100_000,
    accuracy: 5 + (i % 20),
    recordedAt: BASE_TIME + i,
    receivedAt,
  };
}

/**
 * `producers` concurrent loops call `store.append` until `variant.samples` samples are written,
 * each call carrying `variant.samplesPerAppend` samples. The samples are built before the clock
 * starts, so only the store and the database are timed.
 */
export async function measureStoreThroughput(options: {
  connectionString: string;
  table: string;
  variant: ThroughputVariant;
  producers: number;
}): Promise<ThroughputResult> {
  const { connectionString, table, variant, producers } = options;
  const store = createPostgresHistoryStore({ connectionString, table });
  try {
    await store.connect();
    const receivedAt = Date.now();
    const chunks: HistorySample[][] = [];
    for (let start = 0; start < variant.samples; start += variant.samplesPerAppend) {
      const end = Math.min(variant.samples, start + variant.samplesPerAppend);
      chunks.push(Array.from({ length: end - start }, (_, k) => sampleAt(start + k, receivedAt)));
    }
    const seconds = await runProducers(store, chunks, producers);
    return {
      ...variant,
      table,
      producers,
      appends: chunks.length,
      insertStatements: store.statements,
      seconds,
      samplesPerSecond: variant.samples / seconds,
      rowsStored: await countRows(connectionString, table),
    };
  } finally {
    await store.close();
  }
}

/** Writes throw-away rows through a store of each shape, so neither measured run pays for JIT warm-up. */
export async function warmUp(connectionString: string, producers: number): Promise<void> {
  for (const [table, samplesPerAppend, samples] of [
    ['bench_warmup_batched', 1000, 5000],
    ['bench_warmup_single', 1, 500],
  ] as const) {
    const store = createPostgresHistoryStore({ connectionString, table });
    try {
      await store.connect();
      const chunks: HistorySample[][] = [];
      for (let start = 0; start < samples; start += samplesPerAppend) {
        chunks.push(Array.from({ length: samplesPerAppend }, (_, k) => sampleAt(start + k, Date.now())));
      }
      await runProducers(store, chunks, producers);
    } finally {
      await store.close();
    }
  }
}

async function runProducers(store: PostgresHistoryStore, chunks: HistorySample[][], producers: number): Promise<number> {
  let next = 0;
  const producer = async (): Promise<void> => {
    while (next < chunks.length) {
      const chunk = chunks[next++]!;
      await store.append(chunk);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: producers }, producer));
  return (performance.now() - started) / 1000;
}

export async function countRows(connectionString: string, table: string): Promise<number> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM "${table}"`);
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}
