import type { LeaveReason, ServerFrameType, StrangerLeftReason, WireErrorCode } from '@nearby/protocol';
import { friendLeftFrame, friendUpdateFrame, strangerLeftFrame, strangerUpdateFrame } from './frames.js';
import { Limits } from '@nearby/protocol';
import { globalTimers, runAfterIoPhase, unrefTimer, type Timers } from '../timers.js';

const MAX_STRANGERS_PER_FRAME = Limits.MAX_STRANGERS_PER_FRAME;

/** Where an {@link OutboundQueue} writes: a WebSocket, or a fake in tests. */
export interface FrameSink {
  /** Bytes accepted but not yet written to the network. */
  readonly bufferedAmount: number;
  /** Writes one text frame; `onWritten` (when given) runs once it has reached the network. */
  send(frame: string, onWritten?: () => void): void;
}

export interface OutboundQueueOptions {
  /** Above this many buffered bytes the queue stops writing and keeps coalescing. Default 64 KiB. */
  highWaterMark?: number;
  /** Most ordered control frames (acks, errors, pongs, …) held while blocked before `onOverflow`. Default 1024. */
  maxControlFrames?: number;
  /** While blocked, how often to re-check the sink when no write callback is due. Default 25 ms. */
  retryMs?: number;
  /** Called once when the peer stopped reading and the control backlog overflowed. */
  onOverflow?: () => void;
  /** Schedules a flush; defaults to the timers' setImmediate so one I/O phase's events share a frame. */
  schedule?: (flush: () => void) => void;
  /** Timers for the re-check while blocked. Default: the globals, looked up at call time. */
  timers?: Timers;
  /** Told how many frames each flush wrote (for counters). */
  onFramesSent?: (count: number) => void;
  /** Counts of written frames by type and of error frames by code, shared by the engine's queues. */
  tally?: FrameTally;
  /** Latency observations; without it nothing is timed. */
  timing?: QueueTiming;
}

/** What a control frame is counted as: its frame type, or for an `error` frame its wire error code. */
export type ControlKind =
  | Exclude<ServerFrameType, 'snapshot' | 'friend_update' | 'friend_left' | 'stranger_update' | 'stranger_left' | 'error'>
  | WireErrorCode;

/** Per-label counts of written frames: preallocated records, one property increment per frame. */
export interface FrameTally {
  framesOutByType: Record<ServerFrameType, number>;
  errorsByCode: Record<WireErrorCode, number>;
}

/** How a queue reports latencies: friend frames against the fan-out stamp, snapshots against {@link OutboundQueue.awaitSnapshot}. */
export interface QueueTiming {
  /** `performance.now()` when what is being queued right now was received; `NaN` when not measured. */
  readonly stamp: { readonly at: number };
  /** A friend frame written, `seconds` after its oldest entry was received. */
  fanout(seconds: number): void;
  /** The awaited snapshot written, `seconds` after {@link OutboundQueue.awaitSnapshot}'s time. */
  snapshot(seconds: number): void;
}

/** A pending update is its entry string itself (the common case, no wrapper allocated); a leave is an object. */
type FriendEvent = string | { reason: LeaveReason; userIdJson: string };
/** The same for strangers, keyed by the id the viewer knows them by. */
type StrangerEvent = string | { reason: StrangerLeftReason; idJson: string };

/**
 * Per-connection outbound queue. Friend events are coalesced by friend (latest wins), so a
 * client that stops reading costs at most one pending event per friend; everything queued in
 * one I/O phase leaves as one `friend_update` frame.
 *
 * Write order: the latest snapshot (it clears older friend events, which it supersedes), then
 * friend events, then control frames in the order queued.
 */
export class OutboundQueue {
  readonly #sink: FrameSink;
  readonly #highWaterMark: number;
  readonly #maxControlFrames: number;
  readonly #onOverflow: () => void;
  readonly #schedule: (flush: () => void) => void;
  readonly #retryMs: number;
  readonly #onFramesSent: ((count: number) => void) | undefined;
  readonly #tally: FrameTally | undefined;
  readonly #timing: QueueTiming | undefined;
  readonly #timers: Timers;
  #retryTimer: unknown;
  readonly #friends = new Map<string, FriendEvent>();
  /** Created with the first stranger event: connections of users who never see strangers pay nothing. */
  #strangers: Map<string, StrangerEvent> | undefined;
  #controls: string[] = [];
  /** What each of `#controls` counts as, in step with it. */
  #controlKinds: ControlKind[] = [];
  /** With timing: when the oldest pending friend event was received (`NaN`: not measured). */
  #friendsSince = Number.NaN;
  /** With timing: when the request the next snapshot answers arrived (`NaN`: none awaited). */
  #snapshotSince = Number.NaN;
  #snapshot: string | undefined;
  #scheduled = false;
  #blocked = false;
  #closed = false;
  #framesSent = 0;

