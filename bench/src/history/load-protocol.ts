import type { LatencySummary } from '../common/stats.js';

/** What the parent asks the load generator (a child process) to do. */
export interface LoadConfig {
  /** `ws://127.0.0.1:<port>/nearby`. */
  url: string;
  /** Prefix of the user ids (= tokens); the server's `authenticate` returns the token as is. */
  userPrefix: string;
  connections: number;
  /** Offered load, in samples per second over all connections. */
  samplesPerSecond: number;
  samplesPerFrame: number;
  /** Load before the measured window; its frames are not counted. */
  warmupMs: number;
  /** Length of the measured window. */
  durationMs: number;
  /** After the last frame, how long to wait for the answers still outstanding. */
  drainTimeoutMs: number;
}

export interface LoadResult {
  connections: number;
  /** Frames and samples sent during the measured window. */
  framesSent: number;
  samplesSent: number;
  /** Send time → `ack` of frames sent during the measured window, in ms. */
  latency: LatencySummary;
  /** Samples of measured frames whose `ack` arrived inside the measured window, per second. */
  ackedSamplesPerSecondInWindow: number;
  /** Samples of measured frames acknowledged by the end of the drain. */
  samplesAcked: number;
  /** `error` frames with a `seq` answering measured frames, by code. */
  errors: Record<string, number>;
  /** `error` frames without a `seq` (e.g. rate limiting of all frames). */
  otherErrors: number;
  /** Measured frames with neither `ack` nor `error` by the end of the drain. */
  unanswered: number;
  /** How late the generator sent frames against their schedule, in ms (shows whether it kept up). */
  sendLagMs: { p99: number; max: number };
  /** CPU time of the generator process during the measured window, as a share of one core. */
  cpuShareOfOneCore: number;
  /** How long the drain took, in ms. */
  drainMs: number;
}

export type ChildMessage =
  | { type: 'measure-start' }
  | { type: 'measure-end' }
  | { type: 'result'; result: LoadResult }
  | { type: 'failed'; message: string };

export type ParentMessage = { type: 'run'; config: LoadConfig };
