import {
  ErrorCode,
  NearbyError,
  PROTOCOL_VERSION,
  distanceKm,
  NEVER_RETRY_CODES,
  type ClientFrame,
  type LatLon,
  type LocationSample,
} from '@nearby/protocol';
import { Timer, type Timers } from './environment.js';
import type { Notifier } from './notifier.js';
import type { ResolvedOptions } from './options.js';
import { Outbox } from './outbox.js';

/** First delay before resending a batch the server could not store (`history_unavailable`, `rate_limited`). */
const RETRY_BASE_DELAY_MS = 1_000;
/**
 * A fix dated more than this before one already sent, while no further than this from the
 * device's clock, means the clock was set back (not a late fix).
 */
const CLOCK_SET_BACK_MS = 2_000;

/** The part of the connection the uploader uses. */
export interface UploadLink {
  /** True while connected (a snapshot arrived on the current socket). */
  readonly connected: boolean;
  /** Sends a frame; false when the socket is not open or the send failed. */
  send(frame: ClientFrame): boolean;
  /** Records and raises an error. */
  report(error: NearbyError): void;
}

/** The uploader options it reads. */
export type UploaderOptions = Pick<
  ResolvedOptions,
  'maxBufferedSamples' | 'flushIntervalMs' | 'significantMoveMeters' | 'ackTimeoutMs'
>;

/**
 * Delivers the device's location samples at least once. Samples wait in the bounded offline
 * buffer ({@link Outbox}) and go out in batches: at most one every `flushIntervalMs`, or at
 * once for the first fix of a connection and after a significant move. A batch stays in the
 * buffer until acknowledged; it is sent again after `ackTimeoutMs` without an answer, after a
 * transient refusal (not before a growing pause), or after a reconnect.
 */
export class Uploader {
  private readonly outbox: Outbox;
  /** The next batch: one flush per `flushIntervalMs`, or the end of a pause after a refusal. */
  private readonly flushTimer = new Timer(this.timers, () => this.flush());
  /** Checks the oldest unacknowledged batch once its `ackTimeoutMs` is up. */
  private readonly ackTimer = new Timer(this.timers, () => this.ackTimedOut());
  /** Latest accepted fix, sent in `init` so the server can place the user at once. */
  private lastFix: LocationSample | undefined;
  /** Position of the last sample sent, for the significant-move rule. */
  private lastSentPosition: LatLon | undefined;
  /** Whether a location frame went out since the last snapshot of this connection. */
  private sentSinceConnect = false;
  /** Newest sample timestamp sent on this connection (in `init` or a batch). */
  private newestSentTimestamp: number | undefined;
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  /** No flush before this local time, after the server refused a batch for a transient reason. */
  private retryNotBefore = 0;
  private retryFailures = 0;

  /**
   * @param options - Batching and buffer options.
   * @param timers - Timers whose callbacks run as entry points.
   * @param notifier - Queues the `ack` event.
   * @param link - The connection.
   * @param sampleOrderRestarted - Called when a mid-connection `init` went out; the server
   * answers it with a snapshot, like a settings change.
   * @param changed - Called when samples joined or left the buffer.
   */
  constructor(
    private readonly options: UploaderOptions,
    private readonly timers: Timers,
    private readonly notifier: Notifier,
    private readonly link: UploadLink,
    private readonly sampleOrderRestarted: () => void,
    changed?: () => void,
  ) {
    this.outbox = new Outbox(options.maxBufferedSamples, changed);
  }

  /** Every unacknowledged sample, in the order they were recorded. */
  get samples(): LocationSample[] {
    return this.outbox.all();
  }

  /** Merges samples kept from an earlier run into the buffer and sends them if connected. */
  restore(samples: LocationSample[]): void {
    this.overflowed(this.outbox.restore(samples));
    this.flush();
  }

  /** Samples not yet acknowledged (buffered plus in flight). */
  get pendingSamples(): number {
    return this.outbox.size;
  }

  /**
   * Takes a fix into the buffer and sends it at once if it is the first since the connection
   * was (re)established or a significant move, else with the next batch.
   */
  record(sample: LocationSample): void {
    this.lastFix = sample;
    this.overflowed(this.outbox.add(sample));
    if (!this.link.connected) return;
    if (this.clockWentBack(sample)) {
      this.restartSampleOrder(sample);
      return;
    }
    const significant =
      this.lastSentPosition !== undefined &&
      distanceKm(this.lastSentPosition, sample) * 1000 >= this.options.significantMoveMeters;
    if (!this.sentSinceConnect || significant) {
      this.requestFlush();
    } else {
      this.scheduleFlush();
    }
  }

  private overflowed(dropped: number): void {
    if (dropped > 0) {
      this.link.report(
        new NearbyError(
          ErrorCode.BUFFER_OVERFLOW,
          `location buffer full (${this.options.maxBufferedSamples} samples): dropped the ${dropped} oldest unsent sample(s)`,
        ),
      );
    }
  }

  /** The latest fix for a connection's `init`; the connection's sample order starts from it. */
  initLocation(): LocationSample | undefined {
    this.newestSentTimestamp = this.lastFix?.timestamp;
    return this.lastFix;
  }

