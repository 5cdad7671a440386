import { describe, expect, it } from 'vitest';
import { VersionClock } from './version-clock.js';

describe('VersionClock', () => {
  it('follows the clock, strictly increasing even within one millisecond or when the clock goes back', () => {
    let now = 1_000.7;
    const clock = new VersionClock(() => now);
    expect(clock.next()).toBe(1_000);
    expect(clock.next()).toBe(1_001);
    now = 500;
    expect(clock.next()).toBe(1_002);
    now = 5_000;
    expect(clock.next()).toBe(5_000);
  });

  it('is always newer than the version a change follows, whatever the clock says', () => {
    const clock = new VersionClock(() => 10);
    expect(clock.next(9_999)).toBe(10_000);
    expect(clock.next(3)).toBe(10_001);
  });
});
