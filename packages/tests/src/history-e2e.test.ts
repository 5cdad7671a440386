import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NearbyClient } from '@nearby/client';
import { ErrorCode } from '@nearby/protocol';
import { createPostgresHistoryStore, type PostgresHistoryStore } from '@nearby/server/postgres';
import { PostgresServerProcess, postgresAvailable } from './helpers/postgres-server.js';
import { startServer, tokenFor, type ServerResource } from './helpers/server-resource.js';
import { ORIGIN, offsetKm } from './helpers/geo.js';

/**
 * At-least-once from device to database: PostgreSQL crashes mid-run; live updates go on; when it
 * is back, every sample the devices handed over is in the table exactly once.
 */
const available = postgresAvailable();
let db: PostgresServerProcess | undefined;
let store: PostgresHistoryStore | undefined;
let env: ServerResource | undefined;

beforeAll(async () => {
  if (!available) return;
  db = await PostgresServerProcess.start();
  store = createPostgresHistoryStore({ connectionString: db.url, pool: { connectionTimeoutMillis: 1_000 } });
  env = await startServer({
    history: store,
    rateLimit: { locations: { capacity: 10_000, refillPerSecond: 10_000 } },
    historyWriter: { timeoutMs: 2_000 },
  });
}, 60_000);

afterAll(async () => {
  await env?.close();
  await store?.close();
  await db?.stop();
});

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(25);
  }
}

describe('history on PostgreSQL through a database crash', () => {
  it('keeps live updates flowing, then stores every handed-over sample exactly once', async (ctx) => {
    if (!available) return ctx.skip();
    env!.graph.link('walker', 'watcher');
    const options = { url: env!.url, flushIntervalMs: 100, ackTimeoutMs: 3_000, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } };
    const walker = new NearbyClient({ ...options, token: tokenFor('walker') });
    const watcher = new NearbyClient({ ...options, token: tokenFor('watcher') });
    const walkerErrors: string[] = [];
    walker.on('error', (error) => walkerErrors.push(error.code));
    watcher.on('error', () => {});
    const seenByWatcher: number[] = [];
    watcher.on('friendUpdate', (friend) => seenByWatcher.push(friend.lat));
    watcher.updateLocation(ORIGIN);
    walker.updateLocation(ORIGIN);
    walker.connect();
    watcher.connect();
    await Promise.all([walker.whenConnected(), watcher.whenConnected()]);

    // The walker paces up and down a street, one fix every 20 ms, each 600 m from the last
    // (a significant move: sent at once). Every fix has its own timestamp, so each is one row.
    let fixes = 1; // the first fix above
    let lastTimestamp = Date.now();
    let stop = false;
    const walking = (async () => {
      while (!stop) {
        const point = offsetKm(ORIGIN, fixes % 2 === 0 ? 0 : 0.6);
        lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
        walker.updateLocation({ lat: point.lat, lon: point.lon, timestamp: lastTimestamp });
        fixes++;
        await sleep(20);
      }
    })();

    await until(() => seenByWatcher.length >= 5, 'live updates before the crash');
    await db!.kill();
    const seenAtCrash = seenByWatcher.length;
    await until(() => walkerErrors.includes(ErrorCode.HISTORY_UNAVAILABLE), 'the outage to be reported');
    // Live updates keep flowing while nothing can be stored.
    await until(() => seenByWatcher.length >= seenAtCrash + 20, 'live updates during the outage');
    expect(walker.getSnapshot().pendingSamples).toBeGreaterThan(0);
    expect(walker.getSnapshot().state).toBe('connected');

    await db!.restart();
    await sleep(300);
    stop = true;
    await walking;
    const handedOver = fixes;
    await until(() => walker.getSnapshot().pendingSamples === 0 && watcher.getSnapshot().pendingSamples === 0, 'every sample acknowledged', 30_000);

    const client = await db!.client();
    try {
      const { rows } = await client.query(
        `SELECT user_id, count(*)::int AS n, count(DISTINCT recorded_at)::int AS distinct_n
           FROM nearby_location_history GROUP BY user_id ORDER BY user_id`,
      );
      // Every fix the walker handed over, exactly once: none lost in the crash, none duplicated by resends.
      expect(rows.find((r: { user_id: string }) => r.user_id === 'walker')).toEqual({ user_id: 'walker', n: handedOver, distinct_n: handedOver });
      expect(rows.find((r: { user_id: string }) => r.user_id === 'watcher')).toEqual({ user_id: 'watcher', n: 1, distinct_n: 1 });
    } finally {
      await client.end();
    }
    expect(walkerErrors.filter((code) => code === ErrorCode.BUFFER_OVERFLOW)).toEqual([]);
    console.log(`HISTORY_CRASH samples=${handedOver} history_unavailable_errors=${walkerErrors.filter((c) => c === ErrorCode.HISTORY_UNAVAILABLE).length}`);
    walker.close();
    watcher.close();
  }, 90_000);
});
