import type { LatencyResult } from './ack-latency.js';
import type { ThroughputResult } from './store-throughput.js';
import { fmt, ratio } from '../common/stats.js';

export interface Environment {
  date: string;
  command: string;
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  postgres: string;
  postgresSettings: Record<string, string>;
  gitCommit: string | undefined;
}

export interface BenchConfig {
  producers: number;
  batchedSamples: number;
  singleSamples: number;
  connections: number;
  /** Offered loads of the latency runs, samples per second. */
  rates: number[];
  samplesPerFrame: number;
  warmupSeconds: number;
  seconds: number;
  drainTimeoutSeconds: number;
}

export interface Report {
  benchmark: 'history';
  environment: Environment;
  config: BenchConfig;
  storeThroughput: { batched: ThroughputResult; single: ThroughputResult; ratio: number };
  ackLatency: { loadGenerator: 'child process'; runs: LatencyComparison[] };
}

/** Both stores at one offered load. */
export interface LatencyComparison {
  samplesPerSecond: number;
  batched: LatencyResult;
  single: LatencyResult;
  /** p99 with one INSERT per sample ÷ p99 as shipped. */
  p99Ratio: number;
  /** Acked samples/s as shipped ÷ one INSERT per sample. */
  ackedRateRatio: number;
}

function errorsOf(run: LatencyResult): string {
  const parts = Object.entries(run.load.errors).map(([code, n]) => `${n} ${code}`);
  if (run.load.otherErrors > 0) parts.push(`${run.load.otherErrors} without seq`);
  return parts.length === 0 ? '0' : parts.join(', ');
}

/** The results as Markdown: a summary of ratios, then one table per measurement. */
export function toMarkdown(report: Report): string {
  const { environment: env, config, storeThroughput: tp, ackLatency: lat } = report;
  const settings = Object.entries(env.postgresSettings)
    .map(([name, value]) => `${name}=${value}`)
    .join(', ');
  const lines = [
    `# History store benchmark`,
    '',
    `\`${env.command}\` — ${env.date}. Node ${env.node}, ${env.postgres} (${settings}), ${env.cpus} × ${env.cpuModel}, ${fmt(env.memoryGiB)} GiB, ${env.platform}${env.gitCommit === undefined ? '' : `, commit ${env.gitCommit}`}.`,
    '',
    'Absolute numbers depend on the machine and vary between runs; the ratios are the result.',
    '',
    '## Summary',
    '',
    '| Result | Ratio |',
    '| --- | ---: |',
    `| Store throughput: batches of 1000 vs one INSERT per sample | **${ratio(tp.ratio)}** |`,
    ...lat.runs.flatMap((run) => [
      `| Arrival-to-ack p99 at ${fmt(run.samplesPerSecond)} samples/s offered: one INSERT per sample vs as shipped | **${ratio(run.p99Ratio)}** |`,
      `| Acked samples/s at ${fmt(run.samplesPerSecond)} samples/s offered: as shipped vs one INSERT per sample | **${ratio(run.ackedRateRatio)}** |`,
    ]),
    '',
    `## 1. Store throughput — \`PostgresHistoryStore.append\`, ${config.producers} concurrent producers, fresh tables`,
    '',
    '| Variant | Samples | Samples per append | INSERT statements | Time (s) | Samples/s | Rows stored |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...[tp.batched, tp.single].map(
      (r) =>
        `| ${r.name === 'batched' ? 'Batched (one `unnest` INSERT per 1000)' : 'One INSERT per sample'} | ${fmt(r.samples)} | ${fmt(r.samplesPerAppend)} | ${fmt(r.insertStatements)} | ${fmt(r.seconds, 2)} | ${fmt(r.samplesPerSecond)} | ${fmt(r.rowsStored)} |`,
    ),
    '',
    `The one-INSERT-per-sample variant writes ${fmt(tp.single.samples)} samples instead of ${fmt(tp.batched.samples)} to keep the run short; rates compare per second. Both variants use the store's defaults otherwise (at most 2 INSERT statements in flight, a pool of 4 connections).`,
    '',
    `## 2. Arrival-to-ack latency through the server — ${fmt(config.connections)} connections, ${fmt(config.samplesPerFrame)} samples per frame, ${fmt(config.seconds)} s measured after ${fmt(config.warmupSeconds)} s warm-up; load generator in a child process`,
    '',
    '| Offered samples/s | Store | Frames | Acked samples/s | p50 ms | p95 ms | p99 ms | max ms | Last ack after window | Errors | Unanswered | Appends | Samples/append | INSERTs | Server CPU | Generator CPU |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...lat.runs.flatMap((run) =>
      [run.batched, run.single].map(
        (r) =>
          `| ${fmt(run.samplesPerSecond)} | ${r.label} | ${fmt(r.load.framesSent)} | ${fmt(r.load.ackedSamplesPerSecondInWindow)} | ${fmt(r.load.latency.p50, 1)} | ${fmt(r.load.latency.p95, 1)} | ${fmt(r.load.latency.p99, 1)} | ${fmt(r.load.latency.max, 1)} | ${fmt(r.load.drainMs / 1000, 1)} s | ${errorsOf(r)} | ${fmt(r.load.unanswered)} | ${fmt(r.server.appends)} | ${fmt(r.server.samplesIn / r.server.appends, 1)} | ${fmt(r.server.insertStatements)} | ${fmt(r.server.cpuShareOfOneCore * 100)} % | ${fmt(r.load.cpuShareOfOneCore * 100)} % |`,
      ),
    ),
    '',
    'Latency is measured per `location` frame, from the moment the generator sends it to the moment its `ack` arrives (the server acks only after the store accepted the samples). Acked samples/s counts acks that arrived inside the measured window; "last ack after window" is how long after the window the last answer arrived (the backlog draining). Appends (the server\'s group-commit batches), samples per append and INSERTs include the warm-up. CPU is a share of one core during the measured window (PostgreSQL\'s own processes not included).',
    '',
    `Generator send lag behind its schedule (p99 / max): ${lat.runs
      .flatMap((run) => [run.batched, run.single].map((r) => `${fmt(run.samplesPerSecond)} ${r.name} ${fmt(r.load.sendLagMs.p99, 1)} / ${fmt(r.load.sendLagMs.max, 1)} ms`))
      .join('; ')}.`,
    '',
  ];
  return lines.join('\n');
}
