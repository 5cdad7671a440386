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
import { createOutbox } from './outbox.js';

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

/** See {@link createUploader}. */
export type Uploader = ReturnType<typeof createUploader>;

/**
 * Delivers the device's location samples at least once. Samples wait in the bounded offline
 * buffer ({@link createOutbox}) and go out in batches: at most one every `flushIntervalMs`, or at
 * once for the first fix of a connection and after a significant move. A batch stays in the
 * buffer until acknowledged; it is sent again after `ackTimeoutMs` without an answer, after a
 * transient refusal (not before a growing pause), or after a reconnect.
 *
 * A closure rather than a class, like the settings sync: private state as locals.
 *
 * @param options - Batching and buffer options.
 * @param timers - Timers whose callbacks run as entry points.
 * @param notifier - Queues the `ack` event.
 * @param link - The connection.
 * @param sampleOrderRestarted - Called when a mid-connection `init` went out; the server
 * answers it with a snapshot, like a settings change.
 * @param changed - Called when samples joined or left the buffer.
 */
export function createUploader(
  options: UploaderOptions,
  timers: Timers,
  notifier: Notifier,
  link: UploadLink,
  sampleOrderRestarted: () => void,
  changed?: () => void,
) {
  const outbox = createOutbox(options.maxBufferedSamples, changed);
  /** The next batch: one flush per `flushIntervalMs`, or the end of a pause after a refusal. */
  const flushTimer = new Timer(timers, () => flush());
  /** Checks the oldest unacknowledged batch once its `ackTimeoutMs` is up. */
  const ackTimer = new Timer(timers, () => ackTimedOut());
  /** Latest accepted fix, sent in `init` so the server can place the user at once. */
  let lastFix: LocationSample | undefined;
  /** Position of the last sample sent, for the significant-move rule. */
  let lastSentPosition: LatLon | undefined;
  /** Whether a location frame went out since the last snapshot of this connection. */
  let sentSinceConnect = false;
  /** Newest sample timestamp sent on this connection (in `init` or a batch). */
  let newestSentTimestamp: number | undefined;
  let lastFlushAt = Number.NEGATIVE_INFINITY;
  /** No flush before this local time, after the server refused a batch for a transient reason. */
  let retryNotBefore = 0;
  let retryFailures = 0;

  const overflowed = (dropped: number): void => {
    if (dropped > 0) {
      link.report(
        new NearbyError(
          ErrorCode.BUFFER_OVERFLOW,
          `location buffer full (${options.maxBufferedSamples} samples): dropped the ${dropped} oldest unsent sample(s)`,
        ),
      );
    }
  };

  /** Sends every unsent sample, in frames of at most `Limits.MAX_SAMPLES_PER_FRAME`. */
  const flush = (): void => {
    flushTimer.stop();
    if (!link.connected) return;
    let sent = false;
    while (outbox.unsentCount > 0) {
      const frame = outbox.takeFrame(timers.now());
      if (frame === undefined) break;
      // On failure the batch stays in flight and returns to the buffer with the connection.
      if (!link.send(frame)) break;
      sent = true;
      lastSentPosition = frame.samples[frame.samples.length - 1];
      for (const sample of frame.samples) {
        if (newestSentTimestamp === undefined || sample.timestamp > newestSentTimestamp) {
          newestSentTimestamp = sample.timestamp;
        }
      }
    }
    if (sent) {
      sentSinceConnect = true;
      lastFlushAt = timers.now();
      scheduleAckCheck();
    }
  };

  /**
   * A fix dated well before one already sent, yet current by this device's clock: the clock was
   * set back. The server orders a connection's samples by their timestamps, so this fix and the
   * ones after it would look old to it.
   */
  const clockWentBack = (sample: LocationSample): boolean => {
    const newest = newestSentTimestamp;
    if (newest === undefined || newest - sample.timestamp <= CLOCK_SET_BACK_MS) return false;
    return Math.abs(timers.now() - sample.timestamp) <= CLOCK_SET_BACK_MS;
  };

  /**
   * Sends what was taken before the clock was set back, then an `init` with the new fix: an
   * init's location starts the connection's sample order afresh on the server. Its snapshot is
   * answered like a settings change.
   */
  const restartSampleOrder = (sample: LocationSample): void => {
    flush();
    if (!link.connected) return;
    if (link.send({ type: 'init', v: PROTOCOL_VERSION, location: sample })) {
      sampleOrderRestarted();
      newestSentTimestamp = sample.timestamp;
      lastSentPosition = sample;
    }
    scheduleFlush();
  };

  /** Flushes now, unless a transient refusal asked for a pause; then at the end of the pause. */
  const requestFlush = (): void => {
    const wait = retryNotBefore - timers.now();
    if (wait <= 0) flush();
    else flushTimer.start(wait);
  };

  /** Arms the batch timer (one flush per `flushIntervalMs`) if samples wait and none is armed. */
  const scheduleFlush = (): void => {
    if (flushTimer.pending || !link.connected || outbox.unsentCount === 0) return;
    const due = Math.max(lastFlushAt + options.flushIntervalMs, retryNotBefore);
    flushTimer.start(due - timers.now());
  };

  /**
   * Arms one timer for the oldest unacknowledged batch. A frame the server dropped without a
   * word (over its frame budget) would otherwise stay in flight until the next reconnect.
   */
  const scheduleAckCheck = (): void => {
    if (ackTimer.pending) return;
    const oldest = outbox.oldestSentAt();
    if (oldest !== undefined) ackTimer.start(oldest + options.ackTimeoutMs - timers.now());
  };

  /** Batches sent `ackTimeoutMs` ago and still unacknowledged go back to the buffer for the next flush. */
  const ackTimedOut = (): void => {
    if (!link.connected) return;
    if (outbox.requeueSentBefore(timers.now() - options.ackTimeoutMs) > 0) scheduleFlush();
    scheduleAckCheck();
  };

  return {
    flush,

    /** Every unacknowledged sample, in the order they were recorded. */
    get samples(): LocationSample[] {
      return outbox.all();
    },

    /** Samples not yet acknowledged (buffered plus in flight). */
    get pendingSamples(): number {
      return outbox.size;
    },

    /** Merges samples kept from an earlier run into the buffer and sends them if connected. */
    restore(samples: LocationSample[]): void {
      overflowed(outbox.restore(samples));
      flush();
    },

    /**
     * Takes a fix into the buffer and sends it at once if it is the first since the connection
     * was (re)established or a significant move, else with the next batch.
     */
    record(sample: LocationSample): void {
      lastFix = sample;
      overflowed(outbox.add(sample));
      if (!link.connected) return;
      if (clockWentBack(sample)) {
        restartSampleOrder(sample);
        return;
      }
      const significant =
        lastSentPosition !== undefined && distanceKm(lastSentPosition, sample) * 1000 >= options.significantMoveMeters;
      if (!sentSinceConnect || significant) requestFlush();
      else scheduleFlush();
    },

    /** The latest fix for a connection's `init`; the connection's sample order starts from it. */
    initLocation(): LocationSample | undefined {
      newestSentTimestamp = lastFix?.timestamp;
      return lastFix;
    },

    /** The first snapshot of a connection arrived: a new connection starts without a pause. */
    established(): void {
      retryNotBefore = 0;
      retryFailures = 0;
      sentSinceConnect = false;
    },

    /** The server stored batch `seq`. */
    acknowledged(seq: number, count: number): void {
      if (outbox.remove(seq) > 0) retryFailures = 0;
      notifier.emit('ack', { seq, count });
    },

    /** The server refused batch `seq` (if it is in flight) with `code`. */
    refused(seq: number, code: string): void {
      if (!outbox.isInFlight(seq)) return;
      // Refused for good (invalid_location, invalid_frame): resending cannot succeed.
      if (NEVER_RETRY_CODES.has(code)) {
        outbox.remove(seq);
        return;
      }
      // history_unavailable, rate_limited, internal: the samples were not stored. Resend them
      // with the next batch, but not before a short, growing delay so a struggling server is not
      // hammered by early flushes.
      outbox.requeue(seq);
      retryFailures++;
      const delay = Math.min(
        Math.max(options.flushIntervalMs, RETRY_BASE_DELAY_MS),
        RETRY_BASE_DELAY_MS * 2 ** (retryFailures - 1),
      );
      retryNotBefore = timers.now() + delay;
      flushTimer.stop();
      scheduleFlush();
    },

    /** The connection ended: batches in flight return to the buffer for the next connection. */
    connectionLost(): void {
      flushTimer.stop();
      ackTimer.stop();
      outbox.requeueAll();
      sentSinceConnect = false;
      newestSentTimestamp = undefined;
    },
  };
}