  constructor(sink: FrameSink, options: OutboundQueueOptions = {}) {
    this.#sink = sink;
    this.#highWaterMark = options.highWaterMark ?? 64 * 1024;
    this.#maxControlFrames = options.maxControlFrames ?? 1024;
    this.#onOverflow = options.onOverflow ?? (() => {});
    this.#timers = options.timers ?? globalTimers;
    this.#schedule = options.schedule ?? ((flush) => runAfterIoPhase(this.#timers, flush));
    this.#retryMs = options.retryMs ?? 25;
    this.#onFramesSent = options.onFramesSent;
    this.#tally = options.tally;
    this.#timing = options.timing;
  }

  /** Friend events waiting to be written. */
  get pendingFriendEvents(): number {
    return this.#friends.size;
  }

  /** Frames written so far. */
  get framesSent(): number {
    return this.#framesSent;
  }

  /** Queues a friend's new position; `entry` is the friend's JSON object for `friend_update.friends`. */
  updateFriend(friendId: string, entry: string): void {
    if (this.#timing !== undefined) this.#stampFriends();
    this.#friends.delete(friendId); // re-insert so the newest event is written last
    this.#friends.set(friendId, entry);
    this.#requestFlush();
  }

  /** Queues a `friend_left`, replacing a pending update of that friend. */
  friendLeft(friendId: string, userIdJson: string, reason: LeaveReason): void {
    if (this.#timing !== undefined) this.#stampFriends();
    this.#friends.delete(friendId);
    this.#friends.set(friendId, { reason, userIdJson });
    this.#requestFlush();
  }

  /** Queues a stranger's new entry (a JSON object for `stranger_update.strangers`), keyed by the id the viewer knows. */
  updateStranger(id: string, entry: string): void {
    const strangers = (this.#strangers ??= new Map());
    strangers.delete(id);
    strangers.set(id, entry);
    this.#requestFlush();
  }

  /** Queues a `stranger_left`, replacing a pending update of that stranger. */
  strangerLeft(id: string, idJson: string, reason: StrangerLeftReason): void {
    const strangers = (this.#strangers ??= new Map());
    strangers.delete(id);
    strangers.set(id, { reason, idJson });
    this.#requestFlush();
  }

  /** Drops pending stranger events (the viewer stopped seeing strangers: the client clears its list itself). */
  clearStrangers(): void {
    this.#strangers?.clear();
  }

  /** Queues a full snapshot; pending friend and stranger events are dropped, the snapshot supersedes them. */
  snapshot(frame: string): void {
    this.#friends.clear();
    this.#strangers?.clear();
    this.#snapshot = frame;
    this.#requestFlush();
  }

  /**
   * With timing: the next snapshot written answers a request that arrived at `since`
   * (`performance.now()`), and its latency is reported then.
   */
  awaitSnapshot(since: number): void {
    this.#snapshotSince = since;
  }

  /** Queues a frame that must be delivered in order (ack, error, pong, friend_added, …), counted as `kind`. */
  control(frame: string, kind: ControlKind): void {
    if (this.#closed) return;
    // Only a blocked queue can overflow: a peer that is reading gets any number of frames.
    if (this.#blocked && this.#controls.length >= this.#maxControlFrames) {
      this.close();
      this.#onOverflow();
      return;
    }
    this.#controls.push(frame);
    this.#controlKinds.push(kind);
    this.#requestFlush();
  }

  /** Writes everything pending now, unless the sink is above its high-water mark. */
  flush(): void {
    this.#scheduled = false;
    if (this.#closed) return;
    if (this.#sink.bufferedAmount > this.#highWaterMark) {
      this.#block();
      return;
    }
    const frames: string[] = [];
    const tally = this.#tally;
    const wroteSnapshot = this.#snapshot !== undefined;
    if (wroteSnapshot) {
      frames.push(this.#snapshot!);
      this.#snapshot = undefined;
    }
    let lefts = 0;
    let updated = 0;
    if (this.#friends.size > 0) {
      const updates: string[] = [];
      for (const event of this.#friends.values()) {
        if (typeof event === 'string') updates.push(event);
        else frames.push(friendLeftFrame(event.userIdJson, event.reason));
      }
      lefts = frames.length - (wroteSnapshot ? 1 : 0);
      this.#friends.clear();
      if (updates.length > 0) {
        frames.push(friendUpdateFrame(updates));
        updated = 1;
      }
    }
    const strangers = this.#strangers;
    if (strangers !== undefined && strangers.size > 0) this.#flushStrangers(strangers, frames, tally);
    if (this.#controls.length > 0) {
      for (const frame of this.#controls) frames.push(frame);
      if (tally !== undefined) this.#tallyControls(tally);
      this.#controls = [];
      this.#controlKinds = [];
    }
    const last = frames.length - 1;
    for (let i = 0; i <= last; i++) {
      // Only the last frame needs a callback: frames reach the network in order.
      this.#sink.send(frames[i]!, i === last ? this.#onLastWritten : undefined);
    }
    this.#framesSent += frames.length;
    this.#onFramesSent?.(frames.length);
    if (tally !== undefined) {
      const byType = tally.framesOutByType;
      if (wroteSnapshot) byType.snapshot++;
      byType.friend_left += lefts;
      byType.friend_update += updated;
    }
    if (this.#timing !== undefined) this.#observe(wroteSnapshot, lefts + updated);
  }

  /** `stranger_left` frames, then one `stranger_update` (at most `MAX_STRANGERS_PER_FRAME` entries each). */
  #flushStrangers(strangers: Map<string, StrangerEvent>, frames: string[], tally: FrameTally | undefined): void {
    const updates: string[] = [];
    let lefts = 0;
    for (const event of strangers.values()) {
      if (typeof event === 'string') updates.push(event);
      else {
        frames.push(strangerLeftFrame(event.idJson, event.reason));
        lefts++;
      }
    }
    strangers.clear();
    let updateFrames = 0;
    for (let start = 0; start < updates.length; start += MAX_STRANGERS_PER_FRAME) {
      frames.push(strangerUpdateFrame(updates.slice(start, start + MAX_STRANGERS_PER_FRAME)));
      updateFrames++;
    }
    if (tally !== undefined) {
      tally.framesOutByType.stranger_left += lefts;
      tally.framesOutByType.stranger_update += updateFrames;
    }
  }

  /** Drops everything pending and refuses further frames. */
  close(): void {
    this.#strangers?.clear();
    this.#closed = true;
    if (this.#retryTimer !== undefined) this.#timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#friends.clear();
    this.#controls = [];
    this.#controlKinds = [];
    this.#snapshot = undefined;
  }

  /** The first pending friend event (or the first one measured) starts the clock of the next friend frames. */
  #stampFriends(): void {
    // `x !== x`: NaN, the oldest pending event was not measured.
    if (this.#friends.size === 0 || this.#friendsSince !== this.#friendsSince) this.#friendsSince = this.#timing!.stamp.at;
  }

  #tallyControls(tally: FrameTally): void {
    const { framesOutByType, errorsByCode } = tally;
    for (const kind of this.#controlKinds) {
      if (Object.hasOwn(errorsByCode, kind)) {
        errorsByCode[kind as WireErrorCode]++;
        framesOutByType.error++;
      } else {
        framesOutByType[kind as ServerFrameType]++;
      }
    }
  }

  #observe(wroteSnapshot: boolean, friendFrames: number): void {
    const timing = this.#timing!;
    const snapshotSince = this.#snapshotSince;
    const friendsSince = this.#friendsSince;
    if (!(wroteSnapshot && snapshotSince === snapshotSince) && !(friendFrames > 0 && friendsSince === friendsSince)) return;
    const now = performance.now();
    if (wroteSnapshot && snapshotSince === snapshotSince) {
      this.#snapshotSince = Number.NaN;
      timing.snapshot((now - snapshotSince) / 1000);
    }
    if (friendFrames > 0 && friendsSince === friendsSince) {
      const seconds = (now - friendsSince) / 1000;
      for (let i = 0; i < friendFrames; i++) timing.fanout(seconds);
    }
  }

  readonly #onLastWritten = (): void => {
    if (this.#blocked) this.#tryUnblock();
  };

  /**
   * Stops writing until the sink drains. The last write's callback usually unblocks it; a timer
   * re-checks too, for when the sink filled up with frames this queue did not write.
   */
  #block(): void {
    this.#blocked = true;
    if (this.#retryTimer !== undefined) return;
    this.#retryTimer = this.#timers.setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#blocked) this.#tryUnblock();
    }, this.#retryMs);
    unrefTimer(this.#retryTimer);
  }

  #tryUnblock(): void {
    if (this.#closed) return;
    if (this.#sink.bufferedAmount > this.#highWaterMark) {
      this.#block();
      return;
    }
    this.#blocked = false;
    if (this.#hasPending()) this.flush();
  }

  #hasPending(): boolean {
    return (
      this.#snapshot !== undefined || this.#friends.size > 0 || this.#controls.length > 0 || (this.#strangers?.size ?? 0) > 0
    );
  }

  #requestFlush(): void {
    if (this.#scheduled || this.#blocked || this.#closed) return;
    this.#scheduled = true;
    this.#schedule(() => this.flush());
  }
}
