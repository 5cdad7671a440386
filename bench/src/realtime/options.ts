/** Command-line options of `pnpm bench` (realtime benchmark), their defaults per mode, and validation. */
import { parseArgs } from 'node:util';
import { CONTENDERS, type Contender } from './ipc.js';
import type { FriendGraphKind } from './scenario.js';

export type Mode = 'quick' | 'ramp' | 'smoke' | 'scale';

export interface StepPlan {
  connections: number;
  /** Time compression C: a user sends every T / C real seconds. */
  compression: number;
}

export interface BenchOptions {
  mode: Mode;
  /** The named scenario: `uniform` (random friends in a 24 km square) or `city` (locality-biased friends in 40 km). */
  scenario: FriendGraphKind;
  /** `city`: online friends that are neighbours in the locality order. */
  nearFriends: number;
  contenders: Contender[];
  /** N: connections (online users). In ramp mode, set only when given (then fixed for every step). */
  connections: number;
  friends: number;
  periodSeconds: number;
  compression: number;
  onlineShare: number;
  areaKm: number;
  radiusKm: number;
  speedMps: number;
  seed: number;
  generators: number;
  warmupSeconds: number;
  seconds: number;
  cooldownSeconds: number;
  /** Ramp: offered location updates per second of the steps, and the connection count of each. */
  rampSteps: StepPlan[];
  /** Ramp: N for every step when fixed (given, or the city's); otherwise N grows with the rate. */
  rampFixedConnections: number | undefined;
  /** Ramp: after a contender's last held step, run steps at these multiples of its held rate (goodput under overload). */
  overload: number[];
  p99LimitMs: number;
  cpuProf: boolean;
  /** Write a heap snapshot of each server child after connecting, and summarise it per connection. */
  heapSnapshot: boolean;
  /** Extra Node.js flags for the server child (e.g. `--trace-gc`), split on spaces. */
  serverNodeOptions: string[];
  /** Loopback source addresses the generators connect from (127.0.0.2 …), user i from the (i mod K)-th; empty: the OS's choice. */
  sourceAddresses: string[];
  /** Connections each load generator opens at once while connecting. */
  connectConcurrency: number;
  /** The command line as typed, for the report. */
  command: string;
}

interface NumberSpec {
  min: number;
  max: number;
  integer: boolean;
  help: string;
}

const NUMBERS = {
  connections: { min: 2, max: 19_900, integer: true, help: 'N: connections = online users (quick 2000, city 5000, smoke 100, scale 19000; ramp: 1000/2000/4000/8000 by rate, city 5000)' },
  friends: { min: 2, max: 5_000, integer: true, help: 'F: friends per user, online and offline (uniform 400, city 100)' },
  'near-friends': { min: 0, max: 5_000, integer: true, help: 'city: online friends that are neighbours in the locality order, even (6)' },
  period: { min: 1, max: 3_600, integer: false, help: 'T: simulated seconds between two location updates of a user (30, scale 12)' },
  compression: { min: 0.01, max: 10_000, integer: false, help: 'C: time compression, a user sends every T/C real seconds (quick 15, smoke 30, scale 1)' },
  rate: { min: 1, max: 100_000, integer: false, help: 'offered location updates per second; sets C = rate × T / N (instead of --compression)' },
  'online-share': { min: 0.01, max: 1, integer: false, help: 'share of friends online (uniform 0.1 → 40 of 400; city 0.5 → 50 of 100)' },
  'area-km': { min: 1, max: 1_000, integer: false, help: 'side of the square the users live in, km (uniform 24: about 25 % of pairs within 8 km; city 38)' },
  seed: { min: 0, max: 2 ** 31 - 1, integer: true, help: 'seed of the scenario (1)' },
  generators: { min: 1, max: 8, integer: true, help: 'load generator processes (2)' },
  'source-addresses': { min: 0, max: 250, integer: true, help: 'K: connect from 127.0.0.2 … 127.0.0.(K+1), user i from the (i mod K)-th, so the ephemeral ports of one address are not the limit (scale 4, else 0: the OS picks 127.0.0.1)' },
  'connect-concurrency': { min: 1, max: 1_000, integer: true, help: 'connections each load generator opens at once while connecting (50, scale 100)' },
  'warmup-seconds': { min: 0, max: 60, integer: false, help: 'load before each measured window (quick 4, ramp 3, smoke 1, scale one period T/C)' },
  seconds: { min: 1, max: 120, integer: false, help: 'measured window per step (quick 12, ramp 8, smoke 2, scale 12)' },
  'cooldown-seconds': { min: 0.5, max: 30, integer: false, help: 'load after the window while its deliveries arrive (quick 2, ramp 2, smoke 1)' },
  'p99-limit-ms': { min: 1, max: 10_000, integer: false, help: 'ramp: a step is held while p99 (undelivered counted as late) is below this (100)' },
} satisfies Record<string, NumberSpec>;
type NumberOption = keyof typeof NUMBERS;

