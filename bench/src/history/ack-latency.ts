import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createNearbyServer, tokenFromRequest } from '@nearby/server';
import { createPostgresHistoryStore } from '@nearby/server/postgres';
import type { ChildMessage, LoadConfig, LoadResult, ParentMessage } from './load-protocol.js';
import { countRows } from './store-throughput.js';

export interface LatencyVariant {
  name: 'batched' | 'single';
  /** What the run shows, for the report. */
  label: string;
  table: string;
  /** `maxBatchSamples` of the store: 1000 (its default) or 1 (one INSERT per sample). */
  maxBatchSamples: number;
}

export interface LatencyResult {
  name: LatencyVariant['name'];
  label: string;
  table: string;
  store: { maxBatchSamples: number; maxInFlightBatches: number };
  offeredSamplesPerSecond: number;
  load: LoadResult;
  server: {
    /** `append` calls the server's group commit made (warm-up included). */
    appends: number;
    /** INSERT statements the store ran (warm-up included). */
    insertStatements: number;
    /** Samples the server received and acknowledged (warm-up included). */
    samplesIn: number;
    samplesAcked: number;
    /** `location` frames answered with `history_unavailable`. */
    historyFailures: number;
    /** Samples still queued or in flight when the load generator finished. */
    pendingAtEnd: number;
    /** CPU time of the server process during the measured window, as a share of one core. */
    cpuShareOfOneCore: number;
    /** Errors passed to the server's `onError`. */
    onErrorCalls: number;
  };
  rowsStored: number;
}

/** Server-side time allowed for `server.close()` (which waits for queued history) before moving on. */
const CLOSE_TIMEOUT_MS = 20_000;

/**
 * One run: a Nearby server on a loopback port with a PostgreSQL history store, and the load
 * generator in a child process sending `location` frames at the offered rate.
 */
export async function measureAckLatency(options: {
  connectionString: string;
  variant: LatencyVariant;
  load: Omit<LoadConfig, 'url' | 'userPrefix'>;
}): Promise<LatencyResult> {
  const { connectionString, variant } = options;
  const store = createPostgresHistoryStore({ connectionString, table: variant.table, maxBatchSamples: variant.maxBatchSamples });
  let onErrorCalls = 0;
  const server = createNearbyServer({
    authenticate: (request) => tokenFromRequest(request),
    friends: { getFriends: async () => [] },
    history: store,
    port: 0,
    host: '127.0.0.1',
    rateLimit: {
      locations: { capacity: 1e6, refillPerSecond: 1e6 },
      frames: { capacity: 1e6, refillPerSecond: 1e6 },
    },
    onError: (error) => {
      if (onErrorCalls++ === 0) console.error('  server onError:', error);
    },
  });
  try {
    const { port } = await server.listen();
    const config: LoadConfig = { ...options.load, url: `ws://127.0.0.1:${port}/nearby`, userPrefix: `${variant.name}-user-` };
    let cpuStart: NodeJS.CpuUsage | undefined;
    let cpuShare = Number.NaN;
    const load = await runLoadGenerator(config, (message) => {
      if (message.type === 'measure-start') cpuStart = process.cpuUsage();
      if (message.type === 'measure-end' && cpuStart !== undefined) {
        const used = process.cpuUsage(cpuStart);
        cpuShare = (used.user + used.system) / 1000 / config.durationMs;
      }
    });
    const stats = server.stats();
    const serverStats: LatencyResult['server'] = {
      appends: stats.historyBatches,
      insertStatements: store.statements,
      samplesIn: stats.samplesIn,
      samplesAcked: stats.samplesAcked,
      historyFailures: stats.historyFailures,
      pendingAtEnd: stats.historyPending,
      cpuShareOfOneCore: cpuShare,
      onErrorCalls,
    };
    await closeWithin(server.close(), CLOSE_TIMEOUT_MS, 'server.close()');
    return {
      name: variant.name,
      label: variant.label,
      table: variant.table,
      store: { maxBatchSamples: variant.maxBatchSamples, maxInFlightBatches: 2 },
      offeredSamplesPerSecond: config.samplesPerSecond,
      load,
      server: serverStats,
      rowsStored: await countRows(connectionString, variant.table),
    };
  } finally {
    if (server.state !== 'closed') await closeWithin(server.close(), CLOSE_TIMEOUT_MS, 'server.close()');
    await closeWithin(store.close(), 5_000, 'store.close()');
  }
}

async function closeWithin(closing: Promise<void>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      console.error(`  ${what} did not finish within ${ms} ms; going on`);
      resolve();
    }, ms);
  });
  await Promise.race([closing.catch((error: unknown) => console.error(`  ${what} failed:`, error)), timedOut]);
  clearTimeout(timer);
}

/** Forks load-generator.ts (same tsx loader and conditions as this process) and waits for its result. */
function runLoadGenerator(config: LoadConfig, onPhase: (message: ChildMessage) => void): Promise<LoadResult> {
  const child = fork(fileURLToPath(new URL('./load-generator.ts', import.meta.url)), [], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const limitMs = config.warmupMs + config.durationMs + config.drainTimeoutMs + 30_000;
  return new Promise<LoadResult>((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, result?: LoadResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error !== undefined) {
        child.kill();
        reject(error);
      } else {
        resolve(result!);
      }
    };
    const timer = setTimeout(() => finish(new Error(`load generator did not finish within ${limitMs} ms`)), limitMs);
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'result') finish(undefined, message.result);
      else if (message.type === 'failed') finish(new Error(`load generator failed: ${message.message}`));
      else onPhase(message);
    });
    child.once('error', (error) => finish(error));
    child.once('exit', (code, signal) => finish(new Error(`load generator exited (${signal ?? code}) without a result`)));
    child.send({ type: 'run', config } satisfies ParentMessage);
  });
}
