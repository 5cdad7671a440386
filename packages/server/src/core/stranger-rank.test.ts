import { describe, expect, it } from 'vitest';
import { rankKeyOf, rankOf } from './stranger-rank.js';

const ids = Array.from({ length: 200 }, (_, i) => `user-${i}`);
const order = (key: ReturnType<typeof rankKeyOf>) => [...ids].sort((a, b) => rankOf(key, a) - rankOf(key, b));

describe('the rank of strangers of one distance band', () => {
  it('is the same for a viewer every time, on any process with the same secret', () => {
    expect(order(rankKeyOf('sixteen-characters!', 'dan'))).toEqual(order(rankKeyOf('sixteen-characters!', 'dan')));
    expect(rankKeyOf('sixteen-characters!', 'dan')).toEqual(rankKeyOf('sixteen-characters!', 'dan'));
  });

  it('orders the same people differently for another viewer and under another secret', () => {
    const dan = order(rankKeyOf('sixteen-characters!', 'dan'));
    const erin = order(rankKeyOf('sixteen-characters!', 'erin'));
    const otherSecret = order(rankKeyOf('another-secret-of-16', 'dan'));
    // The first 20 (a full list taken from one crowded band) mostly differ.
    const overlap = (a: string[], b: string[]) => a.slice(0, 20).filter((id) => b.slice(0, 20).includes(id)).length;
    expect(overlap(dan, erin)).toBeLessThan(10);
    expect(overlap(dan, otherSecret)).toBeLessThan(10);
  });

  it('spreads ids that differ in one character over the whole range', () => {
    const key = rankKeyOf('sixteen-characters!', 'dan');
    const ranks = ids.map((id) => rankOf(key, id));
    expect(new Set(ranks).size).toBe(ids.length);
    // Each quarter of the 32-bit range gets a fair share of 200 ranks.
    for (let quarter = 0; quarter < 4; quarter++) {
      const inQuarter = ranks.filter((rank) => Math.floor(rank / 2 ** 30) === quarter).length;
      expect(inQuarter).toBeGreaterThan(25);
      expect(inQuarter).toBeLessThan(75);
    }
  });
});
