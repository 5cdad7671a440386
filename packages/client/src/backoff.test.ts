import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

const options = { initialDelayMs: 500, maxDelayMs: 30_000, multiplier: 2 };

/** A deterministic uniform source: evenly spread values in [0, 1). */
function sequence(count: number): () => number {
  let i = 0;
  return () => (i++ % count) / count;
}

describe('backoffDelay', () => {
  it('stays within [0, min(max, initial·multiplier^attempt)] for every attempt and any random value', () => {
    for (let attempt = 0; attempt < 60; attempt++) {
      const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** attempt);
      for (const r of [0, 1e-9, 0.25, 0.5, 0.999999, 1]) {
        const delay = backoffDelay(attempt, options, () => r);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(ceiling);
      }
    }
  });

  it('uses full jitter: the delays span the whole range from 0 to the ceiling', () => {
    const random = sequence(1000);
    const delays = Array.from({ length: 1000 }, () => backoffDelay(3, options, random));
    const ceiling = 500 * 2 ** 3;
    expect(Math.min(...delays)).toBe(0);
    expect(Math.max(...delays)).toBeGreaterThan(ceiling * 0.99);
    // Roughly uniform: about half the values fall under half the ceiling.
    const low = delays.filter((d) => d < ceiling / 2).length;
    expect(low).toBeGreaterThan(450);
    expect(low).toBeLessThan(550);
  });

  it('grows exponentially with the attempt until the cap', () => {
    const max = (attempt: number) => backoffDelay(attempt, options, () => 1);
    expect([0, 1, 2, 3, 4, 5, 6].map(max)).toEqual([500, 1000, 2000, 4000, 8000, 16_000, 30_000]);
    expect(max(1000)).toBe(30_000);
    const mean = (attempt: number) => {
      const random = sequence(100);
      return Array.from({ length: 100 }, () => backoffDelay(attempt, options, random)).reduce((a, b) => a + b) / 100;
    };
    expect(mean(1)).toBeGreaterThan(mean(0));
    expect(mean(4)).toBeGreaterThan(mean(2));
  });

  it('never returns a negative or NaN delay for a misbehaving random source or attempt', () => {
    expect(backoffDelay(2, options, () => -3)).toBe(0);
    expect(backoffDelay(2, options, () => 7)).toBe(2000);
    expect(backoffDelay(2, options, () => Number.NaN)).toBe(0);
    expect(backoffDelay(-5, options, () => 1)).toBe(500);
    expect(backoffDelay(Number.POSITIVE_INFINITY, options, () => 1)).toBe(30_000);
  });
});
