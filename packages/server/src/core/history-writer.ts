import { ErrorCode, NearbyError } from '@nearby/protocol';
import type { HistorySample, HistoryStore } from '../adapters/types.js';
import { globalTimers, type Timers } from '../timers.js';

export interface HistoryWriterOptions {
  /** Most samples per `append` call. Default 1000. */
  maxBatchSamples?: number;
  /** Most samples waiting (queued plus in flight) before new ones are refused. Default 50 000. */
  maxPendingSamples?: number;
  /** An `append` not settled within this many ms counts as failed. Default 10 000. */
  timeoutMs?: number;
  timers?: Timers;
}

interface Request {
  samples: readonly HistorySample[];
  resolve: () => void;
  reject: (error: NearbyError) => void;
}

/**
 * Group commit in front of a {@link HistoryStore}: requests from every connection that arrive
 * while a batch is in flight are written together in the next one, so the store sees few large
 * appends instead of one per frame, without a timer delaying the first. One batch is in flight
 * at a time, and the backlog is bounded: past it, requests fail at once with
 * `history_unavailable` and the client keeps its samples.
 */
export class HistoryWriter {
  readonly #store: HistoryStore;
  readonly #maxBatch: number;
  readonly #maxPending: number;
  readonly #timeoutMs: number;
  readonly #timers: Timers;
  #queue: Request[] = [];
  #queuedSamples = 0;
  #inFlightSamples = 0;
  #running: Promise<void> | undefined;
  #batches = 0;

  constructor(store: HistoryStore, options: HistoryWriterOptions = {}) {
    this.#store = store;
    this.#maxBatch = options.maxBatchSamples ?? 1000;
    this.#maxPending = options.maxPendingSamples ?? 50_000;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#timers = options.timers ?? globalTimers;
  }

  /** Number of `append` calls made on the store. */
  get batches(): number {
    return this.#batches;
  }

  /** Samples queued or in flight. */
  get pending(): number {
    return this.#queuedSamples + this.#inFlightSamples;
  }

  /** Resolves when the store accepted every sample; rejects with a `history_unavailable` NearbyError. */
  write(samples: readonly HistorySample[]): Promise<void> {
    if (this.pending + samples.length > this.#maxPending) {
      return Promise.reject(
        new NearbyError(ErrorCode.HISTORY_UNAVAILABLE, 'history backlog is full; samples were not stored'),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ samples, resolve, reject });
      this.#queuedSamples += samples.length;
      this.#running ??= this.#drain();
    });
  }

  /** Resolves once everything queued so far has been attempted. */
  async flush(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  async #drain(): Promise<void> {
    // Let the rest of this tick's requests join the first batch.
    await Promise.resolve();
    try {
      while (this.#queue.length > 0) {
        const batch = this.#takeBatch();
        await this.#writeBatch(batch);
      }
    } finally {
      this.#running = undefined;
    }
  }

  #takeBatch(): Request[] {
    const batch: Request[] = [];
    let count = 0;
    while (this.#queue.length > 0) {
      const next = this.#queue[0]!;
      if (batch.length > 0 && count + next.samples.length > this.#maxBatch) break;
      batch.push(next);
      count += next.samples.length;
      this.#queue.shift();
    }
    this.#queuedSamples -= count;
    this.#inFlightSamples = count;
    return batch;
  }

  async #writeBatch(batch: Request[]): Promise<void> {
    const samples = batch.length === 1 ? batch[0]!.samples : batch.flatMap((request) => request.samples);
    this.#batches++;
    let timer: unknown;
    const timeout = new Promise<never>((_, reject) => {
      timer = this.#timers.setTimeout(
        () => reject(new Error(`history store did not answer within ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
    });
    try {
      await Promise.race([this.#store.append(samples), timeout]);
      for (const request of batch) request.resolve();
    } catch (cause) {
      const error = new NearbyError(ErrorCode.HISTORY_UNAVAILABLE, 'history store is unavailable; samples were not stored', {
        cause,
      });
      for (const request of batch) request.reject(error);
    } finally {
      this.#timers.clearTimeout(timer);
      this.#inFlightSamples = 0;
    }
  }
}
