/**
 * One contender at one connection count: start its server child, fork the load generators and
 * connect every user, then run the load steps (one in quick and smoke modes, several in ramp
 * mode) and measure each one's window: latency and deliveries from the generators, server CPU
 * from /proc, server memory from the child, Redis commands and CPU from INFO.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { sendTo, waitForMessage, type Children } from '../common/child.js';
import { fileStamp } from '../common/environment.js';
import { sleep, wallNow } from '../common/clock.js';
import { Histogram } from '../common/histogram.js';
import { summarize, type LatencySummary } from '../common/stats.js';
import { analyse, initialInRangeShare, type Expectation, type Verification } from './analysis.js';
import type {
  Contender,
  GeneratorReply,
  GeneratorRequest,
  GeneratorResult,
  Progress,
  ServerReply,
  ServerRequest,
  ServerStats,
  StepConfig,
} from './ipc.js';
import type { BenchOptions, StepPlan } from './options.js';
import { summarizeHeapSnapshot, summarizeProfile, type HeapSummary, type ProfileSummary } from './profile.js';
import { Scenario, type ScenarioParams } from './scenario.js';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export interface RunContext {
  options: BenchOptions;
  children: Children;
  redisUrl: string;
  /** The parent's own Redis connection, for INFO, FLUSHALL and CONFIG RESETSTAT. */
  redis: Redis;
  profilesDir: string;
  /** Set by main when the run is being stopped (signal, watchdog). */
  aborted: () => boolean;
}

export interface StepResult {
  contender: Contender;
  step: number;
  connections: number;
  compression: number;
  /** Real ms between two updates of one user (T / C). */
  periodMs: number;
  offeredPerSecond: number;
  /** N × C: users sending every T seconds that this load stands for. */
  equivalentUsers: number;
  windowSeconds: number;
  sentPerSecond: number;
  /** In-range friend updates received per second (sent in the window). */
  deliveredPerSecond: number;
  /** WebSocket messages received by the clients per second (Nearby coalesces several entries per frame). */
  framesPerSecond: number;
  /** Friend entries received per second, before any client-side filtering. */
  entriesPerSecond: number;
  /** Socket.IO / ws-ceiling: entries discarded by the client's radius filter, per second. */
  filteredOutPerSecond: number;
  expectation: Expectation;
  deliveries: number;
  deliveryRatio: number;
  latency: LatencySummary;
  /** p99 counting every expected delivery that did not arrive as infinitely late. */
  p99WithMissingMs: number;
  serverCpuShare: number;
  serverCpuSecondsPer1000Deliveries: number;
  /** The server's event-loop delay during the window (5 ms resolution): its own stalls, apart from the machine's. */
  serverLoopDelay: { p50Ms: number; p99Ms: number; maxMs: number };
  redisCpuShare: number;
  generatorCpuShare: number;
  redisCommandsPerUpdate: number;
  redisCommands: Record<string, number>;
  serverCounters: Record<string, number>;
  errors: Record<string, number>;
  disconnects: number;
  ackExpected: number;
  unanswered: number;
  repeatedEntries: number;
  viewerMoveEntries: number;
  outOfOrder: number;
  strangers: number;
  friendLeft: number;
  /** nearby-strangers: stranger entries received per second, `stranger_left` frames, and entries finer than the coarsened position. */
  strangerEntriesPerSecond: number;
  strangerLeft: number;
  strangerPrivacyViolations: number;
  strangerPrivacyExamples: string[];
  filterChecked: number;
  filterViolations: number;
  violationExamples: string[];
  verification: Verification;
  /** The slowest deliveries of the window, described. */
  slowest: string[];
  sendLagP99Ms: number;
  sendLagMaxMs: number;
  held: boolean;
  failures: string[];
  /** Server RSS at the window's start and end (no forced GC): does memory stay flat under load? */
  serverRssStartBytes: number;
  serverRssEndBytes: number;
}

