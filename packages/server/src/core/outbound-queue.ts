import type { LeaveReason } from '@nearby/protocol';
import { friendLeftFrame, friendUpdateFrame } from './frames.js';
import { globalTimers, runAfterIoPhase, unrefTimer, type Timers } from '../timers.js';

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
}

/** A pending update is its entry string itself (the common case, no wrapper allocated); a leave is an object. */
type FriendEvent = string | { reason: LeaveReason; userIdJson: string };

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
  readonly #timers: Timers;
  #retryTimer: unknown;
  readonly #friends = new Map<string, FriendEvent>();
  #controls: string[] = [];
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
    this.#friends.delete(friendId); // re-insert so the newest event is written last
    this.#friends.set(friendId, entry);
    this.#requestFlush();
  }

  /** Queues a `friend_left`, replacing a pending update of that friend. */
  friendLeft(friendId: string, userIdJson: string, reason: LeaveReason): void {
    this.#friends.delete(friendId);
    this.#friends.set(friendId, { reason, userIdJson });
    this.#requestFlush();
  }

  /** Queues a full snapshot; pending friend events are dropped, the snapshot supersedes them. */
  snapshot(frame: string): void {
    this.#friends.clear();
    this.#snapshot = frame;
    this.#requestFlush();
  }

  /** Queues a frame that must be delivered in order (ack, error, pong, friend_added, …). */
  control(frame: string): void {
    if (this.#closed) return;
    // Only a blocked queue can overflow: a peer that is reading gets any number of frames.
    if (this.#blocked && this.#controls.length >= this.#maxControlFrames) {
      this.close();
      this.#onOverflow();
      return;
    }
    this.#controls.push(frame);
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
    if (this.#snapshot !== undefined) {
      frames.push(this.#snapshot);
      this.#snapshot = undefined;
    }
    if (this.#friends.size > 0) {
      const updates: string[] = [];
      for (const event of this.#friends.values()) {
        if (typeof event === 'string') updates.push(event);
        else frames.push(friendLeftFrame(event.userIdJson, event.reason));
      }
      this.#friends.clear();
      if (updates.length > 0) frames.push(friendUpdateFrame(updates));
    }
    if (this.#controls.length > 0) {
      for (const frame of this.#controls) frames.push(frame);
      this.#controls = [];
    }
    const last = frames.length - 1;
    for (let i = 0; i <= last; i++) {
      // Only the last frame needs a callback: frames reach the network in order.
      this.#sink.send(frames[i]!, i === last ? this.#onLastWritten : undefined);
    }
    this.#framesSent += frames.length;
    this.#onFramesSent?.(frames.length);
  }

  /** Drops everything pending and refuses further frames. */
  close(): void {
    this.#closed = true;
    if (this.#retryTimer !== undefined) this.#timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#friends.clear();
    this.#controls = [];
    this.#snapshot = undefined;
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
    return this.#snapshot !== undefined || this.#friends.size > 0 || this.#controls.length > 0;
  }

  #requestFlush(): void {
    if (this.#scheduled || this.#blocked || this.#closed) return;
    this.#scheduled = true;
    this.#schedule(() => this.flush());
  }
}
