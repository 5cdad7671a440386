import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { distance as levenshtein } from 'fastest-levenshtein';
import { ErrorCode } from './codes.js';
import { NearbyError } from './errors.js';
import { checkOptionKeys, editDistance, nearestKey, optionKeys } from './options-check.js';

describe('editDistance', () => {
  it('counts insertions, deletions, substitutions and adjacent swaps', () => {
    expect(editDistance('frame', 'frames')).toBe(1);
    expect(editDistance('frames', 'frame')).toBe(1);
    expect(editDistance('port', 'post')).toBe(1);
    expect(editDistance('raduisKm', 'radiusKm')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('ca', 'abc')).toBe(3);
  });

  it('ignores case', () => {
    expect(editDistance('radiusKM', 'radiusKm')).toBe(0);
    expect(editDistance('WINDOWMS', 'windowMs')).toBe(0);
  });

  it('equals Levenshtein without swaps and never exceeds it', () => {
    const word = fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'D'), maxLength: 9 });
    fc.assert(
      fc.property(word, word, (a, b) => {
        const reference = levenshtein(a.toLowerCase(), b.toLowerCase());
        const distance = editDistance(a, b);
        expect(distance).toBe(editDistance(b, a));
        expect(distance).toBeLessThanOrEqual(reference);
        // Each swap replaces at most two Levenshtein edits.
        expect(distance).toBeGreaterThanOrEqual(Math.ceil(reference / 2));
      }),
    );
    // Strings without any repeated letter pair in swapped order: no swap applies.
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'b'), maxLength: 8 }), fc.string({ unit: fc.constantFrom('c', 'd'), maxLength: 8 }), (a, b) => {
        expect(editDistance(a, b)).toBe(levenshtein(a, b));
      }),
    );
  });
});

describe('nearestKey', () => {
  const known = ['radiusKm', 'maxRadiusKm', 'frames', 'locations', 'maxBatchSamples', 'maxPendingSamples', 'timeoutMs', 'port', 'path', 'host'];

  it('suggests a key a few edits away', () => {
    expect(nearestKey('radiusKM', known)).toBe('radiusKm');
    expect(nearestKey('raduisKm', known)).toBe('radiusKm');
    expect(nearestKey('frame', known)).toBe('frames');
    expect(nearestKey('locaitons', known)).toBe('locations');
    expect(nearestKey('prot', known)).toBe('port');
  });

  it('suggests a key cut short or run on', () => {
    expect(nearestKey('maxBatch', known)).toBe('maxBatchSamples');
    expect(nearestKey('maxPending', known)).toBe('maxPendingSamples');
    expect(nearestKey('timeout', known)).toBe('timeoutMs');
    expect(nearestKey('hostname', known)).toBe('host');
  });

  it('suggests nothing for a far-off key', () => {
    expect(nearestKey('bananas', known)).toBeUndefined();
    expect(nearestKey('x', known)).toBeUndefined();
    expect(nearestKey('max', known)).toBeUndefined();
    expect(nearestKey('pathological', ['path', 'port'])).toBe('path');
    expect(nearestKey('username', known)).toBeUndefined();
  });

  it('prefers the nearest of several candidates, then the first listed', () => {
    expect(nearestKey('maxRadiusKM', known)).toBe('maxRadiusKm');
    expect(nearestKey('pat', ['path', 'part'])).toBe('path');
    expect(nearestKey('pat', ['part', 'path'])).toBe('part');
  });
});

describe('checkOptionKeys', () => {
  function message(run: () => void): string {
    try {
      run();
    } catch (error) {
      expect(error).toBeInstanceOf(NearbyError);
      expect((error as NearbyError).code).toBe(ErrorCode.INVALID_ARGUMENT);
      return (error as Error).message;
    }
    throw new Error('expected a NearbyError');
  }

  it('names the unknown key with its path and the suggestion', () => {
    expect(message(() => checkOptionKeys({ radiusKM: 5 }, ['radiusKm']))).toBe('unknown option radiusKM — did you mean radiusKm?');
    expect(message(() => checkOptionKeys({ frame: {} }, ['frames', 'locations'], 'rateLimit.'))).toBe(
      'unknown option rateLimit.frame — did you mean rateLimit.frames?',
    );
    expect(message(() => checkOptionKeys({ bananas: 1 }, ['radiusKm']))).toBe('unknown option bananas');
  });

  it('refuses an unknown key even when its value is undefined', () => {
    expect(message(() => checkOptionKeys({ radiusKm: 1, radius_km: undefined }, ['radiusKm']))).toBe(
      'unknown option radius_km — did you mean radiusKm?',
    );
  });

  it('accepts known keys, and ignores inherited and symbol keys', () => {
    expect(() => checkOptionKeys({ radiusKm: 1, [Symbol('x')]: 2 }, ['radiusKm'])).not.toThrow();
    expect(() => checkOptionKeys(Object.create({ inherited: 1 }), ['radiusKm'])).not.toThrow();
    expect(() => checkOptionKeys({}, [])).not.toThrow();
  });
});

describe('optionKeys', () => {
  interface Options {
    a?: number;
    b: string;
  }

  it('returns the list it is given', () => {
    expect(optionKeys<Options>()(['a', 'b'])).toEqual(['a', 'b']);
  });

  it('fails to compile on a missing or a foreign key', () => {
    // @ts-expect-error `b` is missing.
    optionKeys<Options>()(['a']);
    // @ts-expect-error `c` is not a key of Options.
    optionKeys<Options>()(['a', 'b', 'c']);
  });
});
