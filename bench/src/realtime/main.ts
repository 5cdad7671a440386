/**
 * `pnpm bench` — the realtime benchmark: Nearby (on Redis and in memory) against Socket.IO (with
 * its Redis adapter), a bare `ws` relay and an ideal radius-filtering server, on the same scenario, the same load generator and the same
 * redis-server, in the same run. Each server runs in a child process of its own; the load
 * generators are further child processes; redis-server is started for the run and stopped at
 * the end (also on Ctrl+C, a signal, or if this process dies).
 *
 *   pnpm bench                   quick comparison at one offered load (under 3 minutes)
 *   pnpm bench -- --mode ramp    raise the load until p99 ≥ 100 ms or errors (about 10 minutes)
 *   pnpm bench:smoke             tiny run of the contenders but Nearby in memory (CI)
 *
 * Prints progress once a second and a Markdown report, and writes the report and every figure
 * to bench/results/realtime-<timestamp>.{md,json}.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Children, sendTo, waitForMessage } from '../common/child.js';
import { describeMachine, fileStamp, gitCommit } from '../common/environment.js';
import { fmt } from '../common/stats.js';
import { filtersOnServer, seesStrangers, type Contender, type KeeperReply, type KeeperRequest } from './ipc.js';
import { rampConnections, readOptions, usage, UsageError, type BenchOptions, type StepPlan } from './options.js';
import { LABEL, toMarkdown, type Check, type Report } from './report.js';
import { runLevel, type LevelResult, type RunContext, type StepResult } from './run.js';
import { checkStamps } from './stamp.js';

const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const repoRoot = join(benchDir, '..');
const resultsDir = join(benchDir, 'results');

/** The levels (one server start + connect each) a contender runs: one in quick/smoke mode, one per connection count in ramp mode. */
function levelsOf(options: BenchOptions): StepPlan[][] {
  if (options.mode !== 'ramp') return [[{ connections: options.connections, compression: options.compression }]];
  const levels: StepPlan[][] = [];
  for (const step of options.rampSteps) {
    const current = levels[levels.length - 1];
    if (current !== undefined && current[0]!.connections === step.connections) current.push(step);
    else levels.push([step]);
  }
  return levels;
}

function plannedSeconds(options: BenchOptions): number {
  const perStep = options.warmupSeconds + options.seconds + options.cooldownSeconds + 1;
  const levels = levelsOf(options);
  const steps = levels.reduce((n, level) => n + level.length, 0);
  const overload = options.mode === 'ramp' ? options.overload.length * (15 + perStep) : 0;
  return options.contenders.length * (levels.length * 15 + steps * perStep + overload);
}

/** Ramp: steps at multiples of a held rate, grouped into levels by connection count. */
function overloadLevels(options: BenchOptions, heldRate: number): StepPlan[][] {
  const levels: StepPlan[][] = [];
  for (const multiple of options.overload) {
    const rate = heldRate * multiple;
    const connections = options.rampFixedConnections ?? rampConnections(rate);
    const step = { connections, compression: (rate * options.periodSeconds) / connections };
    const current = levels.find((level) => level[0]!.connections === connections);
    if (current !== undefined) current.push(step);
    else levels.push([step]);
  }
  return levels;
}

