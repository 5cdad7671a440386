import { Limits, type LocationSample } from '@nearby/protocol';
import { describe, expect, it } from 'vitest';
import { createOutbox } from './outbox.js';

const at = (timestamp: number): LocationSample => ({ lat: 1, lon: 2, timestamp });

describe('createOutbox', () => {
  it('chunks unsent samples into frames of at most MAX_SAMPLES_PER_FRAME with increasing seq', () => {
    const outbox = createOutbox(1000);
    for (let t = 0; t < 250; t++) outbox.add(at(t));
    const frames = [outbox.takeFrame(), outbox.takeFrame(), outbox.takeFrame(), outbox.takeFrame()];
    expect(frames.map((f) => f?.samples.length)).toEqual([100, 100, 50, undefined]);
    expect(frames.map((f) => f?.seq)).toEqual([0, 1, 2, undefined]);
    expect(outbox.size).toBe(250);
    expect(outbox.unsentCount).toBe(0);
  });

  it('wraps seq to 0 after MAX_SEQ', () => {
    const outbox = createOutbox(10, undefined, Limits.MAX_SEQ);
    outbox.add(at(1));
    expect(outbox.takeFrame()?.seq).toBe(Limits.MAX_SEQ);
    outbox.add(at(2));
    expect(outbox.takeFrame()?.seq).toBe(0);
  });

  it('forgets acknowledged batches and puts requeued ones back in timestamp order', () => {
    const outbox = createOutbox(100);
    outbox.add(at(1));
    outbox.add(at(2));
    const first = outbox.takeFrame();
    outbox.add(at(3));
    const second = outbox.takeFrame();
    outbox.add(at(4));
    expect(outbox.remove(second!.seq)).toBe(1);
    expect(outbox.remove(second!.seq)).toBe(0);
    expect(outbox.requeue(first!.seq)).toBe(true);
    expect(outbox.requeue(first!.seq)).toBe(false);
    expect(outbox.takeFrame()?.samples.map((s) => s.timestamp)).toEqual([1, 2, 4]);
  });

  it('requeueAll merges every in-flight batch back before the unsent samples', () => {
    const outbox = createOutbox(100);
    outbox.add(at(1));
    outbox.takeFrame();
    outbox.add(at(2));
    outbox.takeFrame();
    outbox.add(at(3));
    outbox.requeueAll();
    expect(outbox.size).toBe(3);
    expect(outbox.isInFlight(0)).toBe(false);
    expect(outbox.takeFrame()?.samples.map((s) => s.timestamp)).toEqual([1, 2, 3]);
  });

  it('drops the oldest unsent samples on overflow, counting in-flight ones against the capacity', () => {
    const outbox = createOutbox(5);
    for (let t = 1; t <= 3; t++) outbox.add(at(t));
    outbox.takeFrame(); // 1,2,3 in flight
    expect(outbox.add(at(4))).toBe(0);
    expect(outbox.add(at(5))).toBe(0);
    expect(outbox.add(at(6))).toBe(1); // drops 4, the oldest unsent; in-flight ones are kept
    expect(outbox.size).toBe(5);
    outbox.requeueAll();
    const timestamps: number[] = [];
    for (let frame = outbox.takeFrame(); frame; frame = outbox.takeFrame()) timestamps.push(...frame.samples.map((s) => s.timestamp));
    expect(timestamps).toEqual([1, 2, 3, 5, 6]);
  });

  it('merges returning batches in the order samples were added, not by timestamp (the device clock was set back)', () => {
    const outbox = createOutbox(100);
    outbox.add(at(5_000)); // taken while the clock ran 5 s ahead
    outbox.takeFrame();
    outbox.add(at(1_000)); // taken after the clock was corrected: newer, although its timestamp is older
    outbox.requeueAll();
    expect(outbox.takeFrame()?.samples.map((s) => s.timestamp)).toEqual([5_000, 1_000]);
  });
});
