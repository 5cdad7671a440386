import { describe, expect, it } from 'vitest';
import type { HistoryQuery, HistorySample } from '../types.js';
import { MemoryHistoryStore } from './history-store.js';

function sample(userId: string, recordedAt: number, lat = 1, lon = 2): HistorySample {
  return { userId, lat, lon, recordedAt, receivedAt: recordedAt + 5 };
}

async function collect(store: MemoryHistoryStore, query: HistoryQuery): Promise<HistorySample[]> {
  const out: HistorySample[] = [];
  for await (const s of store.query(query)) out.push(s);
  return out;
}

const times = (samples: HistorySample[]): number[] => samples.map((s) => s.recordedAt);

describe('MemoryHistoryStore', () => {
  it('is idempotent on (userId, recordedAt): appending the same samples twice stores them once', async () => {
    const store = new MemoryHistoryStore();
    const batch = [sample('u1', 10), sample('u1', 20), sample('u2', 10)];
    await store.append(batch);
    await store.append(batch);
    expect(store.size).toBe(3);
    expect(store.appendCalls).toBe(2);
    expect(times(await collect(store, { userId: 'u1' }))).toEqual([10, 20]);
    expect(times(await collect(store, { userId: 'u2' }))).toEqual([10]);
  });

  it('a resent sample is stored once and the first copy is kept, also within one batch', async () => {
    const store = new MemoryHistoryStore();
    await store.append([sample('u1', 10, 1), sample('u1', 10, 2)]);
    await store.append([{ ...sample('u1', 10, 3), accuracy: 12 }]);
    const stored = await collect(store, { userId: 'u1' });
    expect(stored).toEqual([sample('u1', 10, 1)]);
    expect(store.size).toBe(1);
  });

  it('queries one user by range [from, to) in recordedAt order', async () => {
    const store = new MemoryHistoryStore();
    await store.append([sample('u1', 50), sample('u1', 10), sample('u2', 30), sample('u1', 40)]);
    await store.append([sample('u1', 20), sample('u1', 30), sample('u1', 60)]);

    expect(times(await collect(store, { userId: 'u1' }))).toEqual([10, 20, 30, 40, 50, 60]);
    expect(times(await collect(store, { userId: 'u1', from: 20, to: 50 }))).toEqual([20, 30, 40]);
    expect(times(await collect(store, { userId: 'u1', from: 21 }))).toEqual([30, 40, 50, 60]);
    expect(times(await collect(store, { userId: 'u1', to: 30 }))).toEqual([10, 20]);
    expect(times(await collect(store, { userId: 'u1', from: 30, to: 30 }))).toEqual([]);
    expect(times(await collect(store, { userId: 'u2' }))).toEqual([30]);
    expect(await collect(store, { userId: 'nobody' })).toEqual([]);
  });

  it('applies the limit after ordering and range', async () => {
    const store = new MemoryHistoryStore();
    await store.append([5, 1, 4, 2, 3].map((t) => sample('u1', t)));
    expect(times(await collect(store, { userId: 'u1', limit: 2 }))).toEqual([1, 2]);
    expect(times(await collect(store, { userId: 'u1', from: 2, limit: 2 }))).toEqual([2, 3]);
    expect(times(await collect(store, { userId: 'u1', limit: 10 }))).toEqual([1, 2, 3, 4, 5]);
    expect(await collect(store, { userId: 'u1', limit: 0 })).toEqual([]);
  });

  it('yields copies, so callers cannot change stored samples', async () => {
    const store = new MemoryHistoryStore();
    const original = sample('u1', 1);
    await store.append([original]);
    original.lat = 99;
    const [first] = await collect(store, { userId: 'u1' });
    expect(first!.lat).toBe(1);
    first!.lat = 77;
    expect((await collect(store, { userId: 'u1' }))[0]!.lat).toBe(1);
  });

  it('prune removes samples recorded before the bound and returns how many', async () => {
    const store = new MemoryHistoryStore();
    await store.append([sample('u1', 10), sample('u1', 20), sample('u1', 30), sample('u2', 5), sample('u3', 40)]);
    expect(await store.prune(20)).toBe(2); // u1@10 and u2@5; 20 itself is kept
    expect(store.size).toBe(3);
    expect(times(await collect(store, { userId: 'u1' }))).toEqual([20, 30]);
    expect(await collect(store, { userId: 'u2' })).toEqual([]);
    expect(await store.prune(20)).toBe(0);
    expect(await store.prune(Number.POSITIVE_INFINITY)).toBe(3);
    expect(store.size).toBe(0);
  });

  it('a user whose samples were all pruned can store again', async () => {
    const store = new MemoryHistoryStore();
    await store.append([sample('u1', 1)]);
    await store.prune(100);
    await store.append([sample('u1', 200)]);
    expect(times(await collect(store, { userId: 'u1' }))).toEqual([200]);
  });

  it('evicts the earliest stored sample of a user beyond maxSamplesPerUser', async () => {
    const store = new MemoryHistoryStore({ maxSamplesPerUser: 3 });
    await store.append([sample('u1', 1), sample('u1', 2), sample('u1', 3), sample('u2', 1)]);
    await store.append([sample('u1', 4), sample('u1', 5)]);
    expect(times(await collect(store, { userId: 'u1' }))).toEqual([3, 4, 5]);
    expect(times(await collect(store, { userId: 'u2' }))).toEqual([1]); // per user
    expect(store.size).toBe(4);
  });

  it('a resent sample does not count against maxSamplesPerUser', async () => {
    const store = new MemoryHistoryStore({ maxSamplesPerUser: 3 });
    await store.append([sample('u1', 1), sample('u1', 2), sample('u1', 3)]);
    await store.append([sample('u1', 3), sample('u1', 2), sample('u1', 1)]);
    expect(times(await collect(store, { userId: 'u1' }))).toEqual([1, 2, 3]);
  });

  it('keeps 10 000 samples per user by default', async () => {
    const store = new MemoryHistoryStore();
    await store.append(Array.from({ length: 10_001 }, (_, i) => sample('u1', i)));
    expect(store.size).toBe(10_000);
    const stored = await collect(store, { userId: 'u1', limit: 1 });
    expect(times(stored)).toEqual([1]);
  });

  it('rejects a maxSamplesPerUser below 1', () => {
    expect(() => new MemoryHistoryStore({ maxSamplesPerUser: 0 })).toThrow(RangeError);
    expect(() => new MemoryHistoryStore({ maxSamplesPerUser: Number.NaN })).toThrow(RangeError);
    expect(() => new MemoryHistoryStore({ maxSamplesPerUser: Number.POSITIVE_INFINITY })).not.toThrow();
  });
});
