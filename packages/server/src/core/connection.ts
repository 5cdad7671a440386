import type { ClientFrame, WireErrorCode } from '@nearby/protocol';
import { encodeError } from './frames.js';
import { OutboundQueue, type FrameSink, type FrameTally, type QueueTiming } from './outbound-queue.js';
import type { Timers } from '../timers.js';
import type { Backlog } from './flush-scheduler.js';
import { TokenBucket, type TokenBucketOptions } from './token-bucket.js';

/** The subset of a `ws` WebSocket a connection needs. */
export interface ServerSocket {
  readonly bufferedAmount: number;
  send(data: string, callback?: (error?: Error) => void): void;
  /** Stops reading from the peer (optional): while its parked frames wait, the socket is not read. */
  pause?(): void;
  /** Reads from the peer again. */
  resume?(): void;
  close(code: number, reason: string): void;
  terminate(): void;
}

export type ConnectionPhase = 'new' | 'initializing' | 'ready' | 'closed';

export interface ConnectionLimits {
  frames: TokenBucketOptions;
  locations: TokenBucketOptions;
  now: () => number;
  /** Schedules the outbound queue's flush (shared by every connection of the server). */
  schedule: (flush: () => void) => void;
  /** Timers of the outbound queue (its re-check while blocked). */
  timers: Timers;
  /** Counts frames written. */
  onFramesSent: (count: number) => void;
  /** Counts frames written by type, and error frames by code. */
  tally?: FrameTally;
  /** Latency observations, when the engine has a telemetry. */
  timing?: QueueTiming;
}

/** Most frames held while `init` is in progress; beyond it they are refused as rate-limited. */
const MAX_DEFERRED_FRAMES = 32;

/**
 * One WebSocket of an authenticated user: its phase, budgets and outbound queue. `U` is the
 * engine's per-user state, which the connection only points to.
 */
export class Connection<U = unknown> {
  readonly id: number;
  readonly userId: string;
  readonly socket: ServerSocket;
  readonly queue: OutboundQueue;
  readonly frameBudget: TokenBucket;
  readonly locationBudget: TokenBucket;
  phase: ConnectionPhase = 'new';
  user: U | undefined;
  lastSeenAt: number;
  consecutiveDrops = 0;
  /** True once the core released this connection (subscriptions, user), which happens once. */
  released = false;
  /** True when the server closed this connection: then it is never the user signing off. */
  closedByServer = false;
  /** The code and reason the server closed this connection with, once it did. */
  closeCode: number | undefined;
  closeReason = '';
  /** Device timestamp of the newest sample from this device, to ignore its samples resent out of order. */
  newestSampleAt = Number.NEGATIVE_INFINITY;
  /** That newest sample, to recognise the same fix sent twice. */
  newestSample: { lat: number; lon: number; timestamp: number } | undefined;
  lastRateNoticeAt = Number.NEGATIVE_INFINITY;
  /** When this connection's last `discovery` frame was handled (at most one per second). */
  lastDiscoveryAt = Number.NEGATIVE_INFINITY;
  /** Inbound messages parked until a slice handles them (`undefined`: a binary one). */
  readonly inbox: Array<string | undefined> = [];
  /** This connection's parked frames as the scheduler drains them. */
  backlog: Backlog | undefined;
  /** Frames that arrived while `init` was being handled, replayed after it. */
  readonly deferred: ClientFrame[] = [];

  constructor(id: number, userId: string, socket: ServerSocket, limits: ConnectionLimits, onSlowConsumer: () => void) {
    this.id = id;
    this.userId = userId;
    this.socket = socket;
    this.lastSeenAt = limits.now();
    this.frameBudget = new TokenBucket(limits.frames, limits.now);
    this.locationBudget = new TokenBucket(limits.locations, limits.now);
    const sink: FrameSink = {
      get bufferedAmount() {
        return socket.bufferedAmount;
      },
      send: (frame, onWritten) => socket.send(frame, onWritten === undefined ? undefined : () => onWritten()),
    };
    this.queue = new OutboundQueue(sink, {
      onOverflow: onSlowConsumer,
      schedule: limits.schedule,
      timers: limits.timers,
      onFramesSent: limits.onFramesSent,
      ...(limits.tally === undefined ? {} : { tally: limits.tally }),
      ...(limits.timing === undefined ? {} : { timing: limits.timing }),
    });
  }

  /** Holds a frame until `init` completes; false when too many are already held. */
  defer(frame: ClientFrame): boolean {
    if (this.deferred.length >= MAX_DEFERRED_FRAMES) return false;
    this.deferred.push(frame);
    return true;
  }

  /** Queues an `error` frame. */
  sendError(code: WireErrorCode, message: string, extra: { seq?: number; frameType?: string } = {}): void {
    this.queue.control(encodeError(code, message, extra), code);
  }

  /** Writes what is queued, then closes the socket with `code`. */
  close(code: number, reason: string): void {
    if (this.phase === 'closed') return;
    this.closedByServer = true;
    this.closeCode = code;
    this.closeReason = reason;
    this.queue.flush();
    this.phase = 'closed';
    this.queue.close();
    this.socket.close(code, reason);
  }
}