export interface LevelResult {
  contender: Contender;
  connections: number;
  scenario: ScenarioParams;
  onlineFriendsPerUser: number;
  offlineFriendsPerUser: number;
  initialInRangeShare: number;
  connect: { ms: number; failed: number; firstError: string | undefined };
  /** The server's event-loop delay while the users connected (from the first connection to the last, plus 1 s). */
  connectLoopDelay: { p50Ms: number; p99Ms: number; maxMs: number } | undefined;
  /** Generator clock − parent clock, worst measured, ms (and the round trip that bounds it). */
  clockOffsetMs: number;
  clockRoundTripMs: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  rssPerConnectionBytes: number;
  /** JS heap used after connecting minus before, ÷ N (after a forced GC): steadier than RSS at small N. */
  heapPerConnectionBytes: number;
  steps: StepResult[];
  profile: ProfileSummary | undefined;
  heap: HeapSummary | undefined;
  error: string | undefined;
  /** Ramp: set on the levels run after the ramp, at multiples of this held rate (updates/s). */
  overloadOf?: number;
}

/** The main thread's profile in a directory: the largest one (the loader thread's is nearly empty). */
function mainThreadProfile(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => ({ path: join(dir, name), size: statSync(join(dir, name)).size }))
    .sort((a, b) => b.size - a.size);
  return files[0]?.path;
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User + system CPU seconds of a process, from /proc/<pid>/stat (all its threads). */
function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return Number.NaN;
  }
}

/** Commands the parent itself sends (not part of any contender's work). */
const PARENT_COMMANDS = new Set(['info', 'config|resetstat', 'config', 'flushall']);

async function redisSnapshot(redis: Redis): Promise<{ commands: Record<string, number>; cpuSeconds: number }> {
  const [commandstats, cpu] = await Promise.all([redis.info('commandstats'), redis.info('cpu')]);
  const commands: Record<string, number> = {};
  for (const match of commandstats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) commands[match[1]!] = Number(match[2]);
  const user = Number(/^used_cpu_user:([\d.]+)/m.exec(cpu)?.[1] ?? Number.NaN);
  const sys = Number(/^used_cpu_sys:([\d.]+)/m.exec(cpu)?.[1] ?? Number.NaN);
  return { commands, cpuSeconds: user + sys };
}

// ------------------------------------------------------------------ server child

class ServerHandle {
  readonly child: ChildProcess;
  readonly #children: Children;
  #nextId = 1;
  url = '';

  constructor(children: Children, execArgv: string[]) {
    this.#children = children;
    this.child = children.fork(here('./server-child.ts'), execArgv);
  }

  async start(contender: Contender, scenario: ScenarioParams, redisUrl: string): Promise<void> {
    sendTo(this.child, { type: 'start', contender, scenario, redisUrl } satisfies ServerRequest);
    const reply = await waitForMessage<ServerReply, ServerReply>(
      this.child,
      (message) => (message.type === 'listening' || message.type === 'failed' ? message : undefined),
      60_000,
      `${contender} server start`,
    );
    if (reply.type === 'failed') throw new Error(`${contender} server failed to start: ${reply.message}`);
    if (reply.type === 'listening') this.url = reply.url;
  }

  async stats(gc: boolean, resetLoopDelay = false): Promise<ServerStats> {
    const id = this.#nextId++;
    sendTo(this.child, { type: 'stats', id, gc, resetLoopDelay } satisfies ServerRequest);
    return waitForMessage<ServerReply, ServerStats>(this.child, (message) => (message.type === 'stats' && message.id === id ? message.stats : undefined), 30_000, 'server stats');
  }

  async heapSnapshot(path: string): Promise<string> {
    const id = this.#nextId++;
    sendTo(this.child, { type: 'heap-snapshot', id, path } satisfies ServerRequest);
    return waitForMessage<ServerReply, string>(this.child, (message) => (message.type === 'heap-snapshot' && message.id === id ? message.path : undefined), 300_000, 'heap snapshot');
  }

