import { Limits, type LocationFrame, type LocationSample } from '@nearby/protocol';

/**
 * The client's bounded store of location samples until the server acknowledges them
 * (at-least-once delivery to the history store).
 *
 * Samples are either *unsent* (waiting for the next flush) or *in flight* (sent in a `location`
 * frame with a `seq`, not yet acknowledged). Unsent plus in-flight samples never exceed the
 * capacity; on overflow the oldest unsent samples are dropped, because recent positions matter
 * more for a live map and the old ones are likely superseded.
 *
 * A closure rather than a class, like the uploader that holds it: private state as locals.
 *
 * @param capacity - Largest number of unsent plus in-flight samples kept.
 * @param changed - Called when samples joined or left the buffer (not when they only moved).
 * @param firstSeq - Sequence number of the first batch.
 */
export function createOutbox(capacity: number, changed: () => void = () => {}, firstSeq = 0) {
  let unsent: LocationSample[] = [];
  const inFlight = new Map<number, { samples: LocationSample[]; sentAt: number }>();
  let inFlightCount = 0;
  let nextSeq = firstSeq;
  /**
   * The order samples were added in. Batches that come back are merged by it, not by timestamp:
   * after the device clock was set back, an older timestamp can belong to a newer fix.
   */
  const addedOrder = new WeakMap<LocationSample, number>();
  let nextOrder = 0;

  const size = (): number => unsent.length + inFlightCount;

  const inAddedOrder = (samples: LocationSample[]): LocationSample[] =>
    samples.sort((a, b) => (addedOrder.get(a) ?? 0) - (addedOrder.get(b) ?? 0));

  /** Every sample held, in flight and unsent, in the order they were added. */
  const all = (): LocationSample[] => inAddedOrder([...[...inFlight.values()].flatMap((batch) => batch.samples), ...unsent]);

  /** Drops the oldest unsent samples beyond capacity; returns how many. Samples joined: `changed`. */
  const trim = (): number => {
    const dropped = Math.min(Math.max(0, size() - capacity), unsent.length);
    unsent.splice(0, dropped);
    changed();
    return dropped;
  };

  /** Takes batch `seq` out of the in-flight ones. */
  const take = (seq: number): LocationSample[] | undefined => {
    const samples = inFlight.get(seq)?.samples;
    if (samples === undefined) return undefined;
    inFlight.delete(seq);
    inFlightCount -= samples.length;
    return samples;
  };

  /** Puts batch `seq` back among the unsent samples, in the order they were added. Returns false if unknown. */
  const requeue = (seq: number): boolean => {
    const samples = take(seq);
    if (samples === undefined) return false;
    unsent = inAddedOrder([...samples, ...unsent]);
    return true;
  };

  return {
    all,
    requeue,

    /** Unsent plus in-flight samples. */
    get size(): number {
      return size();
    },

    /** Samples waiting for a flush. */
    get unsentCount(): number {
      return unsent.length;
    },

    /**
     * Appends a sample. Returns how many of the oldest unsent samples were dropped to stay
     * within capacity (normally 0). If every other sample is in flight, the new sample itself is
     * the oldest unsent one and is the one dropped.
     */
    add(sample: LocationSample): number {
      addedOrder.set(sample, nextOrder++);
      unsent.push(sample);
      return trim();
    },

    /**
     * Merges samples kept from an earlier run (see `persist`) with the unsent ones, in
     * timestamp order, skipping timestamps already buffered (the server keys samples by user and
     * timestamp). Returns how many of the oldest unsent samples were dropped to stay within capacity.
     */
    restore(samples: LocationSample[]): number {
      const known = new Set(all().map((sample) => sample.timestamp));
      const fresh = samples.filter((sample) => !known.has(sample.timestamp) && known.add(sample.timestamp));
      if (fresh.length === 0) return 0;
      unsent = [...fresh, ...unsent].sort((a, b) => a.timestamp - b.timestamp);
      for (const sample of unsent) addedOrder.set(sample, nextOrder++);
      return trim();
    },

    /**
     * Moves up to {@link Limits.MAX_SAMPLES_PER_FRAME} unsent samples (oldest first) into a new
     * in-flight batch and returns its `location` frame, or `undefined` when nothing is unsent.
     * Sequence numbers increase and wrap to 0 after {@link Limits.MAX_SEQ}.
     */
    takeFrame(now = 0): LocationFrame | undefined {
      if (unsent.length === 0) return undefined;
      const samples = unsent.splice(0, Limits.MAX_SAMPLES_PER_FRAME);
      const seq = nextSeq;
      nextSeq = seq >= Limits.MAX_SEQ ? 0 : seq + 1;
      inFlight.set(seq, { samples, sentAt: now });
      inFlightCount += samples.length;
      return { type: 'location', seq, samples };
    },

    /** True when batch `seq` is in flight. */
    isInFlight(seq: number): boolean {
      return inFlight.has(seq);
    },

    /** Forgets batch `seq` (acknowledged, or refused for good). Returns how many samples it held. */
    remove(seq: number): number {
      const count = take(seq)?.length ?? 0;
      if (count > 0) changed();
      return count;
    },

    /** Puts every in-flight batch back among the unsent samples (the connection was lost). */
    requeueAll(): void {
      if (inFlight.size === 0) return;
      const returning = [...inFlight.values()].flatMap((batch) => batch.samples);
      inFlight.clear();
      inFlightCount = 0;
      unsent = inAddedOrder([...returning, ...unsent]);
    },

    /** When the oldest in-flight batch was sent, or `undefined` when none is in flight. */
    oldestSentAt(): number | undefined {
      let oldest: number | undefined;
      for (const batch of inFlight.values()) if (oldest === undefined || batch.sentAt < oldest) oldest = batch.sentAt;
      return oldest;
    },

    /** Puts back every in-flight batch sent at or before `cutoff` (never acknowledged). Returns how many batches. */
    requeueSentBefore(cutoff: number): number {
      let count = 0;
      for (const [seq, batch] of [...inFlight]) {
        if (batch.sentAt > cutoff) continue;
        requeue(seq);
        count++;
      }
      return count;
    },
  };
}
