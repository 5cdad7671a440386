import { describe, expect, it } from 'vitest';
import { VersionClock } from './version-clock.js';

describe('VersionClock', () => {
  it('follows the clock, and is always newer than the version a change follows, whatever the clock says', () => {
    let now = 1_000.7;
    const clock = new VersionClock(() => now);
    expect(clock.next(0)).toBe(1_000);
    expect(clock.next(1_000)).toBe(1_001);
    expect(clock.next(9_999)).toBe(10_000);
    now = 500;
    expect(clock.next(0)).toBe(500);
  });

  it('nextUnique is strictly increasing within one millisecond and when the clock goes back', () => {
    let now = 1_000;
    const clock = new VersionClock(() => now);
    expect([clock.nextUnique(), clock.nextUnique(), clock.nextUnique()]).toEqual([1_000, 1_001, 1_002]);
    now = 10;
    expect(clock.nextUnique()).toBe(1_003);
    now = 5_000;
    expect(clock.nextUnique()).toBe(5_000);
  });
});
