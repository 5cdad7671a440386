import { describe, expect, it, vi } from 'vitest';
import { manualTimers } from '../../manual-timers.test-support.js';
import { MemoryLocationCache } from './location-cache.js';

function setup(start = 1_000_000) {
  let now = start;
  const cache = new MemoryLocationCache({ now: () => now });
  return {
    cache,
    advance(ms: number) {
      now += ms;
    },
    get now() {
      return now;
    },
  };
}

describe('MemoryLocationCache', () => {
  it('stores and reads a location', async () => {
    const { cache } = setup();
    await cache.set('alice', { lat: 52.5, lon: 13.4, updatedAt: 7 }, 60_000);
    expect(await cache.getMany(['alice'])).toEqual(new Map([['alice', { lat: 52.5, lon: 13.4, updatedAt: 7 }]]));
    expect(cache.size).toBe(1);
  });

  it('leaves users without an entry out of the result', async () => {
    const { cache } = setup();
    await cache.set('alice', { lat: 1, lon: 2, updatedAt: 3 }, 60_000);
    const found = await cache.getMany(['nobody', 'alice', 'ghost']);
    expect([...found.keys()]).toEqual(['alice']);
    expect(await cache.getMany([])).toEqual(new Map());
  });

  it('expires an entry after its TTL (injected clock)', async () => {
    const t = setup();
    await t.cache.set('alice', { lat: 1, lon: 2, updatedAt: 3 }, 10_000);
    t.advance(9_999);
    expect((await t.cache.getMany(['alice'])).has('alice')).toBe(true);
    t.advance(2);
    expect((await t.cache.getMany(['alice'])).has('alice')).toBe(false);
    expect(t.cache.size).toBe(0); // dropped when found expired
  });

  it('restarts the TTL when an entry is written again, and keeps the newest value', async () => {
    const t = setup();
    await t.cache.set('alice', { lat: 1, lon: 1, updatedAt: 1 }, 10_000);
    t.advance(8_000);
    await t.cache.set('alice', { lat: 2, lon: 2, updatedAt: 2 }, 10_000);
    t.advance(8_000); // 16 s after the first write, 8 s after the second
    expect((await t.cache.getMany(['alice'])).get('alice')).toEqual({ lat: 2, lon: 2, updatedAt: 2 });
    t.advance(2_001);
    expect((await t.cache.getMany(['alice'])).size).toBe(0);
  });

  it('keeps a separate TTL per entry', async () => {
    const t = setup();
    await t.cache.set('short', { lat: 1, lon: 1, updatedAt: 1 }, 1_000);
    await t.cache.set('long', { lat: 2, lon: 2, updatedAt: 1 }, 5_000);
    t.advance(2_000);
    expect([...(await t.cache.getMany(['short', 'long'])).keys()]).toEqual(['long']);
  });

  it('reads 5000 ids in one call, returning exactly the unexpired ones', async () => {
    const t = setup();
    for (let i = 0; i < 5000; i++) {
      await t.cache.set(`u${i}`, { lat: i / 1000, lon: -i / 1000, updatedAt: i }, i % 2 === 0 ? 1_000 : 60_000);
    }
    t.advance(30_000); // the even ids have expired
    const ids = Array.from({ length: 5000 }, (_, i) => `u${i}`);
    const found = await t.cache.getMany(ids);
    expect(found.size).toBe(2500);
    for (let i = 0; i < 5000; i++) {
      if (i % 2 === 0) expect(found.has(`u${i}`)).toBe(false);
      else expect(found.get(`u${i}`)).toEqual({ lat: i / 1000, lon: -i / 1000, updatedAt: i });
    }
  });

  it('keeps a withdrawal in place of a position, with the same TTL', async () => {
    const t = setup();
    await t.cache.set('alice', { lat: 1, lon: 2, updatedAt: 3, epoch: 0 }, 60_000);
    await t.cache.set('alice', { withdrawn: 'sharing_off', at: 4, epoch: 4 }, 60_000);
    await t.cache.set('bob', { withdrawn: 'offline', at: 5 }, 60_000);
    expect(await t.cache.getMany(['alice', 'bob'])).toEqual(
      new Map<string, unknown>([
        ['alice', { withdrawn: 'sharing_off', at: 4, epoch: 4 }],
        ['bob', { withdrawn: 'offline', at: 5 }],
      ]),
    );
    t.advance(60_000);
    expect((await t.cache.getMany(['alice', 'bob'])).size).toBe(0);
  });

  it('copies locations in and out, so callers cannot change what is cached', async () => {
    const { cache } = setup();
    const location = { lat: 1, lon: 2, updatedAt: 3 };
    await cache.set('alice', location, 60_000);
    location.lat = 99;
    const first = (await cache.getMany(['alice'])).get('alice') as { lat: number; lon: number };
    expect(first.lat).toBe(1);
    first.lon = 99;
    expect((await cache.getMany(['alice'])).get('alice')).toEqual({ lat: 1, lon: 2, updatedAt: 3 });
  });

  it('does not accumulate expired entries as writes go on', async () => {
    const t = setup();
    for (let i = 0; i < 500; i++) await t.cache.set(`old${i}`, { lat: 0, lon: 0, updatedAt: 0 }, 1_000);
    t.advance(10_000);
    for (let i = 0; i < 5000; i++) await t.cache.set('busy', { lat: 0, lon: 0, updatedAt: i }, 1_000);
    expect(t.cache.size).toBe(1);
  });

  it('close() forgets everything', async () => {
    const { cache } = setup();
    await cache.set('alice', { lat: 1, lon: 2, updatedAt: 3 }, 60_000);
    await cache.close();
    expect(cache.size).toBe(0);
    expect((await cache.getMany(['alice'])).size).toBe(0);
  });

  it('uses the global clock by default', async () => {
    const cache = new MemoryLocationCache();
    await cache.set('alice', { lat: 1, lon: 2, updatedAt: 3 }, 60_000);
    expect((await cache.getMany(['alice'])).size).toBe(1);
    await cache.set('bob', { lat: 1, lon: 2, updatedAt: 3 }, -1); // already expired
    expect((await cache.getMany(['bob'])).size).toBe(0);
  });
});

describe('MemoryLocationCache on injected timers', () => {
  it('expires entries by the clock of the timers it is given', async () => {
    const timers = manualTimers(5_000);
    const cache = new MemoryLocationCache({ timers });
    await cache.set('alice', { lat: 1, lon: 2, updatedAt: 3 }, 1_000);
    timers.advance(999);
    expect((await cache.getMany(['alice'])).has('alice')).toBe(true);
    timers.advance(1);
    expect((await cache.getMany(['alice'])).has('alice')).toBe(false);
  });

  it('reads the global clock at call time by default, so fake timers installed later take effect', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    try {
      const cache = new MemoryLocationCache();
      await cache.set('alice', { lat: 1, lon: 2, updatedAt: 3 }, 1_000);
      vi.setSystemTime(1_000_999);
      expect((await cache.getMany(['alice'])).has('alice')).toBe(true);
      vi.setSystemTime(1_001_000);
      expect((await cache.getMany(['alice'])).has('alice')).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });
});