/** Ramp: offered updates/s per step; the connection count grows with the rate (C mostly between 7.5 and 45). */
const RAMP_RATES = [250, 500, 750, 1_000, 1_250, 1_500, 1_750, 2_000, 2_500, 3_000, 3_500, 4_000, 5_000, 6_000, 8_000, 10_000, 12_000];
export function rampConnections(rate: number): number {
  if (rate <= 500) return 1_000;
  if (rate <= 3_000) return 2_000;
  if (rate <= 6_000) return 4_000;
  return 8_000;
}

export function usage(): string {
  const lines = [
    'Usage: pnpm bench [-- options]          quick comparison, under 2 minutes',
    '       pnpm bench -- --mode ramp         raise the load until p99 ≥ 100 ms or errors, about 10 minutes',
    '       pnpm bench:smoke                  tiny run of the contenders (CI)',
    '       pnpm bench -- --mode scale        19000 connections of the city at a 12 s period, Nearby in memory, about 2 minutes',
    '',
    'Options:',
    `  --${'mode'.padEnd(20)} quick | ramp | smoke | scale (quick)`,
    `  --${'scenario'.padEnd(20)} uniform | city (uniform): random friends in a 24 km square, or 5000 users with locality-biased friends in 38 km`,
    `  --${'contenders'.padEnd(20)} comma-separated subset of ${CONTENDERS.join(',')} (all but nearby-strangers; smoke: all but nearby-memory; ramp: all but nearby-metrics and nearby-strangers)`,
    ...Object.entries(NUMBERS).map(([name, spec]) => `  --${name.padEnd(20)} ${spec.help}; ${spec.min}…${spec.max}`),
    `  --${'ramp-rates'.padEnd(20)} ramp: offered updates/s per step, comma-separated (${RAMP_RATES.join(',')})`,
    `  --${'overload'.padEnd(20)} ramp: then offer these multiples of each contender's held rate, comma-separated, or none (2,5)`,
    `  --${'cpu-prof'.padEnd(20)} start the server child with --cpu-prof --cpu-prof-dir bench/results/profiles and print its hottest functions during the window`,
    `  --${'heap-snapshot'.padEnd(20)} write a heap snapshot of each server child once all users are connected (bench/results/profiles) and list its largest constructors per connection`,
    `  --${'server-node-options'.padEnd(20)} extra Node.js flags for the server child, space-separated, e.g. --server-node-options="--trace-gc --max-semi-space-size=64" (use =)`,
    `  --${'help'.padEnd(20)} this text`,
    '',
    'Every run is bounded: each step stops by itself, and a watchdog ends the run if it takes far longer than planned.',
  ];
  return lines.join('\n');
}

export class UsageError extends Error {}