function buildChecks(options: BenchOptions, levels: LevelResult[], stamp: ReturnType<typeof checkStamps>): Check[] {
  const checks: Check[] = [];
  checks.push({
    name: 'send time carried in the latitude (unit check)',
    ok: stamp.ok,
    detail: `${fmt(stamp.cases)} random positions and send times through JSON and back: worst error ${stamp.maxErrorMs.toExponential(2)} ms, positions moved ≤ ${stamp.maxOffsetM.toFixed(2)} m`,
  });
  const clocks = levels.filter((level) => Number.isFinite(level.clockOffsetMs));
  if (clocks.length > 0) {
    const worst = Math.max(...clocks.map((level) => level.clockOffsetMs));
    const rtt = Math.max(...clocks.map((level) => level.clockRoundTripMs));
    checks.push({
      name: 'shared wall clock across processes',
      ok: worst < 1,
      detail: `generator clock − parent clock at most ${worst.toFixed(3)} ms (measured over IPC, round trip ≤ ${rtt.toFixed(2)} ms)`,
    });
  }
  for (const contender of options.contenders.filter(filtersOnServer)) {
    const serverSteps = levels.filter((level) => level.contender === contender).flatMap((level) => level.steps);
    if (serverSteps.length === 0) continue;
    // In a ramp step that was not held, the server may read a viewer's location frames seconds
    // late, so its picture of where the viewer is lags more than the check's 1 s of slack: such
    // entries are reported, not failed.
    const overloaded = (s: StepResult) => options.mode === 'ramp' && !s.held;
    const checked = serverSteps.reduce((n, s) => n + s.filterChecked, 0);
    const violations = serverSteps.filter((s) => !overloaded(s)).reduce((n, s) => n + s.filterViolations, 0);
    const lagging = serverSteps.filter(overloaded).reduce((n, s) => n + s.filterViolations, 0);
    const examples = serverSteps.flatMap((s) => s.violationExamples).slice(0, 3);
    checks.push({
      name: `${LABEL[contender]} never delivers a friend outside ${options.radiusKm} km`,
      ok: violations === 0 && checked > 0,
      detail: `${fmt(checked)} friend entries checked against the receiver's true positions (tolerance 5 m, positions held since the friend's send − 1 s): ${fmt(violations)} outside${lagging > 0 ? `, and ${fmt(lagging)} in overloaded steps (not held; the server read the viewer's position more than 1 s late)` : ''}${examples.length > 0 ? ` — e.g. ${examples.join('; ')}` : ''}`,
    });
  }
  for (const level of levels) {
    for (const step of level.steps) {
      const where = `${level.contender}${options.mode === 'ramp' ? ` N=${level.connections} C=${step.compression.toFixed(1)}` : ''}`;
      const v = step.verification;
      checks.push({
        name: `${where}: delivered positions equal the sent ones`,
        ok: v.sampled > 0 && v.exact === v.sampled,
        detail: `${fmt(v.exact)} of ${fmt(v.sampled)} sampled deliveries carry exactly the sender's latitude (with its time stamp) and longitude${v.examples.length > 0 ? ` — ${v.examples.join('; ')}` : ''}`,
      });
      const ratioOk = step.deliveryRatio >= 0.95 && step.deliveryRatio <= 1.02;
      checks.push({
        name: `${where}: delivery ratio`,
        ok: ratioOk || (options.mode === 'ramp' && !step.held),
        detail: `${fmt(step.deliveries)} delivered of ${fmt(step.expectation.expectedDeliveries)} expected in-range (update, friend) pairs = ${(step.deliveryRatio * 100).toFixed(2)} %${ratioOk ? '' : options.mode === 'ramp' && !step.held ? ' (overloaded step)' : ' (outside 95–102 %)'}; out of order ${fmt(step.outOfOrder)}, from non-friends ${fmt(step.strangers)}`,
      });
    }
    if (seesStrangers(level.contender)) {
      const steps = level.steps;
      const received = steps.reduce((n, s) => n + s.strangerEntriesPerSecond * s.windowSeconds, 0);
      const leaks = steps.reduce((n, s) => n + s.strangerPrivacyViolations, 0);
      const examples = steps.flatMap((s) => s.strangerPrivacyExamples).slice(0, 3);
      checks.push({
        name: `${level.contender}: strangers receive only coarsened positions`,
        // A smoke run is too small and too friendly (nearly everyone is a friend) to be sure of strangers.
        ok: leaks === 0 && (received > 0 || options.mode === 'smoke'),
        detail: `${fmt(Math.round(received))} stranger entries received in the window(s): ${fmt(leaks)} with a position finer than 4 decimals or a distance not in whole km${examples.length > 0 ? ` — e.g. ${examples.join('; ')}` : ''}`,
      });
    }
    if (level.connect.failed > 0 || level.error !== undefined) {
      checks.push({
        name: `${level.contender} N=${level.connections}: run completed`,
        ok: false,
        detail: level.error ?? `${level.connect.failed} connections failed (${level.connect.firstError})`,
      });
    }
  }
  return checks;
}

/** This process's open-file limit (inherited by the children), if the shell can tell. */
function openFileLimit(): number | undefined {
  try {
    const limit = Number(execFileSync('sh', ['-c', 'ulimit -n']).toString().trim());
    return Number.isFinite(limit) && limit > 0 ? limit : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    const read = readOptions(process.argv.slice(2));
    if (read === 'help') {
      console.log(usage());
      return 0;
    }
    options = read;
  } catch (error) {
    if (error instanceof UsageError || (error instanceof Error && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
      console.error(`${error.message}\n\n${usage()}`);
      return 2;
    }
    throw error;
  }

  // Every socket is a file: the server child holds N of them, each load generator N / generators.
  const openFiles = openFileLimit();
  if (openFiles !== undefined && options.connections + 200 > openFiles) {
    console.error(`bench: ${options.connections} connections need ${options.connections + 200} open files in the server child; the limit is ${openFiles} (ulimit -n)`);
    return 2;
  }

  const started = new Date();
  const children = new Children();
  let aborted = false;
  let keeper: ReturnType<Children['fork']> | undefined;
  let redis: Redis | undefined;

  // Whatever happens, no child (server, generators, Redis keeper → redis-server) outlives us.
  process.on('exit', () => children.killAll('SIGTERM'));
  const stopNow = (why: string, code: number) => {
    if (aborted) return;
    aborted = true;
    console.error(`\nbench: ${why}; stopping the server, the load generators and redis-server…`);
    redis?.disconnect();
    void children.stopAll(3_000, keeper).finally(() => process.exit(code));
  };
  process.once('SIGINT', () => stopNow('interrupted (SIGINT)', 130));
  process.once('SIGTERM', () => stopNow('terminated (SIGTERM)', 143));
  process.once('SIGHUP', () => stopNow('hang-up (SIGHUP)', 129));
  const limitSeconds = Math.ceil(plannedSeconds(options) * 2 + 120);
  const watchdog = setTimeout(() => stopNow(`still running after ${limitSeconds} s (watchdog)`, 1), limitSeconds * 1000);
  watchdog.unref();

  const stamp = checkStamps();
  console.log(
    `Realtime benchmark, mode ${options.mode}: ${options.contenders.join(', ')}. Planned ≈ ${Math.round(plannedSeconds(options))} s (watchdog ${limitSeconds} s).`,
  );
  console.log(`Unit check, send time in the latitude: ${stamp.ok ? 'ok' : 'FAILED'} (worst error ${stamp.maxErrorMs.toExponential(2)} ms over ${stamp.cases} cases, moves ≤ ${stamp.maxOffsetM.toFixed(2)} m)`);

  const levels: LevelResult[] = [];
  let redisVersion = 'redis-server';
  try {
    keeper = children.fork(fileURLToPath(new URL('./redis-keeper.ts', import.meta.url)));
    const ready = await waitForMessage<KeeperReply, KeeperReply>(keeper, (message) => message, 30_000, 'redis-server start');
    if (ready.type === 'failed') throw new Error(`redis-server did not start: ${ready.message}`);
    const redisUrl = ready.url;
    redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    redisVersion = `redis-server ${/redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?'}`;
    console.log(`${redisVersion} on 127.0.0.1:${ready.port} (no persistence), shared by all contenders; FLUSHALL between them.`);

    const ctx: RunContext = { options, children, redisUrl, redis, profilesDir: join(resultsDir, 'profiles'), aborted: () => aborted };
    for (const contender of options.contenders) {
      for (const steps of levelsOf(options)) {
        if (aborted) break;
        const level = await runLevel(ctx, contender, steps, options.mode === 'ramp');
        levels.push(level);
        const last = level.steps[level.steps.length - 1];
        if (options.mode === 'ramp' && (level.error !== undefined || last === undefined || !last.held)) break;
      }
      if (options.mode !== 'ramp' || options.overload.length === 0 || aborted) continue;
      // Past the limit: does goodput hold at a multiple of the held rate, or collapse?
      const ramped = levels.filter((level) => level.contender === contender).flatMap((level) => level.steps);
      const firstFailure = ramped.find((step) => !step.held);
      const held = ramped.filter((step) => step.held && (firstFailure === undefined || step.offeredPerSecond < firstFailure.offeredPerSecond)).pop();
      if (held === undefined) continue;
      for (const steps of overloadLevels(options, held.offeredPerSecond)) {
        if (aborted) break;
        console.log(`\n[${contender}] overload: ${steps.map((step) => `${((step.connections * step.compression) / options.periodSeconds).toFixed(0)}/s`).join(', ')} (multiples of its held ${held.offeredPerSecond.toFixed(0)}/s)`);
        const level = await runLevel(ctx, contender, steps, false);
        level.overloadOf = held.offeredPerSecond;
        levels.push(level);
      }
    }
  } finally {
    redis?.disconnect();
    if (keeper !== undefined) sendTo(keeper, { type: 'stop' } satisfies KeeperRequest);
    if (keeper !== undefined) await children.stop(keeper, 5_000);
    await children.stopAll(3_000, keeper);
  }
  if (aborted) return 130;

  const checks = buildChecks(options, levels, stamp);
  const report: Report = {
    benchmark: 'realtime',
    date: started.toISOString(),
    command: options.command,
    machine: describeMachine(),
    redis: redisVersion,
    gitCommit: gitCommit(repoRoot),
    durationSeconds: (Date.now() - started.getTime()) / 1000,
    options,
    stampCheck: stamp,
    levels,
    checks,
  };
  if (options.mode === 'ramp') {
    report.ramp = options.contenders.map((contender: Contender) => {
      const steps = levels.filter((level) => level.contender === contender && level.overloadOf === undefined).flatMap((level) => level.steps);
      const firstFailure = steps.find((step) => !step.held);
      const held = steps.filter((step) => step.held && (firstFailure === undefined || step.offeredPerSecond < firstFailure.offeredPerSecond));
      const best = held[held.length - 1];
      const failedLevel = levels.find((level) => level.contender === contender && level.overloadOf === undefined && level.error !== undefined);
      return {
        contender,
        heldEquivalentUsers: best?.equivalentUsers ?? 0,
        heldUpdatesPerSecond: best?.offeredPerSecond ?? 0,
        firstFailure:
          firstFailure === undefined
            ? failedLevel?.error
            : `${fmt(firstFailure.equivalentUsers)} equivalent users (${fmt(firstFailure.offeredPerSecond)}/s): ${firstFailure.failures.join('; ')}`,
        reachedTop: firstFailure === undefined && failedLevel === undefined && steps.length === options.rampSteps.length,
      };
    });
  }
  const markdown = toMarkdown(report);
  console.log(`\n${markdown}`);
  mkdirSync(resultsDir, { recursive: true });
  const base = join(resultsDir, `realtime-${options.mode === 'quick' ? '' : `${options.mode}-`}${fileStamp(started)}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdown);
  console.log(`Results written to ${relative(process.cwd(), base)}.{json,md}`);
  clearTimeout(watchdog);

  // The run fails on a broken harness or a broken invariant, never on a performance figure.
  // An overload step that the server cannot answer is a finding (reported), not a broken run.
  const broken = levels.some((level) => level.error !== undefined && level.overloadOf === undefined) || !stamp.ok;
  const filterChecks = checks.filter((check) => check.name.includes(' never delivers a friend outside '));
  const exactness = checks.filter((check) => check.name.endsWith('equal the sent ones'));
  if (broken || filterChecks.some((check) => !check.ok) || exactness.some((check) => !check.ok)) {
    console.error('bench: a run failed or a correctness check failed (see above).');
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error('bench failed:', error);
    process.exitCode = 1;
  },
);
