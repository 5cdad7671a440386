/**
 * A log-bucketed latency histogram (2 % wide buckets from 0.05 ms to about a minute) for live
 * progress: cheap to record into, small to send between processes, mergeable. Final results
 * use the exact samples (stats.ts); this is for "p99 so far".
 */
const MIN_MS = 0.05;
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
export const HISTOGRAM_BUCKETS = 720;

export function bucketOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  const index = Math.floor(Math.log(ms / MIN_MS) / LOG_GROWTH) + 1;
  return index >= HISTOGRAM_BUCKETS ? HISTOGRAM_BUCKETS - 1 : index;
}

/** Upper bound of a bucket, in ms. */
export function bucketUpperMs(index: number): number {
  return MIN_MS * GROWTH ** index;
}

export class Histogram {
  readonly counts = new Uint32Array(HISTOGRAM_BUCKETS);
  total = 0;

  record(ms: number): void {
    this.counts[bucketOf(ms)]!++;
    this.total++;
  }

  /** Adds counts given as [bucket, count, bucket, count, …]. */
  addSparse(pairs: readonly number[]): void {
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      this.counts[pairs[i]!]! += pairs[i + 1]!;
      this.total += pairs[i + 1]!;
    }
  }

  /** Non-zero buckets as [bucket, count, …], for sending over IPC. */
  toSparse(): number[] {
    const pairs: number[] = [];
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) if (this.counts[i]! > 0) pairs.push(i, this.counts[i]!);
    return pairs;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
  }

  /** Percentile (0…100) as the upper bound of its bucket, or NaN when empty. */
  percentile(p: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return bucketUpperMs(i);
    }
    return bucketUpperMs(HISTOGRAM_BUCKETS - 1);
  }
}
