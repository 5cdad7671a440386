/** Messages between the benchmark's parent process and its children (server, load generators, Redis keeper). */
import type { ScenarioParams } from './scenario.js';

export const CONTENDERS = ['nearby', 'nearby-memory', 'nearby-metrics', 'nearby-strangers', 'socketio', 'ws-ceiling', 'ideal'] as const;
export type Contender = (typeof CONTENDERS)[number];

/** Nearby itself (on Redis or in memory): answers every `location` frame with an `ack`. */
export function isNearby(contender: Contender): boolean {
  return contender === 'nearby' || contender === 'nearby-memory' || contender === 'nearby-metrics' || contender === 'nearby-strangers';
}

/** Every user opts into both discoverability and seeing strangers (Nearby on Redis with strangers on). */
export function seesStrangers(contender: Contender): boolean {
  return contender === 'nearby-strangers';
}

/** Speaks Nearby's wire protocol and filters by radius on the server (Nearby and the ideal server). */
export function filtersOnServer(contender: Contender): boolean {
  return isNearby(contender) || contender === 'ideal';
}

// ------------------------------------------------------------------ server child

export type ServerRequest =
  | { type: 'start'; contender: Contender; scenario: ScenarioParams; redisUrl: string }
  | { type: 'stats'; id: number; gc: boolean; resetLoopDelay?: boolean }
  | { type: 'heap-snapshot'; id: number; path: string }
  | { type: 'stop' };

export interface ServerStats {
  rssBytes: number;
  heapUsedBytes: number;
  /** The server process's own counters (Nearby's `server.stats()`, message counts of the others). */
  counters: Record<string, number>;
  /** process.hrtime in µs when the stats were taken (the clock of `--cpu-prof` profiles). */
  hrtimeUs: number;
  /** Event-loop delay since the last reset (perf_hooks, 5 ms resolution), ms. */
  loopDelay: { p50Ms: number; p99Ms: number; maxMs: number };
}

export type ServerReply =
  | { type: 'listening'; port: number; url: string }
  | { type: 'stats'; id: number; stats: ServerStats }
  | { type: 'heap-snapshot'; id: number; path: string }
  | { type: 'failed'; message: string };

// ------------------------------------------------------------------ load generator

export interface GeneratorSetup {
  contender: Contender;
  /** Server address: ws://127.0.0.1:<port> (the path is the contender's). */
  baseUrl: string;
  scenario: ScenarioParams;
  /** This generator serves the users whose index ≡ `slot` (mod `slots`). */
  slot: number;
  slots: number;
  /** Connections opened at once while connecting. */
  connectConcurrency: number;
  /** Local addresses to connect from, user i from the (i mod length)-th; empty: the OS's choice. */
  sourceAddresses: string[];
}

/** One load step: every user sends once per `periodMs` at its phase, from t0 until sendEnd. */
export interface StepConfig {
  step: number;
  /** Wall-clock times (clock.ts), ms since the epoch. */
  t0: number;
  windowStart: number;
  windowEnd: number;
  /** Last send is before this; deliveries of window sends are awaited until `end`. */
  sendEnd: number;
  end: number;
  /** Real time between two updates of one user: T / C. */
  periodMs: number;
}

export interface Progress {
  step: number;
  /** Seconds since t0 (1 = the first second). */
  second: number;
  sent: number;
  deliveries: number;
  frames: number;
  /** Latencies of this second's deliveries, sparse histogram (histogram.ts). */
  histogram: number[];
}

export interface GeneratorResult {
  step: number;
  users: number;
  /** Location updates sent during the window, and in the whole step. */
  sentInWindow: number;
  sentTotal: number;
  /** How late updates left against their schedule (p99 / max ms): shows whether the generator kept up. */
  sendLagP99Ms: number;
  sendLagMaxMs: number;
  /** Latency (send → receipt, ms) of every delivery of an update sent inside the window. */
  latencies: Float64Array;
  /** Frames (WebSocket messages) and friend entries received during the window. */
  framesInWindow: number;
  entriesInWindow: number;
  /** Socket.IO / ws-ceiling: entries of friends farther than the radius, discarded by the client (window). */
  filteredOutInWindow: number;
  /** Nearby: entries repeating a position already received (the viewer moved, the distance changed), received in the window. */
  repeatedEntries: number;
  /** Nearby: first entries of a position that reached the viewer because the viewer moved into range, received in the window. */
  viewerMoveEntries: number;
  /** The slowest deliveries of the window, described. */
  slowest: Array<{ latencyMs: number; text: string }>;
  /** Entries older than one already received from the same friend. */
  outOfOrder: number;
  /** Entries naming a user who is not an online friend of the receiver. */
  strangers: number;
  friendLeft: number;
  /** nearby-strangers: stranger entries received in the window, and `stranger_left` frames. */
  strangerEntriesInWindow: number;
  strangerLeft: number;
  /** Stranger entries whose position is finer than the protocol's coarsened one (4 decimals, integer km), or equals a sender's exact position. */
  strangerPrivacyViolations: number;
  strangerPrivacyExamples: string[];
  /** Nearby: entries checked against the viewer's recent true positions, and those farther than radius + tolerance. */
  filterChecked: number;
  filterViolations: number;
  violationExamples: string[];
  /** Nearby: location frames of the window, and those without ack when the step ended. */
  ackExpected: number;
  unanswered: number;
  errors: Record<string, number>;
  /** Sockets that closed or failed while the step ran. */
  disconnects: number;
  /** CPU time of this generator during the window, µs. */
  cpuUs: number;
  /** [user, wall time, lat, lon] per update: each user's position before the step (time = t0 − 1), then every send. */
  sendLog: Float64Array;
  /** [sender, decoded send time, lat, lon] of a sample of deliveries, checked by the parent against the send log. */
  deliverySamples: Float64Array;
}

export type GeneratorRequest =
  | { type: 'connect'; setup: GeneratorSetup }
  | { type: 'clock'; parentNow: number }
  | { type: 'run'; step: StepConfig }
  | { type: 'stop' };

export type GeneratorReply =
  | { type: 'connected'; connected: number; failed: number; firstError: string | undefined; ms: number }
  | { type: 'clock'; parentNow: number; childNow: number }
  | { type: 'progress'; progress: Progress }
  | { type: 'result'; result: GeneratorResult }
  | { type: 'failed'; message: string };

// ------------------------------------------------------------------ redis keeper

export type KeeperReply = { type: 'ready'; url: string; port: number } | { type: 'failed'; message: string };
export type KeeperRequest = { type: 'stop' };
