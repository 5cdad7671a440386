import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.js';

describe('TokenBucket', () => {
  it('allows a burst of `capacity`, then refuses until tokens refill', () => {
    let now = 1_000;
    const bucket = new TokenBucket({ capacity: 3, refillPerSecond: 2 }, () => now);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    now += 499; // 0.998 tokens
    expect(bucket.take()).toBe(false);
    now += 1; // 1.0 token
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
  });

  it('never holds more than its capacity however long it idles', () => {
    let now = 0;
    const bucket = new TokenBucket({ capacity: 5, refillPerSecond: 100 }, () => now);
    now += 3_600_000;
    let granted = 0;
    while (bucket.take()) granted++;
    expect(granted).toBe(5);
  });

  it('holds a sustained rate equal to refillPerSecond', () => {
    let now = 0;
    const bucket = new TokenBucket({ capacity: 1, refillPerSecond: 10 }, () => now);
    let granted = 0;
    for (let ms = 0; ms < 10_000; ms += 10) {
      now = ms;
      if (bucket.take()) granted++;
    }
    // 10 s at 10/s plus the initial token.
    expect(granted).toBeGreaterThanOrEqual(100);
    expect(granted).toBeLessThanOrEqual(101);
  });

  it('ignores a clock that goes backwards', () => {
    let now = 10_000;
    const bucket = new TokenBucket({ capacity: 1, refillPerSecond: 1 }, () => now);
    expect(bucket.take()).toBe(true);
    now = 0;
    expect(bucket.take()).toBe(false);
  });

  it('rejects nonsensical options', () => {
    expect(() => new TokenBucket({ capacity: 0, refillPerSecond: 1 }, () => 0)).toThrow(RangeError);
    expect(() => new TokenBucket({ capacity: 1, refillPerSecond: 0 }, () => 0)).toThrow(RangeError);
  });
});
