/** The realtime benchmark's report: Markdown for people, and the same figures as JSON. */
import type { Machine } from '../common/environment.js';
import { fmt } from '../common/stats.js';
import type { StampCheck } from './stamp.js';
import { filtersOnServer, isNearby, type Contender } from './ipc.js';
import type { BenchOptions } from './options.js';
import type { LevelResult, StepResult } from './run.js';

export interface Report {
  benchmark: 'realtime';
  date: string;
  command: string;
  machine: Machine;
  redis: string;
  gitCommit: string | undefined;
  durationSeconds: number;
  options: BenchOptions;
  stampCheck: StampCheck;
  levels: LevelResult[];
  /** Ramp: per contender, the largest equivalent-user count held with p99 under the limit. */
  ramp?: Array<{ contender: Contender; heldEquivalentUsers: number; heldUpdatesPerSecond: number; firstFailure: string | undefined; reachedTop: boolean }>;
  checks: Check[];
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export const LABEL: Record<Contender, string> = {
  nearby: 'Nearby',
  'nearby-memory': 'Nearby in memory',
  'nearby-metrics': 'Nearby (Redis) with metrics',
  'nearby-strangers': 'Nearby (Redis) with strangers',
  socketio: 'Socket.IO + Redis adapter',
  'ws-ceiling': 'bare ws relay (ceiling)',
  ideal: 'ideal server',
};

const ms = (value: number) => (value === Number.POSITIVE_INFINITY ? '∞' : fmt(value, value < 10 ? 2 : 1));
const pct = (value: number, digits = 1) => (Number.isFinite(value) ? `${fmt(value * 100, digits)} %` : '—');
const kib = (bytes: number) => fmt(bytes / 1024, 1);
const x = (value: number) => (Number.isFinite(value) ? `${fmt(value, value >= 10 ? 1 : 2)}×` : '—');

function errorsOf(step: StepResult): string {
  const parts = Object.entries(step.errors).map(([code, n]) => `${n} ${code}`);
  return parts.length === 0 ? '0' : parts.join(', ');
}

/** The one measured step of each contender (quick and smoke modes). */
function mainSteps(report: Report): Array<{ level: LevelResult; step: StepResult }> {
  const rows: Array<{ level: LevelResult; step: StepResult }> = [];
  for (const level of report.levels) {
    const step = level.steps[0];
    if (step !== undefined) rows.push({ level, step });
  }
  return rows;
}

function resultsTable(rows: Array<{ level: LevelResult; step: StepResult }>): string[] {
  return [
    '| Contender | Sent upd/s | Delivered/s | Delivery ratio | Frames recv/s | p50 ms | p95 ms | p99 ms | max ms | Server CPU | CPU s / 1000 deliveries | RSS / conn KiB | Redis cmds / update | Errors | Disconnects | Unanswered |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |',
    ...rows.map(
      ({ level, step }) =>
        `| ${LABEL[level.contender]} | ${fmt(step.sentPerSecond)} | ${fmt(step.deliveredPerSecond)} | ${pct(step.deliveryRatio)} | ${fmt(step.framesPerSecond)} | ${ms(step.latency.p50)} | ${ms(step.latency.p95)} | ${ms(step.latency.p99)} | ${ms(step.latency.max)} | ${pct(step.serverCpuShare, 0)} | ${fmt(step.serverCpuSecondsPer1000Deliveries, 3)} | ${kib(level.rssPerConnectionBytes)} | ${fmt(step.redisCommandsPerUpdate, 2)} | ${errorsOf(step)} | ${fmt(step.disconnects)} | ${isNearby(step.contender) ? fmt(step.unanswered) : 'n/a'} |`,
    ),
  ];
}

function ratioRows(rows: Array<{ level: LevelResult; step: StepResult }>): string[] {
  const lines: string[] = [];
  for (const nearby of rows.filter((row) => isNearby(row.level.contender))) {
    // The ideal server first: it is the target, the others are points of reference.
    const others = rows
      .filter((row) => !isNearby(row.level.contender))
      .sort((a, b) => Number(b.level.contender === 'ideal') - Number(a.level.contender === 'ideal'));
    if (others.length === 0) continue;
    if (lines.length > 0) lines.push('');
    lines.push(
      `| ${LABEL[nearby.level.contender]} ÷ … | p50 | p99 | Delivered/s | Frames recv/s | Server CPU s / 1000 deliveries | Server CPU | RSS / conn | Redis cmds / update |`,
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const other of others) {
      const a = nearby.step;
      const b = other.step;
      const label = other.level.contender === 'ideal' ? `**${LABEL.ideal}**` : LABEL[other.level.contender];
      lines.push(
        `| ${label} | ${x(a.latency.p50 / b.latency.p50)} | ${x(a.latency.p99 / b.latency.p99)} | ${x(a.deliveredPerSecond / b.deliveredPerSecond)} | ${x(a.framesPerSecond / b.framesPerSecond)} | ${x(a.serverCpuSecondsPer1000Deliveries / b.serverCpuSecondsPer1000Deliveries)} | ${x(a.serverCpuShare / b.serverCpuShare)} | ${x(nearby.level.rssPerConnectionBytes / other.level.rssPerConnectionBytes)} | ${x(a.redisCommandsPerUpdate / b.redisCommandsPerUpdate)} |`,
      );
    }
  }
  // What metrics cost: the same server on the same Redis with and without the exporter.
  const plain = rows.find((row) => row.level.contender === 'nearby');
  const measured = rows.find((row) => row.level.contender === 'nearby-metrics');
  if (plain !== undefined && measured !== undefined) {
    const a = measured.step;
    const b = plain.step;
    lines.push(
      '',
      `Metrics overhead (${LABEL['nearby-metrics']} ÷ ${LABEL.nearby}): CPU per delivery ${x(a.serverCpuSecondsPer1000Deliveries / b.serverCpuSecondsPer1000Deliveries)} (${fmt(a.serverCpuSecondsPer1000Deliveries, 4)} vs ${fmt(b.serverCpuSecondsPer1000Deliveries, 4)} s / 1000 deliveries), p99 ${x(a.latency.p99 / b.latency.p99)} (${ms(a.latency.p99)} vs ${ms(b.latency.p99)} ms), RSS / conn ${x(measured.level.rssPerConnectionBytes / plain.level.rssPerConnectionBytes)}.`,
    );
  }
  // What nearby people cost: the same server on the same Redis, every user discoverable and seeing strangers.
  const withStrangers = rows.find((row) => row.level.contender === 'nearby-strangers');
  if (plain !== undefined && withStrangers !== undefined) {
    const a = withStrangers.step;
    const b = plain.step;
    const cpuPerUpdate = (step: StepResult) => (step.serverCpuShare * 1000) / step.sentPerSecond;
    lines.push(
      '',
      `Strangers (${LABEL['nearby-strangers']} ÷ ${LABEL.nearby}): server CPU per update ${x(cpuPerUpdate(a) / cpuPerUpdate(b))} (${fmt(cpuPerUpdate(a), 3)} vs ${fmt(cpuPerUpdate(b), 3)} ms), Redis commands per update ${fmt(a.redisCommandsPerUpdate, 2)} vs ${fmt(b.redisCommandsPerUpdate, 2)}, friends' p99 ${ms(a.latency.p99)} vs ${ms(b.latency.p99)} ms, ${fmt(a.strangerEntriesPerSecond)} stranger entries/s and ${fmt(a.strangerLeft)} stranger_left frames in the window.`,
    );
  }
  return lines;
}

/** Ramp: each Nearby variant's held rate and CPU per delivery against the ideal server's and Socket.IO's. */
function rampRatioLines(report: Report): string[] {
  const ramp = report.ramp ?? [];
  const lines: string[] = [];
  // CPU per 1000 deliveries at the highest step both contenders held.
  const cpuAtCommonStep = (a: Contender, b: Contender): string => {
    const held = (c: Contender) => new Map(report.levels.filter((l) => l.contender === c && l.overloadOf === undefined).flatMap((l) => l.steps).filter((s) => s.held).map((s) => [Math.round(s.offeredPerSecond), s]));
    const ha = held(a);
    const hb = held(b);
    const common = [...ha.keys()].filter((rate) => hb.has(rate)).sort((p, q) => q - p)[0];
    if (common === undefined) return 'no step held by both';
    const sa = ha.get(common)!;
    const sb = hb.get(common)!;
    return `CPU per delivery ${x(sa.serverCpuSecondsPer1000Deliveries / sb.serverCpuSecondsPer1000Deliveries)} and p99 ${x(sa.latency.p99 / sb.latency.p99)} at ${fmt(common)} updates/s`;
  };
  for (const nearby of ramp.filter((r) => isNearby(r.contender))) {
    for (const otherName of ['ideal', 'socketio'] as const) {
      const other = ramp.find((r) => r.contender === otherName);
      if (other === undefined) continue;
      lines.push(
        `- ${LABEL[nearby.contender]} ÷ ${LABEL[otherName]}: held rate ${other.heldUpdatesPerSecond > 0 ? x(nearby.heldUpdatesPerSecond / other.heldUpdatesPerSecond) : '—'} (${fmt(nearby.heldUpdatesPerSecond)} vs ${fmt(other.heldUpdatesPerSecond)} updates/s); ${cpuAtCommonStep(nearby.contender, otherName)}.`,
      );
    }
  }
  return lines.length === 0 ? [] : ['### Ratios (same run)', '', ...lines, ''];
}

function detailRows(rows: Array<{ level: LevelResult; step: StepResult }>): string[] {
  return [
    '| Contender | Connect s | Entries recv/s | Filtered by client/s | Repeats (viewer moved)/s | Entered by viewer move/s | Expected deliveries | Delivered | p99 incl. missing ms | Server event-loop delay p99 / max ms | JS heap / conn KiB | Redis CPU | Generators CPU | Send lag p99 / max ms | Redis commands in window |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows.map(({ level, step }) => {
      const commands = Object.entries(step.redisCommands)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([name, n]) => `${name} ${fmt(n)}`)
        .join(', ');
      return `| ${LABEL[level.contender]} | ${fmt(level.connect.ms / 1000, 1)} | ${fmt(step.entriesPerSecond)} | ${filtersOnServer(level.contender) ? 'n/a' : fmt(step.filteredOutPerSecond)} | ${filtersOnServer(level.contender) ? fmt(step.repeatedEntries / step.windowSeconds) : 'n/a'} | ${filtersOnServer(level.contender) ? fmt(step.viewerMoveEntries / step.windowSeconds) : 'n/a'} | ${fmt(step.expectation.expectedDeliveries)} | ${fmt(step.deliveries)} | ${ms(step.p99WithMissingMs)} | ${ms(step.serverLoopDelay.p99Ms)} / ${ms(step.serverLoopDelay.maxMs)} | ${kib(level.heapPerConnectionBytes)} | ${pct(step.redisCpuShare, 0)} | ${pct(step.generatorCpuShare, 0)} | ${ms(step.sendLagP99Ms)} / ${ms(step.sendLagMaxMs)} | ${commands || '—'} |`;
    }),
  ];
}

