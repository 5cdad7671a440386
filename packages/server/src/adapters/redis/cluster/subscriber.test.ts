import { describe, expect, it } from 'vitest';
import { keySlot } from './key-slot.js';
import { isClosed, isMoved, movedTo, slotBatches } from './subscriber.js';

describe('slotBatches', () => {
  it('puts channels of one slot only in each command, at most batchSize of them', () => {
    const tagged = Array.from({ length: 5 }, (_, i) => `nearby:{crowd}:${i}`);
    const others = Array.from({ length: 40 }, (_, i) => `nearby:u:user-${i}`);
    const batches = slotBatches([...tagged, ...others], 2);
    for (const batch of batches) {
      expect(batch.length).toBeLessThanOrEqual(2);
      expect(new Set(batch.map(keySlot)).size).toBe(1);
    }
    expect(batches.flat().sort()).toEqual([...tagged, ...others].sort());
    expect(batches.filter((batch) => batch[0]!.includes('{crowd}')).map((batch) => batch.length)).toEqual([2, 2, 1]);
    expect(slotBatches([], 10)).toEqual([]);
  });
});

describe('replies', () => {
  it('reads the slot and new owner of a MOVED reply', () => {
    const moved = new Error('MOVED 3999 127.0.0.1:6381');
    expect(isMoved(moved)).toBe(true);
    expect(movedTo(moved)).toEqual({ slot: 3999, owner: '127.0.0.1:6381' });
    expect(movedTo(new Error('ASK 3999 127.0.0.1:6381'))).toBeUndefined();
    expect(isMoved('MOVED 1 a:1')).toBe(false);
    expect(isClosed(new Error('Connection is closed.'))).toBe(true);
    expect(isClosed(moved)).toBe(false);
  });
});
