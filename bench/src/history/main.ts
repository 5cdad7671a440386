/**
 * `pnpm bench:history` — the PostgreSQL history store, measured against a real PostgreSQL
 * started for the run on a free loopback port:
 *
 * 1. Store throughput: `PostgresHistoryStore.append` with batches of 1000 samples (what the
 *    server's group commit hands the store) versus one INSERT per sample.
 * 2. Arrival-to-ack latency through the real server: `location` frames from a load generator in
 *    a child process, timed from send to `ack`, with the store as shipped and with a store that
 *    writes one INSERT per sample, at the same offered load.
 *
 * Prints the results as Markdown and writes them to bench/results/history-<timestamp>.{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { PostgresServerProcess } from '@nearby/tests/helpers/postgres-server';
import { measureAckLatency } from './ack-latency.js';
import { gitCommit } from '../common/environment.js';
import { findPostgresBinaries, MISSING_POSTGRES_MESSAGE } from './postgres.js';
import { toMarkdown, type BenchConfig, type Environment, type LatencyComparison, type Report } from './report.js';
import { measureStoreThroughput, warmUp } from './store-throughput.js';

const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const repoRoot = join(benchDir, '..');

/** Options, each with its default and the range it is held to (the benchmark must stay bounded). */
const OPTIONS = {
  producers: { default: 8, min: 1, max: 64, help: 'concurrent producers calling append (store throughput)' },
  'batched-samples': { default: 50_000, min: 1000, max: 1_000_000, help: 'samples written in batches of 1000' },
  'single-samples': { default: 5_000, min: 100, max: 100_000, help: 'samples written one INSERT each' },
  connections: { default: 200, min: 1, max: 2000, help: 'WebSocket connections of the load generator' },
  'samples-per-frame': { default: 5, min: 1, max: 100, help: 'samples per location frame' },
  'warmup-seconds': { default: 2, min: 0, max: 30, help: 'load before the measured window' },
  seconds: { default: 10, min: 1, max: 60, help: 'measured window per latency run' },
  'drain-seconds': { default: 20, min: 1, max: 60, help: 'longest wait for outstanding acks after the window' },
} as const;
type OptionName = keyof typeof OPTIONS;

/** Offered loads of the latency runs, in samples per second over all connections. */
const RATES = { default: [2_000, 6_000], min: 10, max: 50_000, most: 4 };

function usage(): string {
  const lines = Object.entries(OPTIONS).map(([name, o]) => `  --${name.padEnd(18)} ${o.help} (default ${o.default}, ${o.min}…${o.max})`);
  lines.push(
    `  --${'rates'.padEnd(18)} offered samples per second of the latency runs, comma-separated (default ${RATES.default.join(',')}, each ${RATES.min}…${RATES.max}, at most ${RATES.most})`,
  );
  return `Usage: pnpm bench:history [-- options]\n${lines.join('\n')}`;
}

function readConfig(): BenchConfig {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    options: {
      ...Object.fromEntries(Object.keys(OPTIONS).map((name) => [name, { type: 'string' as const }])),
      rates: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help === true) {
    console.log(usage());
    process.exit(0);
  }
  const read = (name: OptionName): number => {
    const spec = OPTIONS[name];
    const raw = (values as Record<string, string | undefined>)[name];
    const value = raw === undefined ? spec.default : Number(raw);
    if (!Number.isInteger(value) || value < spec.min || value > spec.max) {
      throw new Error(`--${name} must be an integer in ${spec.min}…${spec.max}, got ${raw}\n${usage()}`);
    }
    return value;
  };
  const rates = values.rates === undefined ? RATES.default : values.rates.split(',').map((rate) => Number(rate.trim()));
  if (rates.length < 1 || rates.length > RATES.most || rates.some((rate) => !Number.isInteger(rate) || rate < RATES.min || rate > RATES.max)) {
    throw new Error(`--rates must be 1 to ${RATES.most} integers in ${RATES.min}…${RATES.max}, got ${values.rates}\n${usage()}`);
  }
  return {
    producers: read('producers'),
    batchedSamples: read('batched-samples'),
    singleSamples: read('single-samples'),
    connections: read('connections'),
    rates,
    samplesPerFrame: read('samples-per-frame'),
    warmupSeconds: read('warmup-seconds'),
    seconds: read('seconds'),
    drainTimeoutSeconds: read('drain-seconds'),
  };
}

