import { describe, expect, it, type TestContext } from 'vitest';
import type { CacheEntry, LocationCache } from '../adapters/types.js';

/** A cache under test, and how to let time pass for it. */
export interface LocationCacheUnderTest {
  cache: LocationCache;
  /**
   * Lets `ms` of the cache's time pass: move an injected clock, or wait for real when the TTL
   * is kept by a server (Redis expires keys on its own clock). Default: a real wait.
   */
  advance?(ms: number): Promise<void>;
}

const realWait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What every {@link LocationCache} must do. `make` returns an empty cache for each test (or one
 * with a key prefix of its own); it receives the test context, so it may `ctx.skip()` when its
 * backend is not available.
 */
export function describeLocationCacheContract(label: string, make: (ctx: TestContext) => Promise<LocationCacheUnderTest>): void {
  describe(`LocationCache contract: ${label}`, () => {
    it('returns what was stored, exactly, and leaves out users without an entry', async (ctx) => {
      const { cache } = await make(ctx);
      const alice: CacheEntry = { lat: 37.566535, lon: 126.9779692, updatedAt: 1_767_225_600_123, epoch: 1_767_225_000_000 };
      const bob: CacheEntry = { lat: -33.8688197, lon: 151.2092955, updatedAt: 1_767_225_600_124, epoch: 0 };
      await cache.set('alice', alice, 60_000);
      await cache.set('bob', bob, 60_000);
      const found = await cache.getMany(['alice', 'nobody', 'bob']);
      expect(Object.fromEntries(found)).toEqual({ alice, bob });
      expect(await cache.getMany([])).toEqual(new Map());
    });

    it('keeps withdrawals like positions, and the latest write wins', async (ctx) => {
      const { cache } = await make(ctx);
      const off: CacheEntry = { withdrawn: 'sharing_off', at: 1_767_225_600_200, epoch: 1_767_225_600_200 };
      const bye: CacheEntry = { withdrawn: 'offline', at: 1_767_225_600_300 };
      const back: CacheEntry = { lat: 1.5, lon: 2.5, updatedAt: 1_767_225_600_400, epoch: 1_767_225_600_350 };
      await cache.set('carol', { lat: 1, lon: 2, updatedAt: 1_767_225_600_100, epoch: 0 }, 60_000);
      await cache.set('carol', off, 60_000);
      expect((await cache.getMany(['carol'])).get('carol')).toEqual(off);
      await cache.set('dave', bye, 60_000);
      expect((await cache.getMany(['dave'])).get('dave')).toEqual(bye);
      await cache.set('carol', back, 60_000);
      expect((await cache.getMany(['carol'])).get('carol')).toEqual(back);
    });

    it('never returns an entry past its TTL, and a write restarts the TTL', async (ctx) => {
      const { cache, advance = realWait } = await make(ctx);
      await cache.set('short', { lat: 1, lon: 2, updatedAt: 3, epoch: 0 }, 300);
      await cache.set('renewed', { lat: 1, lon: 2, updatedAt: 3, epoch: 0 }, 300);
      await advance(200);
      await cache.set('renewed', { lat: 1, lon: 2, updatedAt: 4, epoch: 0 }, 300);
      expect((await cache.getMany(['short'])).has('short')).toBe(true);
      await advance(200);
      const found = await cache.getMany(['short', 'renewed']);
      expect(found.has('short')).toBe(false);
      expect(found.get('renewed')).toMatchObject({ updatedAt: 4 });
    });

    it('reads 5000 users in one call', async (ctx) => {
      const { cache } = await make(ctx);
      const ids = Array.from({ length: 5000 }, (_, i) => `friend-${i}`);
      await Promise.all(ids.slice(0, 500).map((id, i) => cache.set(id, { lat: i / 100, lon: 0, updatedAt: i, epoch: 0 }, 60_000)));
      const found = await cache.getMany(ids);
      expect(found.size).toBe(500);
      expect(found.get('friend-250')).toEqual({ lat: 2.5, lon: 0, updatedAt: 250, epoch: 0 });
    });

    it('keeps user ids apart, whatever characters they hold', async (ctx) => {
      const { cache } = await make(ctx);
      const ids = ['ünïcødé 🚀', 'with:colons', 'with,commas', ' spaced '];
      for (const [i, id] of ids.entries()) await cache.set(id, { lat: i, lon: i, updatedAt: i, epoch: 0 }, 60_000);
      const found = await cache.getMany(ids);
      expect(ids.map((id) => (found.get(id) as { lat: number } | undefined)?.lat)).toEqual([0, 1, 2, 3]);
    });
  });
}