  /** The first snapshot of a connection arrived: a new connection starts without a pause. */
  established(): void {
    this.retryNotBefore = 0;
    this.retryFailures = 0;
    this.sentSinceConnect = false;
  }

  /** The server stored batch `seq`. */
  acknowledged(seq: number, count: number): void {
    if (this.outbox.remove(seq) > 0) this.retryFailures = 0;
    this.notifier.emit('ack', { seq, count });
  }

  /** The server refused batch `seq` (if it is in flight) with `code`. */
  refused(seq: number, code: string): void {
    if (!this.outbox.isInFlight(seq)) return;
    // Refused for good (invalid_location, invalid_frame): resending cannot succeed.
    if (NEVER_RETRY_CODES.has(code)) {
      this.outbox.remove(seq);
      return;
    }
    // history_unavailable, rate_limited, internal: the samples were not stored. Resend them
    // with the next batch, but not before a short, growing delay so a struggling server is not
    // hammered by early flushes.
    this.outbox.requeue(seq);
    this.retryFailures++;
    const delay = Math.min(
      Math.max(this.options.flushIntervalMs, RETRY_BASE_DELAY_MS),
      RETRY_BASE_DELAY_MS * 2 ** (this.retryFailures - 1),
    );
    this.retryNotBefore = this.timers.now() + delay;
    this.flushTimer.stop();
    this.scheduleFlush();
  }

  /** The connection ended: batches in flight return to the buffer for the next connection. */
  connectionLost(): void {
    this.flushTimer.stop();
    this.ackTimer.stop();
    this.outbox.requeueAll();
    this.sentSinceConnect = false;
    this.newestSentTimestamp = undefined;
  }

  /** Sends every unsent sample, in frames of at most `Limits.MAX_SAMPLES_PER_FRAME`. */
  flush(): void {
    this.flushTimer.stop();
    if (!this.link.connected) return;
    let sent = false;
    while (this.outbox.unsentCount > 0) {
      const frame = this.outbox.takeFrame(this.timers.now());
      if (frame === undefined) break;
      // On failure the batch stays in flight and returns to the buffer with the connection.
      if (!this.link.send(frame)) break;
      sent = true;
      this.lastSentPosition = frame.samples[frame.samples.length - 1];
      for (const sample of frame.samples) {
        if (this.newestSentTimestamp === undefined || sample.timestamp > this.newestSentTimestamp) {
          this.newestSentTimestamp = sample.timestamp;
        }
      }
    }
    if (sent) {
      this.sentSinceConnect = true;
      this.lastFlushAt = this.timers.now();
      this.scheduleAckCheck();
    }
  }

  /**
   * A fix dated well before one already sent, yet current by this device's clock: the clock was
   * set back. The server orders a connection's samples by their timestamps, so this fix and the
   * ones after it would look old to it.
   */
  private clockWentBack(sample: LocationSample): boolean {
    const newest = this.newestSentTimestamp;
    if (newest === undefined || newest - sample.timestamp <= CLOCK_SET_BACK_MS) return false;
    return Math.abs(this.timers.now() - sample.timestamp) <= CLOCK_SET_BACK_MS;
  }

  /**
   * Sends what was taken before the clock was set back, then an `init` with the new fix: an
   * init's location starts the connection's sample order afresh on the server. Its snapshot is
   * answered like a settings change.
   */
  private restartSampleOrder(sample: LocationSample): void {
    this.flush();
    if (!this.link.connected) return;
    if (this.link.send({ type: 'init', v: PROTOCOL_VERSION, location: sample })) {
      this.sampleOrderRestarted();
      this.newestSentTimestamp = sample.timestamp;
      this.lastSentPosition = sample;
    }
    this.scheduleFlush();
  }

  /** Flushes now, unless a transient refusal asked for a pause; then at the end of the pause. */
  private requestFlush(): void {
    const wait = this.retryNotBefore - this.timers.now();
    if (wait <= 0) {
      this.flush();
      return;
    }
    this.flushTimer.start(wait);
  }

  /** Arms the batch timer (one flush per `flushIntervalMs`) if samples wait and none is armed. */
  private scheduleFlush(): void {
    if (this.flushTimer.pending || !this.link.connected || this.outbox.unsentCount === 0) return;
    const due = Math.max(this.lastFlushAt + this.options.flushIntervalMs, this.retryNotBefore);
    this.flushTimer.start(due - this.timers.now());
  }

  /**
   * Arms one timer for the oldest unacknowledged batch. A frame the server dropped without a
   * word (over its frame budget) would otherwise stay in flight until the next reconnect.
   */
  private scheduleAckCheck(): void {
    if (this.ackTimer.pending) return;
    const oldest = this.outbox.oldestSentAt();
    if (oldest !== undefined) this.ackTimer.start(oldest + this.options.ackTimeoutMs - this.timers.now());
  }

  /** Batches sent `ackTimeoutMs` ago and still unacknowledged go back to the buffer for the next flush. */
  private ackTimedOut(): void {
    if (!this.link.connected) return;
    if (this.outbox.requeueSentBefore(this.timers.now() - this.options.ackTimeoutMs) > 0) this.scheduleFlush();
    this.scheduleAckCheck();
  }
}