  async stop(): Promise<void> {
    sendTo(this.child, { type: 'stop' } satisfies ServerRequest);
    await this.#children.stop(this.child, 10_000);
  }
}

// ------------------------------------------------------------------ load generators

class GeneratorHandle {
  readonly child: ChildProcess;
  readonly slot: number;
  readonly #children: Children;

  constructor(children: Children, slot: number) {
    this.#children = children;
    this.slot = slot;
    this.child = children.fork(here('./generator.ts'));
  }

  send(request: GeneratorRequest): void {
    sendTo(this.child, request);
  }

  /** Measures this process's clock against the parent's: offset bounded by half the round trip. */
  async clock(): Promise<{ offsetMs: number; roundTripMs: number }> {
    let best = { offsetMs: Number.NaN, roundTripMs: Number.POSITIVE_INFINITY };
    for (let i = 0; i < 5; i++) {
      const parentNow = wallNow();
      this.send({ type: 'clock', parentNow });
      const childNow = await waitForMessage<GeneratorReply, number>(
        this.child,
        (message) => (message.type === 'clock' && message.parentNow === parentNow ? message.childNow : undefined),
        30_000,
        'generator clock',
      );
      const back = wallNow();
      if (back - parentNow < best.roundTripMs) best = { offsetMs: childNow - (parentNow + back) / 2, roundTripMs: back - parentNow };
    }
    return best;
  }

  waitFor<R>(accept: (message: GeneratorReply) => R | undefined, ms: number, what: string): Promise<R> {
    return waitForMessage<GeneratorReply, R>(
      this.child,
      (message) => {
        if (message.type === 'failed') throw new Error(`load generator ${this.slot} failed: ${message.message}`);
        return accept(message);
      },
      ms,
      what,
    );
  }

  async stop(): Promise<void> {
    this.send({ type: 'stop' });
    await this.#children.stop(this.child, 5_000);
  }
}

// ------------------------------------------------------------------ a level

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}
function num(value: number, width: number, digits = 0): string {
  const text = Number.isFinite(value) ? value.toFixed(digits) : '—';
  return text.length >= width ? text : ' '.repeat(width - text.length) + text;
}