function slowestLines(rows: Array<{ level: LevelResult; step: StepResult }>): string[] {
  const lines: string[] = [];
  for (const { level, step } of rows) {
    if (step.slowest.length === 0) continue;
    lines.push(`- ${LABEL[level.contender]}, slowest deliveries of the window: ${step.slowest.slice(0, 3).join('; ')}`);
  }
  return lines;
}

function serverCounterLines(rows: Array<{ level: LevelResult; step: StepResult }>): string[] {
  const lines: string[] = [];
  for (const { level, step } of rows) {
    const interesting = Object.entries(step.serverCounters).filter(([, value]) => value !== 0);
    if (interesting.length === 0) continue;
    const perSecond = interesting.map(([name, value]) => `${name} ${fmt(value / step.windowSeconds)}/s`).join(', ');
    lines.push(`- ${LABEL[level.contender]} (server counters in the window): ${perSecond}`);
  }
  return lines;
}

/** Ramp: goodput past the limit, at multiples of each contender's held rate. */
function overloadLines(report: Report): string[] {
  const overloaded = report.levels.filter((level) => level.overloadOf !== undefined);
  if (overloaded.length === 0) return [];
  const lines = [
    '',
    `### Past the limit — offered ${report.options.overload.map((m) => `${m}×`).join(' and ')} each contender's held rate`,
    '',
    'Goodput = deliveries per second (of updates sent in the window, received by the end of the step); peak = the largest goodput of any of the contender\'s steps, held or not, so "÷ peak" below 100 % means goodput fell as the offered load rose. Age = latency of what was delivered.',
    '',
    '| Contender | Held upd/s | Peak goodput/s | Offered upd/s | Sent/s | Goodput/s | ÷ peak | Delivery ratio | Age p50 / p99 / max ms | Server RSS window start → end MB | Server loop delay max ms | Server CPU |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const level of overloaded) {
    const peak = Math.max(
      0,
      ...report.levels
        .filter((l) => l.contender === level.contender)
        .flatMap((l) => l.steps)
        .map((step) => step.deliveredPerSecond),
    );
    for (const step of level.steps) {
      lines.push(
        `| ${LABEL[level.contender]} | ${fmt(level.overloadOf!)} | ${fmt(peak)} | ${fmt(step.offeredPerSecond)} | ${fmt(step.sentPerSecond)} | ${fmt(step.deliveredPerSecond)} | ${peak > 0 ? pct(step.deliveredPerSecond / peak, 0) : '—'} | ${pct(step.deliveryRatio)} | ${ms(step.latency.p50)} / ${ms(step.latency.p99)} / ${ms(step.latency.max)} | ${fmt(step.serverRssStartBytes / 1e6)} → ${fmt(step.serverRssEndBytes / 1e6)} | ${ms(step.serverLoopDelay.maxMs)} | ${pct(step.serverCpuShare, 0)} |`,
      );
    }
    if (level.error !== undefined) lines.push(`| ${LABEL[level.contender]} | ${fmt(level.overloadOf!)} | ${fmt(peak)} | | | | | | | | | **failed**: ${level.error} |`);
  }
  return lines;
}

