import { describe, expect, it } from 'vitest';
import { earthRadius, getDistance } from 'geolib';
import { EARTH_RADIUS_M, distanceKm, isValidLatLon, mayBeWithin } from './geo.js';

describe('distanceKm', () => {
  it("uses geolib's Earth radius", () => {
    expect(EARTH_RADIUS_M).toBe(earthRadius);
  });

  it('measures known city pairs within 0.5 %', () => {
    // Seoul City Hall → Gangnam station ≈ 8.9 km; Paris → London ≈ 343.5 km.
    expect(distanceKm({ lat: 37.5663, lon: 126.9779 }, { lat: 37.4979, lon: 127.0276 })).toBeCloseTo(8.78, 0);
    const parisLondon = distanceKm({ lat: 48.8566, lon: 2.3522 }, { lat: 51.5074, lon: -0.1278 });
    expect(Math.abs(parisLondon - 343.5) / 343.5).toBeLessThan(0.005);
  });

  it('equals geolib getDistance to the metre, for random pairs near and far', () => {
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let i = 0; i < 20_000; i++) {
      const a = { lat: random() * 180 - 90, lon: random() * 360 - 180 };
      const b =
        i % 2 === 0
          ? { lat: Math.max(-90, Math.min(90, a.lat + (random() - 0.5) * 0.2)), lon: a.lon + (random() - 0.5) * 0.2 }
          : { lat: random() * 180 - 90, lon: random() * 360 - 180 };
      const expected = getDistance({ latitude: a.lat, longitude: a.lon }, { latitude: b.lat, longitude: b.lon }, 1) / 1000;
      expect(distanceKm(a, b)).toBe(expected);
    }
  });

  it('is zero for the same point and symmetric', () => {
    const a = { lat: 10, lon: 20 };
    const b = { lat: 10.05, lon: 20.05 };
    expect(distanceKm(a, a)).toBe(0);
    expect(distanceKm(a, b)).toBe(distanceKm(b, a));
  });
});

describe('mayBeWithin', () => {
  it('never rejects a pair that is within the radius (checked on a grid, including the antimeridian and poles)', () => {
    const centres = [
      { lat: 0, lon: 0 },
      { lat: 37.5, lon: 127 },
      { lat: 89.9, lon: 10 },
      { lat: -60, lon: 179.99 },
    ];
    for (const centre of centres) {
      for (let i = -20; i <= 20; i++) {
        for (let j = -20; j <= 20; j++) {
          let lon = centre.lon + j * 0.01;
          if (lon > 180) lon -= 360;
          const other = { lat: Math.max(-90, Math.min(90, centre.lat + i * 0.01)), lon };
          const d = distanceKm(centre, other);
          for (const radius of [0.5, 1, 2, 8]) {
            if (d <= radius) expect(mayBeWithin(centre, other, radius)).toBe(true);
          }
        }
      }
    }
  });

  it('rejects pairs that are clearly far apart', () => {
    expect(mayBeWithin({ lat: 37.5, lon: 127 }, { lat: 37.5, lon: 128 }, 8)).toBe(false);
    expect(mayBeWithin({ lat: 37.5, lon: 127 }, { lat: 38, lon: 127 }, 8)).toBe(false);
  });
});

describe('isValidLatLon', () => {
  it.each([
    [0, 0, true],
    [90, 180, true],
    [-90, -180, true],
    [90.1, 0, false],
    [0, 180.1, false],
    [Number.NaN, 0, false],
    [0, Number.POSITIVE_INFINITY, false],
    ['1', 0, false],
  ])('(%s, %s) → %s', (lat, lon, valid) => {
    expect(isValidLatLon(lat, lon)).toBe(valid);
  });
});