export async function runLevel(ctx: RunContext, contender: Contender, steps: StepPlan[], stopAtFailure: boolean): Promise<LevelResult> {
  const { options } = ctx;
  const connections = steps[0]!.connections;
  const scenarioParams: ScenarioParams = {
    graph: options.scenario,
    nearFriends: options.nearFriends,
    users: connections,
    friends: options.friends,
    onlineShare: options.onlineShare,
    areaKm: options.areaKm,
    periodSeconds: options.periodSeconds,
    speedMps: options.speedMps,
    radiusKm: options.radiusKm,
    seed: options.seed,
  };
  const scenario = new Scenario(scenarioParams);
  const level: LevelResult = {
    contender,
    connections,
    scenario: scenarioParams,
    onlineFriendsPerUser: scenario.meanOnlineDegree(),
    offlineFriendsPerUser: scenario.offlineFriends,
    initialInRangeShare: initialInRangeShare(scenario),
    connect: { ms: Number.NaN, failed: 0, firstError: undefined },
    connectLoopDelay: undefined,
    clockOffsetMs: Number.NaN,
    clockRoundTripMs: Number.NaN,
    rssBeforeBytes: Number.NaN,
    rssAfterBytes: Number.NaN,
    rssPerConnectionBytes: Number.NaN,
    heapPerConnectionBytes: Number.NaN,
    steps: [],
    profile: undefined,
    heap: undefined,
    error: undefined,
  };

  await ctx.redis.flushall();
  await ctx.redis.config('RESETSTAT');

  // One directory per server child: with tsx, Node's off-thread module loader is profiled too and
  // writes its own (idle) profile next to the main thread's, so names are left to Node.
  const profileDir = join(ctx.profilesDir, `realtime-${contender}-n${connections}-${fileStamp(new Date())}`);
  const execArgv = ['--expose-gc', ...options.serverNodeOptions];
  if (options.cpuProf) {
    mkdirSync(profileDir, { recursive: true });
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  }
  const server = new ServerHandle(ctx.children, execArgv);
  const generators: GeneratorHandle[] = [];
  const profileMarks: Array<{ startUs: number; endUs: number }> = [];
  let heapFile: string | undefined;
  try {
    await server.start(contender, scenarioParams, ctx.redisUrl);
    await sleep(500);
    const before = await server.stats(true);
    level.rssBeforeBytes = before.rssBytes;

    console.log(`\n[${contender}] N=${connections} connections, ${level.onlineFriendsPerUser.toFixed(1)} online + ${scenario.offlineFriends} offline friends each; connecting…`);
    for (let slot = 0; slot < options.generators; slot++) generators.push(new GeneratorHandle(ctx.children, slot));
    const clocks = await Promise.all(generators.map((generator) => generator.clock()));
    level.clockOffsetMs = Math.max(...clocks.map((c) => Math.abs(c.offsetMs)));
    level.clockRoundTripMs = Math.max(...clocks.map((c) => c.roundTripMs));
    await server.stats(false, true);
    const connectStarted = performance.now();
    for (const generator of generators) {
      generator.send({
        type: 'connect',
        setup: {
          contender,
          baseUrl: server.url,
          scenario: scenarioParams,
          slot: generator.slot,
          slots: options.generators,
          connectConcurrency: options.connectConcurrency,
          sourceAddresses: options.sourceAddresses,
        },
      });
    }
    const connected = await Promise.all(
      generators.map((generator) =>
        generator.waitFor((message) => (message.type === 'connected' ? message : undefined), 180_000, `connecting ${contender}`),
      ),
    );
    level.connect = {
      ms: performance.now() - connectStarted,
      failed: connected.reduce((sum, c) => sum + c.failed, 0),
      firstError: connected.find((c) => c.firstError !== undefined)?.firstError,
    };
    console.log(
      `[${contender}] ${connections - level.connect.failed} connected in ${(level.connect.ms / 1000).toFixed(1)} s` +
        (level.connect.failed > 0 ? `, ${level.connect.failed} FAILED (${level.connect.firstError})` : ''),
    );
    // Let session-start work (subscriptions, cache reads, snapshots) finish before measuring memory.
    await sleep(1_000);
    const after = await server.stats(true, true);
    level.connectLoopDelay = after.loopDelay;
    level.rssAfterBytes = after.rssBytes;
    const live = Math.max(1, connections - level.connect.failed);
    level.rssPerConnectionBytes = (level.rssAfterBytes - level.rssBeforeBytes) / live;
    level.heapPerConnectionBytes = (after.heapUsedBytes - before.heapUsedBytes) / live;
    if (options.heapSnapshot) {
      mkdirSync(profileDir, { recursive: true });
      console.log(`[${contender}] writing a heap snapshot of the server child…`);
      heapFile = await server.heapSnapshot(join(profileDir, `server-${contender}-n${connections}.heapsnapshot`));
    }

    for (let index = 0; index < steps.length; index++) {
      if (ctx.aborted()) break;
      const result = await runStep(ctx, contender, scenario, server, generators, steps[index]!, index, level, profileMarks);
      level.steps.push(result);
      if (stopAtFailure && !result.held) break;
    }
  } catch (error) {
    level.error = error instanceof Error ? error.message : String(error);
    console.error(`[${contender}] failed: ${level.error}`);
  } finally {
    await Promise.all(generators.map((generator) => generator.stop()));
    await server.stop();
  }
  if (heapFile !== undefined) level.heap = summarizeHeapSnapshot(heapFile);
  if (options.cpuProf) {
    const file = mainThreadProfile(profileDir);
    if (file !== undefined) {
      const mark = profileMarks[profileMarks.length - 1];
      level.profile = summarizeProfile(file, profileMarks[0]?.startUs, mark?.endUs);
    } else {
      console.error(`[${contender}] no CPU profile was written to ${profileDir}`);
    }
  }
  return level;
}

