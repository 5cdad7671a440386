import { describe, expect, it, type TestContext } from 'vitest';
import type { HistorySample, HistoryStore } from '../adapters/types.js';

/** Collects an async iterable. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** A sample of `userId` recorded at `recordedAt`, received 5 ms later. */
export function historySample(userId: string, recordedAt: number, extra: Partial<HistorySample> = {}): HistorySample {
  return { userId, lat: 37.5 + (recordedAt % 1000) / 1e4, lon: 127, recordedAt, receivedAt: recordedAt + 5, ...extra };
}

/**
 * What every {@link HistoryStore} must do. `make` returns a store over an empty table (or a
 * fresh instance) for each test; it receives the test context, so it may `ctx.skip()` when its
 * backend is not available.
 */
export function describeHistoryStoreContract(label: string, make: (ctx: TestContext) => Promise<HistoryStore>): void {
  const sample = historySample;
  describe(`HistoryStore contract: ${label}`, () => {
    it('stores samples and returns them by user in recordedAt order, with every field intact', async (ctx) => {
      const store = await make(ctx);
      const t = 1_700_000_000_123; // millisecond precision must survive
      await store.append([sample('a', t + 2), sample('b', t), sample('a', t, { accuracy: 12.5 }), sample('a', t + 1)]);
      const a = await collect(store.query({ userId: 'a' }));
      expect(a.map((s) => s.recordedAt)).toEqual([t, t + 1, t + 2]);
      expect(a[0]).toEqual({ userId: 'a', lat: 37.5 + (t % 1000) / 1e4, lon: 127, accuracy: 12.5, recordedAt: t, receivedAt: t + 5 });
      expect(a[1]).not.toHaveProperty('accuracy');
      expect(await collect(store.query({ userId: 'b' }))).toHaveLength(1);
      expect(await collect(store.query({ userId: 'nobody' }))).toEqual([]);
    });

    it('is idempotent on (userId, recordedAt): retries and overlapping resends store each sample once', async (ctx) => {
      const store = await make(ctx);
      const batch = Array.from({ length: 50 }, (_, i) => sample('r', 1_000 + i));
      await store.append(batch);
      await store.append(batch);
      await Promise.all([store.append(batch.slice(0, 30)), store.append(batch.slice(20)), store.append(batch)]);
      const stored = await collect(store.query({ userId: 'r' }));
      expect(stored).toHaveLength(50);
      expect(new Set(stored.map((s) => s.recordedAt)).size).toBe(50);
    });

    it('keeps the first copy of a sample sent twice with different content', async (ctx) => {
      const store = await make(ctx);
      await store.append([sample('d', 7, { lat: 1 })]);
      await store.append([sample('d', 7, { lat: 2 })]);
      expect((await collect(store.query({ userId: 'd' }))).map((s) => s.lat)).toEqual([1]);
    });

    it('queries a time range [from, to) with a limit, across many pages', async (ctx) => {
      const store = await make(ctx);
      await store.append(Array.from({ length: 2500 }, (_, i) => sample('q', 10_000 + i)));
      const range = await collect(store.query({ userId: 'q', from: 10_100, to: 12_100 }));
      expect(range).toHaveLength(2000);
      expect(range[0]!.recordedAt).toBe(10_100);
      expect(range.at(-1)!.recordedAt).toBe(12_099);
      const limited = await collect(store.query({ userId: 'q', from: 12_000, limit: 7 }));
      expect(limited.map((s) => s.recordedAt)).toEqual([12_000, 12_001, 12_002, 12_003, 12_004, 12_005, 12_006]);
      expect(await collect(store.query({ userId: 'q', from: 20_000 }))).toEqual([]);
    });

    it('prunes samples recorded before a time and says how many', async (ctx) => {
      const store = await make(ctx);
      await store.append([...Array.from({ length: 30 }, (_, i) => sample('p', 100 + i)), sample('p2', 50), sample('p2', 500)]);
      expect(await store.prune(120)).toBe(21);
      expect((await collect(store.query({ userId: 'p' }))).map((s) => s.recordedAt)[0]).toBe(120);
      expect((await collect(store.query({ userId: 'p2' }))).map((s) => s.recordedAt)).toEqual([500]);
      expect(await store.prune(120)).toBe(0);
    });
  });
}
