import type { HistoryQuery, HistorySample, HistoryStore } from '../types.js';
import { checkOptionKeys, optionKeys } from '@nearby/protocol';

export interface MemoryHistoryStoreOptions {
  /**
   * Most samples kept per user; when exceeded, the sample of that user stored earliest is
   * evicted. Bounds memory in long-running processes. Default 10 000; `Infinity` keeps everything.
   */
  maxSamplesPerUser?: number;
}

/** Every key of {@link MemoryHistoryStoreOptions}; any other is refused. */
const MEMORY_HISTORY_STORE_OPTION_KEYS = optionKeys<MemoryHistoryStoreOptions>()(['maxSamplesPerUser']);

/**
 * In-process history store: the embedded default for tests and single-process use. Idempotent
 * on `(userId, recordedAt)`: a sample sent twice is stored once (the first copy is kept).
 */
export class MemoryHistoryStore implements HistoryStore {
  /** userId → recordedAt → sample. Kept sorted only when queried. */
  readonly #byUser = new Map<string, Map<number, HistorySample>>();
  readonly #maxPerUser: number;
  #appendCalls = 0;

  constructor(options: MemoryHistoryStoreOptions = {}) {
    checkOptionKeys(options, MEMORY_HISTORY_STORE_OPTION_KEYS);
    const max = options.maxSamplesPerUser ?? 10_000;
    if (!(max >= 1)) throw new RangeError('maxSamplesPerUser must be at least 1');
    this.#maxPerUser = max;
  }

  /** Number of `append` calls so far (each is one batch). */
  get appendCalls(): number {
    return this.#appendCalls;
  }

  /** Total samples stored. */
  get size(): number {
    let total = 0;
    for (const samples of this.#byUser.values()) total += samples.size;
    return total;
  }

  async append(samples: readonly HistorySample[]): Promise<void> {
    this.#appendCalls++;
    for (const sample of samples) {
      let userSamples = this.#byUser.get(sample.userId);
      if (userSamples === undefined) {
        userSamples = new Map();
        this.#byUser.set(sample.userId, userSamples);
      }
      // The first copy is kept (as ON CONFLICT DO NOTHING does in PostgreSQL): a resend is the same sample.
      if (userSamples.has(sample.recordedAt)) continue;
      userSamples.set(sample.recordedAt, { ...sample });
      if (userSamples.size > this.#maxPerUser) this.#evictOldest(userSamples);
    }
  }

  async *query(query: HistoryQuery): AsyncIterable<HistorySample> {
    const userSamples = this.#byUser.get(query.userId);
    if (userSamples === undefined) return;
    const from = query.from ?? Number.NEGATIVE_INFINITY;
    const to = query.to ?? Number.POSITIVE_INFINITY;
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    const matching = [...userSamples.values()]
      .filter((sample) => sample.recordedAt >= from && sample.recordedAt < to)
      .sort((a, b) => a.recordedAt - b.recordedAt);
    let yielded = 0;
    for (const sample of matching) {
      if (yielded++ >= limit) return;
      yield { ...sample };
    }
  }

  async prune(before: number): Promise<number> {
    let removed = 0;
    for (const [userId, userSamples] of this.#byUser) {
      for (const recordedAt of userSamples.keys()) {
        if (recordedAt < before) {
          userSamples.delete(recordedAt);
          removed++;
        }
      }
      if (userSamples.size === 0) this.#byUser.delete(userId);
    }
    return removed;
  }

  async close(): Promise<void> {}

  /** Maps iterate in insertion order, so the first key is the sample stored earliest: O(1). */
  #evictOldest(userSamples: Map<number, HistorySample>): void {
    const first = userSamples.keys().next();
    if (first.done !== true) userSamples.delete(first.value);
  }
}
