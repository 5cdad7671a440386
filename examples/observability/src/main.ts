/**
 * Observability example: the multi-server example (redis-server, three Nearby processes behind a
 * balancer, a crowd of walking users) with /metrics, /healthz and /readyz on every process, and
 * a Prometheus scraping them with the alerting rules of alerts.yml.
 *
 * `start` runs until Ctrl+C on the ports of prometheus.yml (metrics 9464–9466, Prometheus 9090).
 * `check` runs on free ports for a few seconds and verifies, through Prometheus's HTTP API, that
 * every target is up, that every query of the Grafana dashboard is valid and names only metrics
 * the servers export, and that every alerting rule loaded; it exits with 1 otherwise.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = fileURLToPath(new URL('..', import.meta.url));
const MULTI_SERVER_MAIN = fileURLToPath(new URL('../../multi-server/src/main.ts', import.meta.url));
const PROMETHEUS = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
const SERVER_COUNT = 3;

const { values } = parseArgs({ options: { check: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
if (values.help === true) {
  console.log(`Usage: pnpm --filter @nearby/example-observability start | check

start   three Nearby processes with /metrics on 127.0.0.1:9464-9466 and Prometheus on
        http://127.0.0.1:9090 with the rules of alerts.yml; until Ctrl+C
check   the same on free ports for a few seconds; verifies targets, dashboard queries and rules`);
  process.exit(0);
}
const checking = values.check === true;

if (!existsSync(PROMETHEUS)) {
  console.error(`${PROMETHEUS} not found: install Prometheus (Debian/Ubuntu: apt-get install prometheus) or set PROMETHEUS_BIN`);
  process.exit(1);
}

const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Consecutive free ports, so the servers' metrics ports are base, base + 1, base + 2. */
async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = await freePort();
    if (base + count > 65_535) continue;
    const probes = await Promise.allSettled(
      Array.from({ length: count - 1 }, (_, i) => new Promise<void>((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(base + i + 1, '127.0.0.1', () => server.close(() => resolve()));
      })),
    );
    if (probes.every((probe) => probe.status === 'fulfilled')) return base;
  }
  throw new Error('no run of free ports found');
}

const metricsBase = checking ? await freePortRun(SERVER_COUNT) : 9464;
const prometheusPort = checking ? await freePort() : 9090;
const prometheusUrl = `http://127.0.0.1:${prometheusPort}`;

// The multi-server example, with its operations ports.
const crowd = spawn(
  process.execPath,
  [
    '--import',
    import.meta.resolve('tsx'),
    '--conditions=@nearby/source',
    MULTI_SERVER_MAIN,
    '--metrics-port-base',
    String(metricsBase),
    ...(checking ? ['--users', '30', '--duration', '40'] : []),
  ],
  { stdio: checking ? ['ignore', 'pipe', 'inherit'] : 'inherit' },
);
children.push(crowd);
let crowdLog = '';
crowd.stdout?.on('data', (chunk: Buffer) => {
  crowdLog += chunk.toString();
});

// Prometheus on the committed config and rules, with the targets of this run.
const workDir = await mkdtemp(join(tmpdir(), 'nearby-observability-'));
const config = (await readFile(join(HERE, 'prometheus.yml'), 'utf8'))
  .replace(/scrape_interval: 5s/, `scrape_interval: ${checking ? '1s' : '5s'}`)
  .replace(/evaluation_interval: 5s/, `evaluation_interval: ${checking ? '1s' : '5s'}`)
  .replace(
    /targets: \[.*\]/,
    `targets: [${Array.from({ length: SERVER_COUNT }, (_, i) => `'127.0.0.1:${metricsBase + i}'`).join(', ')}]`,
  );
await writeFile(join(workDir, 'prometheus.yml'), config);
await copyFile(join(HERE, 'alerts.yml'), join(workDir, 'alerts.yml'));
const prometheus = spawn(
  PROMETHEUS,
  [
    `--config.file=${join(workDir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(workDir, 'data')}`,
    `--web.listen-address=127.0.0.1:${prometheusPort}`,
  ],
  { stdio: ['ignore', 'ignore', 'pipe'] },
);
children.push(prometheus);
let prometheusLog = '';
prometheus.stderr?.on('data', (chunk: Buffer) => {
  prometheusLog = (prometheusLog + chunk.toString()).slice(-4000);
});