async function runStep(
  ctx: RunContext,
  contender: Contender,
  scenario: Scenario,
  server: ServerHandle,
  generators: GeneratorHandle[],
  plan: StepPlan,
  index: number,
  level: LevelResult,
  profileMarks: Array<{ startUs: number; endUs: number }>,
): Promise<StepResult> {
  const { options } = ctx;
  const periodMs = (options.periodSeconds * 1000) / plan.compression;
  const t0 = wallNow() + 300;
  const windowStart = t0 + options.warmupSeconds * 1000;
  const windowEnd = windowStart + options.seconds * 1000;
  const sendEnd = windowEnd + options.cooldownSeconds * 1000;
  const end = sendEnd + 500;
  const step: StepConfig = { step: index, t0, windowStart, windowEnd, sendEnd, end, periodMs };
  const offered = plan.connections / (periodMs / 1000);
  console.log(
    `[${contender}] step ${index + 1}: N=${plan.connections}, C=${plan.compression.toFixed(1)} (one update per user every ${(periodMs / 1000).toFixed(2)} s), ` +
      `offered ${offered.toFixed(0)} updates/s = ${Math.round(plan.connections * plan.compression).toLocaleString('en-US')} equivalent users; ` +
      `${options.warmupSeconds} s warm-up, ${options.seconds} s measured, ${options.cooldownSeconds} s cool-down`,
  );

  // Progress: one line per second once every generator reported it.
  const perSecond = new Map<number, { reports: number; sent: number; deliveries: number; frames: number; histogram: number[][] }>();
  const windowHistogram = new Histogram();
  const onProgress = (message: GeneratorReply) => {
    if (message.type !== 'progress' || message.progress.step !== index) return;
    const p: Progress = message.progress;
    const entry = perSecond.get(p.second) ?? { reports: 0, sent: 0, deliveries: 0, frames: 0, histogram: [] };
    entry.reports++;
    entry.sent += p.sent;
    entry.deliveries += p.deliveries;
    entry.frames += p.frames;
    entry.histogram.push(p.histogram);
    perSecond.set(p.second, entry);
    if (entry.reports < generators.length) return;
    perSecond.delete(p.second);
    const secondStart = t0 + (p.second - 1) * 1000;
    const phase = secondStart >= windowEnd - 1 ? 'cool-down' : secondStart >= windowStart - 1 ? 'window' : 'warm-up';
    const thisSecond = new Histogram();
    for (const sparse of entry.histogram) thisSecond.addSparse(sparse);
    if (phase === 'window') for (const sparse of entry.histogram) windowHistogram.addSparse(sparse);
    console.log(
      `  ${pad(contender, 10)} ${num(p.second, 3)}s ${pad(phase, 9)}  sent ${num(entry.sent, 6)}/s  delivered ${num(entry.deliveries, 7)}/s  frames ${num(entry.frames, 7)}/s  ` +
        `p99 ${num(thisSecond.percentile(99), 7, 1)} ms` +
        (windowHistogram.total > 0 ? `  (window so far: p99 ${num(windowHistogram.percentile(99), 7, 1)} ms)` : ''),
    );
  };
  for (const generator of generators) generator.child.on('message', onProgress);

  // Server CPU, counters and Redis at the window's edges.
  const edge = async () => {
    const [stats, redis] = await Promise.all([server.stats(false, true), redisSnapshot(ctx.redis)]);
    return { cpu: processCpuSeconds(server.child.pid!), stats, redis, at: wallNow() };
  };
  const atStart = new Promise<Awaited<ReturnType<typeof edge>>>((resolve, reject) => setTimeout(() => edge().then(resolve, reject), windowStart - wallNow()));
  const atEnd = new Promise<Awaited<ReturnType<typeof edge>>>((resolve, reject) => setTimeout(() => edge().then(resolve, reject), windowEnd - wallNow()));
  atStart.catch(() => undefined);
  atEnd.catch(() => undefined);

  let results: GeneratorResult[];
  try {
    for (const generator of generators) generator.send({ type: 'run', step });
    const limit = end - wallNow() + 60_000;
    results = await Promise.all(
      generators.map((generator) =>
        generator.waitFor((message) => (message.type === 'result' && message.result.step === index ? message.result : undefined), limit, `${contender} step ${index + 1}`),
      ),
    );
  } finally {
    for (const generator of generators) generator.child.off('message', onProgress);
  }
  const [first, last] = await Promise.all([atStart, atEnd]);
  profileMarks.push({ startUs: first.stats.hrtimeUs, endUs: last.stats.hrtimeUs });

  // Merge the generators' results.
  const windowSeconds = options.seconds;
  const sum = (pick: (r: GeneratorResult) => number) => results.reduce((total, r) => total + pick(r), 0);
  const latencies = new Float64Array(sum((r) => r.latencies.length));
  let offset = 0;
  for (const r of results) {
    latencies.set(r.latencies, offset);
    offset += r.latencies.length;
  }
  latencies.sort();
  const errors: Record<string, number> = {};
  for (const r of results) for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
  const { expectation, verification } = analyse(
    scenario,
    results.map((r) => r.sendLog),
    results.map((r) => r.deliverySamples),
    windowStart,
    windowEnd,
  );
  const deliveries = latencies.length;
  const rank = Math.ceil(0.99 * Math.max(expectation.expectedDeliveries, deliveries));
  const p99WithMissingMs = rank === 0 ? Number.NaN : rank > deliveries ? Number.POSITIVE_INFINITY : latencies[rank - 1]!;
  const measuredSeconds = (last.at - first.at) / 1000;
  const serverCpuSeconds = last.cpu - first.cpu;
  const redisCommands: Record<string, number> = {};
  let redisTotal = 0;
  for (const [command, calls] of Object.entries(last.redis.commands)) {
    if (PARENT_COMMANDS.has(command)) continue;
    const delta = calls - (first.redis.commands[command] ?? 0);
    if (delta <= 0) continue;
    redisCommands[command] = delta;
    redisTotal += delta;
  }
  const serverCounters: Record<string, number> = {};
  for (const [name, value] of Object.entries(last.stats.counters)) serverCounters[name] = value - (first.stats.counters[name] ?? 0);
  const sentInWindow = sum((r) => r.sentInWindow);
  const disconnects = sum((r) => r.disconnects);
  const unanswered = sum((r) => r.unanswered);
  const filterViolations = sum((r) => r.filterViolations);
  const errorCount = Object.values(errors).reduce((a, b) => a + b, 0);

  const failures: string[] = [];
  if (!(p99WithMissingMs < options.p99LimitMs)) {
    failures.push(
      Number.isFinite(p99WithMissingMs)
        ? `p99 ${p99WithMissingMs.toFixed(1)} ms ≥ ${options.p99LimitMs} ms`
        : `more than 1 % of expected deliveries missing (${deliveries} of ${expectation.expectedDeliveries})`,
    );
  }
  if (errorCount > 0) failures.push(`${errorCount} error frames`);
  if (disconnects > 0) failures.push(`${disconnects} disconnects`);
  if (unanswered > 0) failures.push(`${unanswered} location frames unanswered`);
  if (level.connect.failed > 0) failures.push(`${level.connect.failed} connections failed`);
  if (sentInWindow < 0.97 * offered * windowSeconds) failures.push(`generator sent only ${(sentInWindow / windowSeconds).toFixed(0)} of ${offered.toFixed(0)} updates/s`);

  const result: StepResult = {
    contender,
    step: index,
    connections: plan.connections,
    compression: plan.compression,
    periodMs,
    offeredPerSecond: offered,
    equivalentUsers: plan.connections * plan.compression,
    windowSeconds,
    sentPerSecond: sentInWindow / windowSeconds,
    deliveredPerSecond: deliveries / windowSeconds,
    framesPerSecond: sum((r) => r.framesInWindow) / windowSeconds,
    entriesPerSecond: sum((r) => r.entriesInWindow) / windowSeconds,
    filteredOutPerSecond: sum((r) => r.filteredOutInWindow) / windowSeconds,
    expectation,
    deliveries,
    deliveryRatio: expectation.expectedDeliveries === 0 ? Number.NaN : deliveries / expectation.expectedDeliveries,
    latency: summarize(latencies),
    p99WithMissingMs,
    serverCpuShare: serverCpuSeconds / measuredSeconds,
    serverLoopDelay: last.stats.loopDelay,
    serverCpuSecondsPer1000Deliveries: deliveries === 0 ? Number.NaN : (serverCpuSeconds * (windowSeconds / measuredSeconds)) / (deliveries / 1000),
    redisCpuShare: (last.redis.cpuSeconds - first.redis.cpuSeconds) / measuredSeconds,
    generatorCpuShare: sum((r) => r.cpuUs) / 1e6 / windowSeconds,
    redisCommandsPerUpdate: sentInWindow === 0 ? Number.NaN : (redisTotal * (windowSeconds / measuredSeconds)) / sentInWindow,
    redisCommands,
    serverCounters,
    errors,
    disconnects,
    ackExpected: sum((r) => r.ackExpected),
    unanswered,
    repeatedEntries: sum((r) => r.repeatedEntries),
    viewerMoveEntries: sum((r) => r.viewerMoveEntries),
    outOfOrder: sum((r) => r.outOfOrder),
    strangers: sum((r) => r.strangers),
    friendLeft: sum((r) => r.friendLeft),
    strangerEntriesPerSecond: sum((r) => r.strangerEntriesInWindow) / windowSeconds,
    strangerLeft: sum((r) => r.strangerLeft),
    strangerPrivacyViolations: sum((r) => r.strangerPrivacyViolations),
    strangerPrivacyExamples: results.flatMap((r) => r.strangerPrivacyExamples).slice(0, 5),
    filterChecked: sum((r) => r.filterChecked),
    filterViolations,
    violationExamples: results.flatMap((r) => r.violationExamples).slice(0, 5),
    verification,
    slowest: results
      .flatMap((r) => r.slowest)
      .sort((a, b) => b.latencyMs - a.latencyMs)
      .slice(0, 5)
      .map((slow) => slow.text),
    sendLagP99Ms: Math.max(...results.map((r) => r.sendLagP99Ms)),
    sendLagMaxMs: Math.max(...results.map((r) => r.sendLagMaxMs)),
    held: failures.length === 0,
    failures,
    serverRssStartBytes: first.stats.rssBytes,
    serverRssEndBytes: last.stats.rssBytes,
  };
  console.log(
    `[${contender}] step ${index + 1} window: sent ${result.sentPerSecond.toFixed(0)}/s, delivered ${result.deliveredPerSecond.toFixed(0)}/s ` +
      `(ratio ${(result.deliveryRatio * 100).toFixed(1)} %), p50/p95/p99 ${result.latency.p50.toFixed(1)}/${result.latency.p95.toFixed(1)}/${result.latency.p99.toFixed(1)} ms, ` +
      `server CPU ${(result.serverCpuShare * 100).toFixed(0)} %, generators ${(result.generatorCpuShare * 100).toFixed(0)} %` +
      (result.held ? '' : ` — NOT HELD: ${failures.join('; ')}`),
  );
  return result;
}