async function describePostgres(connectionString: string): Promise<{ version: string; settings: Record<string, string> }> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    const version = (await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
    const settings: Record<string, string> = {};
    for (const name of ['fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers']) {
      settings[name] = (await client.query<{ v: string }>('SELECT current_setting($1) AS v', [name])).rows[0]!.v;
    }
    return { version: `PostgreSQL ${version.split(' ')[0]}`, settings };
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  if (findPostgresBinaries() === undefined) {
    console.error(MISSING_POSTGRES_MESSAGE);
    process.exitCode = 1;
    return;
  }

  // Hard stop: whatever happens, the run ends. Generous against the expected ~1–1.5 minutes.
  const perLatencyRun = config.warmupSeconds + config.seconds + config.drainTimeoutSeconds + 60;
  const limitSeconds = 120 + 2 * config.rates.length * perLatencyRun;
  let postgres: PostgresServerProcess | undefined;
  const watchdog = setTimeout(() => {
    console.error(`\nbench:history: still running after ${limitSeconds} s; stopping.`);
    void (postgres?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
  }, limitSeconds * 1000);
  watchdog.unref();
  const onSignal = (signal: NodeJS.Signals): void => {
    console.error(`\nbench:history: ${signal}; stopping PostgreSQL.`);
    void (postgres?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const started = new Date();
  try {
    console.log('Starting PostgreSQL (initdb + postgres in a temp directory, loopback only)…');
    postgres = await PostgresServerProcess.start();
    const url = postgres.url;
    const pgInfo = await describePostgres(url);
    console.log(`${pgInfo.version} on 127.0.0.1:${postgres.port}`);

    console.log(`\n1. Store throughput (${config.producers} concurrent producers)`);
    await warmUp(url, config.producers);
    const batched = await measureStoreThroughput({
      connectionString: url,
      table: 'bench_store_batched',
      variant: { name: 'batched', samplesPerAppend: 1000, samples: config.batchedSamples },
      producers: config.producers,
    });
    console.log(`   batches of 1000:      ${Math.round(batched.samplesPerSecond)} samples/s (${batched.samples} samples, ${batched.seconds.toFixed(2)} s)`);
    const single = await measureStoreThroughput({
      connectionString: url,
      table: 'bench_store_single',
      variant: { name: 'single', samplesPerAppend: 1, samples: config.singleSamples },
      producers: config.producers,
    });
    console.log(`   one INSERT per sample: ${Math.round(single.samplesPerSecond)} samples/s (${single.samples} samples, ${single.seconds.toFixed(2)} s)`);

    console.log(
      `\n2. Arrival-to-ack latency: ${config.connections} connections, ${config.seconds} s measured per run (load generator in a child process)`,
    );
    const latencyRuns: LatencyComparison[] = [];
    for (const samplesPerSecond of config.rates) {
      const load = {
        connections: config.connections,
        samplesPerSecond,
        samplesPerFrame: config.samplesPerFrame,
        warmupMs: config.warmupSeconds * 1000,
        durationMs: config.seconds * 1000,
        drainTimeoutMs: config.drainTimeoutSeconds * 1000,
      };
      const batchedRun = await measureAckLatency({
        connectionString: url,
        variant: { name: 'batched', label: 'As shipped (batched INSERT)', table: `bench_ack_batched_${samplesPerSecond}`, maxBatchSamples: 1000 },
        load,
      });
      console.log(`   ${samplesPerSecond} samples/s, as shipped:            p99 ${batchedRun.load.latency.p99.toFixed(1)} ms`);
      const singleRun = await measureAckLatency({
        connectionString: url,
        variant: { name: 'single', label: 'One INSERT per sample (`maxBatchSamples: 1`)', table: `bench_ack_single_${samplesPerSecond}`, maxBatchSamples: 1 },
        load,
      });
      console.log(`   ${samplesPerSecond} samples/s, one INSERT per sample: p99 ${singleRun.load.latency.p99.toFixed(1)} ms`);
      latencyRuns.push({
        samplesPerSecond,
        batched: batchedRun,
        single: singleRun,
        p99Ratio: singleRun.load.latency.p99 / batchedRun.load.latency.p99,
        ackedRateRatio: batchedRun.load.ackedSamplesPerSecondInWindow / singleRun.load.ackedSamplesPerSecondInWindow,
      });
    }

    const environment: Environment = {
      date: started.toISOString(),
      command: 'pnpm bench:history',
      node: process.version,
      platform: `${platform()} ${release()}`,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown CPU',
      memoryGiB: totalmem() / 2 ** 30,
      postgres: pgInfo.version,
      postgresSettings: pgInfo.settings,
      gitCommit: gitCommit(repoRoot),
    };
    const report: Report = {
      benchmark: 'history',
      environment,
      config,
      storeThroughput: { batched, single, ratio: batched.samplesPerSecond / single.samplesPerSecond },
      ackLatency: { loadGenerator: 'child process', runs: latencyRuns },
    };
    const markdown = toMarkdown(report);
    console.log(`\n${markdown}`);
    const resultsDir = join(benchDir, 'results');
    mkdirSync(resultsDir, { recursive: true });
    const stamp = started.toISOString().replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
    const base = join(resultsDir, `history-${stamp}`);
    writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(`${base}.md`, markdown);
    console.log(`Results written to ${relative(process.cwd(), base)}.{json,md}`);
  } finally {
    await postgres?.stop();
    clearTimeout(watchdog);
  }
}

main().catch((error: unknown) => {
  console.error('bench:history failed:', error);
  process.exitCode = 1;
});