async function stopAll(): Promise<void> {
  for (const child of [crowd, prometheus]) {
    if (child.exitCode !== null) continue;
    child.kill('SIGTERM');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await Promise.race([exited, sleep(10_000)]);
  }
  await rm(workDir, { recursive: true, force: true });
}

if (!checking) {
  console.log(`Prometheus on ${prometheusUrl} (alerts: ${prometheusUrl}/alerts); import grafana/nearby-dashboard.json into Grafana`);
  process.on('SIGINT', () => void stopAll().then(() => process.exit(0)));
  await new Promise((resolve) => crowd.once('exit', resolve));
  await stopAll();
  process.exit(crowd.exitCode ?? 1);
}

// ---------------------------------------------------------------- check

interface PromResponse<T> {
  status: 'success' | 'error';
  error?: string;
  data: T;
}

async function api<T>(path: string): Promise<PromResponse<T>> {
  const response = await fetch(`${prometheusUrl}${path}`);
  return (await response.json()) as PromResponse<T>;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

type Vector = { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
const failures: string[] = [];

try {
  await until('every target up', async () => {
    const targets = await api<{ activeTargets: Array<{ health: string }> }>('/api/v1/targets');
    const up = targets.data.activeTargets.filter((target) => target.health === 'up').length;
    return up === SERVER_COUNT ? true : undefined;
  });
  console.log(`check: ${SERVER_COUNT} targets up`);
  await until('location updates and fan-out in Prometheus', async () => {
    const result = await api<Vector>(`/api/v1/query?query=${encodeURIComponent('sum(nearby_fanout_latency_seconds_count)')}`);
    const value = Number(result.data.result[0]?.value[1] ?? 0);
    return value > 0 ? true : undefined;
  });
  // Two rate windows' worth of samples before the rate queries are asked.
  await sleep(4_000);

  const exported = new Set((await api<string[]>('/api/v1/label/__name__/values')).data);
  const dashboard = JSON.parse(await readFile(join(HERE, 'grafana', 'nearby-dashboard.json'), 'utf8')) as {
    panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
  };
  let queries = 0;
  let withData = 0;
  for (const panel of dashboard.panels) {
    for (const { expr } of panel.targets) {
      queries++;
      // Metric names in the expression: identifiers followed by `{`, `[` or `)`, or standing alone.
      for (const name of expr.match(/\bnearby_[a-z_]+\b/g) ?? []) {
        const base = name.replace(/_(bucket|count|sum)$/, '');
        if (!exported.has(name) && !exported.has(base)) failures.push(`panel "${panel.title}": ${name} is not exported`);
      }
      const result = await api<Vector>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      if (result.status !== 'success') failures.push(`panel "${panel.title}": ${expr}: ${result.error}`);
      else if (result.data.result.length > 0) withData++;
    }
  }
  console.log(`check: ${queries} dashboard queries valid, ${withData} with data, metric names all exported: ${failures.length === 0}`);

  const rules = await api<{ groups: Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string }> }> }>('/api/v1/rules');
  const loaded = rules.data.groups.flatMap((group) => group.rules);
  for (const rule of loaded) if (rule.health !== 'ok' && rule.health !== 'unknown') failures.push(`rule ${rule.name}: ${rule.health} ${rule.lastError ?? ''}`);
  if (loaded.length === 0) failures.push('no alerting rule loaded');
  console.log(`check: ${loaded.length} alerting rules loaded`);

  for (let i = 0; i < SERVER_COUNT; i++) {
    const response = await fetch(`http://127.0.0.1:${metricsBase + i}/readyz`);
    if (response.status !== 200) failures.push(`server #${i + 1} /readyz answered ${response.status}: ${await response.text()}`);
  }
  console.log(`check: /readyz of ${SERVER_COUNT} servers answered`);
} catch (error) {
  failures.push(error instanceof Error ? error.message : String(error));
}

await stopAll();
if (failures.length > 0) {
  console.error(`observability check failed:\n- ${failures.join('\n- ')}`);
  if (prometheusLog !== '') console.error(`prometheus log (tail):\n${prometheusLog}`);
  if (crowdLog !== '') console.error(`example log (tail):\n${crowdLog.slice(-2000)}`);
  process.exit(1);
}
console.log('observability check passed');
process.exit(0);