function rampSection(report: Report): string[] {
  const lines: string[] = [
    `## Ramp — offered load raised step by step until p99 ≥ ${report.options.p99LimitMs} ms or errors`,
    '',
    '| Contender | Largest held: equivalent users (N × C) | …as updates/s | First step not held |',
    '| --- | ---: | ---: | --- |',
    ...(report.ramp ?? []).map(
      (r) =>
        `| ${LABEL[r.contender]} | **${r.heldEquivalentUsers > 0 ? fmt(r.heldEquivalentUsers) : 'none'}**${r.reachedTop ? ' (top step; more not tried)' : ''} | ${fmt(r.heldUpdatesPerSecond)} | ${r.firstFailure ?? '—'} |`,
    ),
    '',
    ...rampRatioLines(report),
    '| Contender | N | C | Equivalent users | Offered upd/s | Sent/s | Delivered/s | Ratio | Frames/s | p50 | p99 | p99 incl. missing | Server loop delay max | Server CPU | Gen CPU | All CPU | Redis cmds/upd | Held | Why not |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  ];
  for (const level of report.levels.filter((l) => l.overloadOf === undefined)) {
    for (const step of level.steps) {
      lines.push(
        `| ${LABEL[level.contender]} | ${fmt(step.connections)} | ${fmt(step.compression, 1)} | ${fmt(step.equivalentUsers)} | ${fmt(step.offeredPerSecond)} | ${fmt(step.sentPerSecond)} | ${fmt(step.deliveredPerSecond)} | ${pct(step.deliveryRatio)} | ${fmt(step.framesPerSecond)} | ${ms(step.latency.p50)} | ${ms(step.latency.p99)} | ${ms(step.p99WithMissingMs)} | ${ms(step.serverLoopDelay.maxMs)} | ${pct(step.serverCpuShare, 0)} | ${pct(step.generatorCpuShare, 0)} | ${pct(step.serverCpuShare + step.generatorCpuShare + step.redisCpuShare, 0)} | ${fmt(step.redisCommandsPerUpdate, 2)} | ${step.held ? 'yes' : '**no**'} | ${step.failures.join('; ') || ''} |`,
      );
    }
    if (level.error !== undefined) lines.push(`| ${LABEL[level.contender]} | ${fmt(level.connections)} | | | | | | | | | | | | | | | | **failed** | ${level.error} |`);
  }
  lines.push(...overloadLines(report));
  lines.push(
    '',
    `CPU is a share of one core (the machine has ${report.machine.cpus}); "All CPU" = server + load generators + redis-server: near ${report.machine.cpus * 100} % the machine is saturated and latency reflects the whole box, not only the server. "Server loop delay max": the longest the server's event loop was blocked in the window.`,
    '',
    'RSS per connection by level: ' +
      report.levels.map((level) => `${LABEL[level.contender]} N=${fmt(level.connections)}${level.overloadOf === undefined ? '' : ' (past the limit)'} ${kib(level.rssPerConnectionBytes)} KiB`).join('; ') +
      '.',
    '',
  );
  return lines;
}

function profileSection(report: Report): string[] {
  const lines: string[] = [];
  for (const level of report.levels) {
    if (level.heap === undefined) continue;
    const n = level.connections;
    lines.push(
      `## Heap snapshot — ${LABEL[level.contender]} server child, N=${fmt(n)}, all users connected (${fmt(level.heap.totalBytes / 2 ** 20, 1)} MiB)`,
      '',
      `\`${level.heap.file}\``,
      '',
      '| Constructor / type | Count | Count / conn | Self MiB | Self bytes / conn |',
      '| --- | ---: | ---: | ---: | ---: |',
      ...level.heap.entries.map((e) => `| \`${e.name}\` | ${fmt(e.count)} | ${fmt(e.count / n, 1)} | ${fmt(e.bytes / 2 ** 20, 1)} | ${fmt(e.bytes / n)} |`),
      '',
    );
  }
  for (const level of report.levels) {
    if (level.profile === undefined) continue;
    const p = level.profile;
    lines.push(
      `## CPU profile — ${LABEL[level.contender]} server child, N=${fmt(level.connections)} (measured windows only, ${fmt(p.windowMs)} ms sampled)`,
      '',
      `\`${p.file}\``,
      '',
      '| Area | Self ms | Share |',
      '| --- | ---: | ---: |',
      ...p.areas.slice(0, 15).map((a) => `| ${a.area} | ${fmt(a.selfMs)} | ${pct(a.share)} |`),
      '',
      '| Function | Where | Self ms | Share |',
      '| --- | --- | ---: | ---: |',
      ...p.functions.slice(0, 25).map((f) => `| \`${f.name}\` | ${f.where} | ${fmt(f.selfMs)} | ${pct(f.share)} |`),
      '',
    );
  }
  return lines;
}

/** Scale mode: connecting N users and holding them at a long period. */
function scaleSection(report: Report): string[] {
  const o = report.options;
  const lines: string[] = [
    `## Scale — ${fmt(o.connections)} connections at one update per ${fmt(o.periodSeconds / o.compression, 1)} s`,
    '',
    `Connecting from ${o.sourceAddresses.length === 0 ? '127.0.0.1 (the OS’s choice)' : `${o.sourceAddresses.length} loopback source addresses (${o.sourceAddresses[0]} … ${o.sourceAddresses[o.sourceAddresses.length - 1]}), user i from the (i mod ${o.sourceAddresses.length})-th`}, ${o.generators} load generators (${fmt(Math.ceil(o.connections / o.generators))} connections each), ${o.connectConcurrency} connections opened at once per generator.`,
    '',
    '| Contender | Connected | Failed | All connected in s | Connections/s | Loop delay while connecting p99 / max ms | RSS before → after MB | RSS / conn KiB | JS heap / conn KiB | Offered upd/s | Delivery ratio | p50 / p99 / max ms | Loop delay in window p99 / max ms | Server CPU | Generators CPU |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const level of report.levels) {
    const step = level.steps[0];
    const connected = level.connections - level.connect.failed;
    const mb = (bytes: number) => fmt(bytes / 1e6, 0);
    lines.push(
      `| ${LABEL[level.contender]} | ${fmt(connected)} | ${fmt(level.connect.failed)}${level.connect.firstError === undefined ? '' : ` (${level.connect.firstError})`} | ${fmt(level.connect.ms / 1000, 1)} | ${fmt(connected / (level.connect.ms / 1000))} | ${level.connectLoopDelay === undefined ? '—' : `${ms(level.connectLoopDelay.p99Ms)} / ${ms(level.connectLoopDelay.maxMs)}`} | ${mb(level.rssBeforeBytes)} → ${mb(level.rssAfterBytes)} | ${kib(level.rssPerConnectionBytes)} | ${kib(level.heapPerConnectionBytes)} | ` +
        (step === undefined
          ? `— | — | — | — | — | — |`
          : `${fmt(step.offeredPerSecond)} | ${pct(step.deliveryRatio, 2)} | ${ms(step.latency.p50)} / ${ms(step.latency.p99)} / ${ms(step.latency.max)} | ${ms(step.serverLoopDelay.p99Ms)} / ${ms(step.serverLoopDelay.maxMs)} | ${pct(step.serverCpuShare, 0)} | ${pct(step.generatorCpuShare, 0)} |`),
    );
  }
  lines.push('');
  for (const level of report.levels) {
    const step = level.steps[0];
    const goals = [
      `all connected in < 45 s without errors: ${level.connect.failed === 0 && level.connect.ms < 45_000 ? 'yes' : '**no**'}`,
      `p99 < 100 ms (missing deliveries counted as late): ${step !== undefined && step.p99WithMissingMs < 100 ? 'yes' : '**no**'}`,
      `≤ 25 KiB per connection: ${level.rssPerConnectionBytes <= 25 * 1024 ? 'yes' : '**no**'}`,
      `no errors or disconnects in the window: ${step !== undefined && Object.keys(step.errors).length === 0 && step.disconnects === 0 ? 'yes' : '**no**'}`,
    ];
    lines.push(`- ${LABEL[level.contender]}: ${goals.join('; ')}.`);
  }
  lines.push(
    '',
    '"RSS / conn": the server child\'s RSS after connecting everyone minus before, ÷ connections, each after a forced GC. "Loop delay": `monitorEventLoopDelay` in the server child (5 ms resolution).',
    '',
  );
  return lines;
}

export function toMarkdown(report: Report): string {
  const { options: o, machine: m } = report;
  const rows = mainSteps(report);
  const anyLevel = report.levels[0];
  const lines: string[] = [
    `# Realtime benchmark — ${o.mode === 'ramp' ? 'ramp' : o.mode === 'smoke' ? 'smoke run' : o.mode === 'scale' ? 'scale' : 'quick comparison'}`,
    '',
    `\`${report.command}\` — ${report.date}, ${fmt(report.durationSeconds)} s. Node ${m.node}, ${report.redis}, ${m.cpus} × ${m.cpuModel}, ${fmt(m.memoryGiB)} GiB, ${m.platform}${report.gitCommit === undefined ? '' : `, commit ${report.gitCommit}`}.`,
    '',
    `**Absolute numbers are machine-dependent** and noisy: the ${m.cpus} cores are shared by the server under test, ${o.generators} load-generator processes and redis-server. Compare the ratios between contenders measured in the same run.`,
    '',
    '## Scenario',
    '',
    `- Scenario **${o.scenario}**: ${o.scenario === 'city' ? `locality-biased friend graph, ${fmt(o.nearFriends)} online friends per user are neighbours in the locality order of home positions (1 km rows, snake), the others random` : 'online friends chosen at random (circulant graph over a random order)'}.`,
    `- ${anyLevel === undefined ? '' : `${fmt(anyLevel.onlineFriendsPerUser, 1)} online (mean) + ${fmt(anyLevel.offlineFriendsPerUser)} offline friends per user (F = ${fmt(o.friends)}, ${pct(o.onlineShare, 0)} online; friendships among online users symmetric)`}; users in a ${fmt(o.areaKm)} km square around Seoul, walking at ${o.speedMps} m/s of simulated time; radius ${o.radiusKm} km; seed ${o.seed}.`,
    `- Each user sends one location update every T / C = ${o.periodSeconds} s / C real seconds at a random phase (open loop). ${o.mode === 'ramp' ? 'N and C per step below.' : `N = ${fmt(o.connections)} connections, C = ${fmt(o.compression, 1)}: offered ${fmt((o.connections * o.compression) / o.periodSeconds)} updates/s = **${fmt(o.connections * o.compression)} equivalent users** at T = ${o.periodSeconds} s.`}`,
    `- Per step: ${o.warmupSeconds} s warm-up, ${o.seconds} s measured window, ${o.cooldownSeconds} s of continued load while the window's updates are delivered (+0.5 s). Deliveries are attributed to the window by their send time.`,
    `- Online friends within ${o.radiusKm} km: ${report.levels
      .filter((level) => level.steps.length > 0)
      .map((level) => `${pct(level.steps[0]!.expectation.inRangeShare)} (${level.contender}, N=${fmt(level.connections)}, during the window)`)
      .slice(0, 3)
      .join('; ')}; at the start positions ${anyLevel === undefined ? '—' : `${pct(anyLevel.initialInRangeShare)} = ${fmt(anyLevel.initialInRangeShare * anyLevel.onlineFriendsPerUser, 1)} of ${fmt(anyLevel.onlineFriendsPerUser, 1)} online friends`}.`,
    '- Latency: from the sender\'s send instant to the friend\'s receipt, across processes (the send time rides in the latitude, decoded with the shared wall clock). Only deliveries count: new positions of friends within the radius (after the client-side filter for Socket.IO and the ws relay, which send every friend update).',
    '',
  ];
  if (o.mode === 'scale') lines.push(...scaleSection(report));
  if (o.mode !== 'ramp') {
    lines.push(
      '## Results',
      '',
      ...resultsTable(rows),
      '',
      '- **Delivered/s**: in-range friend updates received; **delivery ratio** = delivered ÷ the (update, online friend within the radius at send time) pairs computed from the send logs. **Frames recv/s**: WebSocket messages the clients received (Nearby batches the entries of one event-loop turn per connection into one `friend_update`; Socket.IO and the ws relay send one message per friend per update, including out-of-range ones).',
      '- **Server CPU**: the server child only (user + system, all threads, from /proc), as a share of one core; not the load generators or redis-server. **CPU s / 1000 deliveries** = server CPU seconds in the window per 1000 deliveries. **RSS / conn**: server RSS after connecting all users minus before, ÷ N (after a forced GC). **Redis cmds / update**: INFO commandstats delta in the window ÷ updates sent.',
      '',
      ...(ratioRows(rows).length === 0
        ? []
        : [
            '### Ratios (same run)',
            '',
            ...ratioRows(rows),
            '',
            'Each cell is Nearby\'s figure divided by the other contender\'s: below 1× means Nearby is faster / cheaper / sends less; above 1× for delivered/s means it delivers more. The ideal server (radius filter, no validation, no Redis, one `JSON.stringify` + `send` per viewer in range) is the floor to compare CPU per delivery with.',
            '',
          ]),
      '### Details',
      '',
      ...detailRows(rows),
      '',
      ...serverCounterLines(rows),
      ...slowestLines(rows),
      '',
    );
  } else {
    lines.push(...rampSection(report));
  }
  lines.push('## Correctness checks', '', ...report.checks.map((check) => `- ${check.ok ? 'PASS' : '**FAIL**'} — ${check.name}: ${check.detail}`), '');
  lines.push(...profileSection(report));
  return lines.join('\n');
}