export function readOptions(argv: string[]): BenchOptions | 'help' {
  const args = argv.filter((arg) => arg !== '--');
  const { values } = parseArgs({
    args,
    options: {
      ...Object.fromEntries(Object.keys(NUMBERS).map((name) => [name, { type: 'string' as const }])),
      mode: { type: 'string' },
      scenario: { type: 'string' },
      contenders: { type: 'string' },
      'ramp-rates': { type: 'string' },
      overload: { type: 'string' },
      'cpu-prof': { type: 'boolean' },
      'heap-snapshot': { type: 'boolean' },
      'server-node-options': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help === true) return 'help';
  const nodeOptions = (values as Record<string, unknown>)['server-node-options'];
  if (typeof nodeOptions === 'string' && nodeOptions.split(' ').some((flag) => flag !== '' && !flag.startsWith('--'))) {
    throw new UsageError(`--server-node-options takes Node.js flags (each starting with --), got ${nodeOptions}`);
  }
  const raw = values as Record<string, string | boolean | undefined>;
  const mode = (raw.mode ?? 'quick') as string;
  if (mode !== 'quick' && mode !== 'ramp' && mode !== 'smoke' && mode !== 'scale') throw new UsageError(`--mode must be quick, ramp, smoke or scale, got ${mode}`);

  // Scale mode runs the city unless told otherwise: 400 friends per user would measure the friend lists, not the connections.
  const scenario = (raw.scenario ?? (mode === 'scale' ? 'city' : 'uniform')) as string;
  if (scenario !== 'uniform' && scenario !== 'city') throw new UsageError(`--scenario must be uniform or city, got ${scenario}`);
  const city = scenario === 'city';

  const read = (name: NumberOption, fallback: number): number => {
    const spec: NumberSpec = NUMBERS[name];
    const text = raw[name];
    if (text === undefined) return fallback;
    const value = Number(text);
    if (typeof text !== 'string' || text.trim() === '' || !Number.isFinite(value) || value < spec.min || value > spec.max || (spec.integer && !Number.isInteger(value))) {
      throw new UsageError(`--${name} must be ${spec.integer ? 'an integer' : 'a number'} in ${spec.min}…${spec.max}, got ${String(text)}`);
    }
    return value;
  };
  const given = (name: NumberOption): boolean => raw[name] !== undefined;

  // Smoke (CI) leaves out Nearby in memory, the same server as `nearby` without Redis, to stay short;
  // ramp leaves out Nearby with metrics, whose question (what metrics cost) a fixed load answers;
  // only smoke includes Nearby with strangers by default, which needs a dense scenario to say much.
  let contenders: Contender[] =
    mode === 'smoke'
      ? CONTENDERS.filter((name) => name !== 'nearby-memory')
      : mode === 'scale'
        ? ['nearby-memory']
        : mode === 'ramp'
          ? CONTENDERS.filter((name) => name !== 'nearby-metrics' && name !== 'nearby-strangers')
          : CONTENDERS.filter((name) => name !== 'nearby-strangers');
  if (typeof raw.contenders === 'string') {
    const names = raw.contenders.split(',').map((name) => name.trim()).filter((name) => name !== '');
    const unknown = names.filter((name) => !(CONTENDERS as readonly string[]).includes(name));
    if (names.length === 0 || unknown.length > 0) throw new UsageError(`--contenders takes a comma-separated subset of ${CONTENDERS.join(', ')}; got ${raw.contenders}`);
    contenders = CONTENDERS.filter((name) => names.includes(name));
  }

  const defaults = {
    quick: { connections: 2_000, compression: 15, warmup: 4, seconds: 12, cooldown: 2 },
    smoke: { connections: 100, compression: 30, warmup: 1, seconds: 2, cooldown: 1 },
    ramp: { connections: 2_000, compression: 15, warmup: 3, seconds: 8, cooldown: 2 },
    scale: { connections: 19_000, compression: 1, warmup: 12, seconds: 12, cooldown: 2 },
  }[mode];
  const periodSeconds = read('period', mode === 'scale' ? 12 : 30);
  // The city: 5000 users at 1000 updates/s (C = 6 at T = 30 s) unless told otherwise.
  const connections = read('connections', city && (mode === 'quick' || mode === 'ramp') ? 5_000 : defaults.connections);
  if (city && mode === 'quick' && !given('compression') && !given('rate')) defaults.compression = (1_000 * periodSeconds) / connections;
  if (given('rate') && given('compression')) throw new UsageError('give either --rate or --compression, not both');
  const compression = given('rate') ? (read('rate', 0) * periodSeconds) / connections : read('compression', defaults.compression);
  const periodMs = (periodSeconds * 1000) / compression;
  if (mode !== 'ramp' && periodMs < 50) {
    throw new UsageError(`a user would send every ${periodMs.toFixed(1)} ms (T/C); keep T/C ≥ 50 ms (lower --compression or --rate, or raise --connections)`);
  }
  const friends = read('friends', city ? 100 : 400);
  const onlineShare = read('online-share', city ? 0.5 : 0.1);
  const nearFriends = read('near-friends', city ? 6 : 0);
  if (!city && given('near-friends')) throw new UsageError('--near-friends needs --scenario city');
  if (nearFriends % 2 !== 0) throw new UsageError(`--near-friends must be even (half on either side in the locality order), got ${nearFriends}`);

  let rampSteps: StepPlan[] = [];
  if (mode === 'ramp') {
    let rates = RAMP_RATES;
    if (typeof raw['ramp-rates'] === 'string') {
      rates = raw['ramp-rates'].split(',').map((rate) => Number(rate.trim()));
      if (rates.length < 1 || rates.length > 24 || rates.some((rate) => !Number.isFinite(rate) || rate < 10 || rate > 100_000)) {
        throw new UsageError(`--ramp-rates takes 1 to 24 rates in 10…100000 updates/s; got ${raw['ramp-rates']}`);
      }
      rates = [...rates].sort((a, b) => a - b);
    }
    rampSteps = rates.map((rate) => {
      const n = given('connections') || city ? connections : rampConnections(rate);
      const c = (rate * periodSeconds) / n;
      if ((periodSeconds * 1000) / c < 50) throw new UsageError(`ramp step at ${rate}/s with ${n} connections would send every ${((periodSeconds * 1000) / c).toFixed(1)} ms per user; raise --connections`);
      return { connections: n, compression: c };
    });
  } else if (typeof raw['ramp-rates'] === 'string') {
    throw new UsageError('--ramp-rates needs --mode ramp');
  }
  let overload: number[] = mode === 'ramp' ? [2, 5] : [];
  if (typeof raw.overload === 'string') {
    if (mode !== 'ramp') throw new UsageError('--overload needs --mode ramp');
    overload = raw.overload === 'none' ? [] : raw.overload.split(',').map((m) => Number(m.trim()));
    if (overload.length > 4 || overload.some((m) => !Number.isFinite(m) || m <= 1 || m > 20)) {
      throw new UsageError(`--overload takes up to 4 multiples in (1, 20], comma-separated, or none; got ${raw.overload}`);
    }
  }

  return {
    mode,
    scenario,
    nearFriends,
    contenders,
    connections,
    friends,
    periodSeconds,
    compression,
    onlineShare,
    areaKm: read('area-km', city ? 38 : 24),
    radiusKm: 8,
    speedMps: 1.4,
    seed: read('seed', 1),
    generators: read('generators', 2),
    // Scale: a warm-up of one period, so that every user has sent before the window.
    warmupSeconds: read('warmup-seconds', mode === 'scale' ? Math.min(60, periodMs / 1000) : defaults.warmup),
    seconds: read('seconds', defaults.seconds),
    cooldownSeconds: read('cooldown-seconds', defaults.cooldown),
    rampSteps,
    rampFixedConnections: given('connections') || city ? connections : undefined,
    overload,
    p99LimitMs: read('p99-limit-ms', 100),
    cpuProf: raw['cpu-prof'] === true,
    heapSnapshot: raw['heap-snapshot'] === true,
    serverNodeOptions: typeof raw['server-node-options'] === 'string' ? raw['server-node-options'].split(' ').filter((flag) => flag !== '') : [],
    sourceAddresses: Array.from({ length: read('source-addresses', mode === 'scale' ? 4 : 0) }, (_, i) => `127.0.0.${i + 2}`),
    connectConcurrency: read('connect-concurrency', mode === 'scale' ? 100 : 50),
    command: `pnpm bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`,
  };
}
