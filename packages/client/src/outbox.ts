import { Limits, type LocationFrame, type LocationSample } from '@nearby/protocol';

/**
 * The client's bounded store of location samples until the server acknowledges them
 * (at-least-once delivery to the history store).
 *
 * Samples are either *unsent* (waiting for the next flush) or *in flight* (sent in a `location`
 * frame with a `seq`, not yet acknowledged). Unsent plus in-flight samples never exceed the
 * capacity; on overflow the oldest unsent samples are dropped, because recent positions matter
 * more for a live map and the old ones are likely superseded.
 */
export class Outbox {
  private unsent: LocationSample[] = [];
  private readonly inFlight = new Map<number, { samples: LocationSample[]; sentAt: number }>();
  private inFlightCount = 0;
  private nextSeq = 0;
  /**
   * The order samples were added in. Batches that come back are merged by it, not by timestamp:
   * after the device clock was set back, an older timestamp can belong to a newer fix.
   */
  private readonly addedOrder = new WeakMap<LocationSample, number>();
  private nextOrder = 0;

  /**
   * @param capacity - Largest number of unsent plus in-flight samples kept.
   * @param changed - Called when samples joined or left the buffer (not when they only moved).
   */
  constructor(
    private readonly capacity: number,
    private readonly changed: () => void = () => {},
  ) {}

  /** Unsent plus in-flight samples. */
  get size(): number {
    return this.unsent.length + this.inFlightCount;
  }

  /** Samples waiting for a flush. */
  get unsentCount(): number {
    return this.unsent.length;
  }

  /**
   * Appends a sample. Returns how many of the oldest unsent samples were dropped to stay
   * within capacity (normally 0). If every other sample is in flight, the new sample itself is
   * the oldest unsent one and is the one dropped.
   */
  add(sample: LocationSample): number {
    this.addedOrder.set(sample, this.nextOrder++);
    this.unsent.push(sample);
    return this.trim();
  }

  /**
   * Merges samples kept from an earlier run (see {@link Persister}) with the unsent ones, in
   * timestamp order, skipping timestamps already buffered (the server keys samples by user and
   * timestamp). Returns how many of the oldest unsent samples were dropped to stay within capacity.
   */
  restore(samples: LocationSample[]): number {
    const known = new Set(this.all().map((sample) => sample.timestamp));
    const fresh = samples.filter((sample) => !known.has(sample.timestamp) && known.add(sample.timestamp));
    if (fresh.length === 0) return 0;
    this.unsent = [...fresh, ...this.unsent].sort((a, b) => a.timestamp - b.timestamp);
    for (const sample of this.unsent) this.addedOrder.set(sample, this.nextOrder++);
    return this.trim();
  }

  /** Every sample held, in flight and unsent, in the order they were added. */
  all(): LocationSample[] {
    return this.inAddedOrder([...[...this.inFlight.values()].flatMap((batch) => batch.samples), ...this.unsent]);
  }

  /** Drops the oldest unsent samples beyond capacity; returns how many. Samples joined: {@link changed}. */
  private trim(): number {
    const dropped = Math.min(Math.max(0, this.size - this.capacity), this.unsent.length);
    this.unsent.splice(0, dropped);
    this.changed();
    return dropped;
  }

  /**
   * Moves up to {@link Limits.MAX_SAMPLES_PER_FRAME} unsent samples (oldest first) into a new
   * in-flight batch and returns its `location` frame, or `undefined` when nothing is unsent.
   * Sequence numbers increase and wrap to 0 after {@link Limits.MAX_SEQ}.
   */
  takeFrame(now = 0): LocationFrame | undefined {
    if (this.unsent.length === 0) return undefined;
    const samples = this.unsent.splice(0, Limits.MAX_SAMPLES_PER_FRAME);
    const seq = this.nextSeq;
    this.nextSeq = seq >= Limits.MAX_SEQ ? 0 : seq + 1;
    this.inFlight.set(seq, { samples, sentAt: now });
    this.inFlightCount += samples.length;
    return { type: 'location', seq, samples };
  }

  /** True when batch `seq` is in flight. */
  isInFlight(seq: number): boolean {
    return this.inFlight.has(seq);
  }

  /** Forgets batch `seq` (acknowledged, or refused for good). Returns how many samples it held. */
  remove(seq: number): number {
    const count = this.take(seq)?.length ?? 0;
    if (count > 0) this.changed();
    return count;
  }

  /** Puts batch `seq` back among the unsent samples, in the order they were added. Returns false if unknown. */
  requeue(seq: number): boolean {
    const samples = this.take(seq);
    if (samples === undefined) return false;
    this.unsent = this.inAddedOrder([...samples, ...this.unsent]);
    return true;
  }

  /** Takes batch `seq` out of the in-flight ones. */
  private take(seq: number): LocationSample[] | undefined {
    const samples = this.inFlight.get(seq)?.samples;
    if (samples === undefined) return undefined;
    this.inFlight.delete(seq);
    this.inFlightCount -= samples.length;
    return samples;
  }

  /** Puts every in-flight batch back among the unsent samples (the connection was lost). */
  requeueAll(): void {
    if (this.inFlight.size === 0) return;
    const returning = [...this.inFlight.values()].flatMap((batch) => batch.samples);
    this.inFlight.clear();
    this.inFlightCount = 0;
    this.unsent = this.inAddedOrder([...returning, ...this.unsent]);
  }

  private inAddedOrder(samples: LocationSample[]): LocationSample[] {
    return samples.sort((a, b) => (this.addedOrder.get(a) ?? 0) - (this.addedOrder.get(b) ?? 0));
  }

  /** When the oldest in-flight batch was sent, or `undefined` when none is in flight. */
  oldestSentAt(): number | undefined {
    let oldest: number | undefined;
    for (const batch of this.inFlight.values()) if (oldest === undefined || batch.sentAt < oldest) oldest = batch.sentAt;
    return oldest;
  }

  /** Puts back every in-flight batch sent at or before `cutoff` (never acknowledged). Returns how many batches. */
  requeueSentBefore(cutoff: number): number {
    let count = 0;
    for (const [seq, batch] of [...this.inFlight]) {
      if (batch.sentAt > cutoff) continue;
      this.requeue(seq);
      count++;
    }
    return count;
  }
}
