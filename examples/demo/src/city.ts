import type { LatLon } from '@nearby/protocol';

/** The demo city: a 16 km square around Seoul City Hall. */
export const CITY_CENTRE: LatLon = { lat: 37.5663, lon: 126.9779 };
export const CITY_HALF_SIDE_KM = 8;

const KM_PER_DEG_LAT = 111.32;
const kmPerDegLon = (lat: number) => KM_PER_DEG_LAT * Math.cos((lat * Math.PI) / 180);

/** Moves `from` by `km` along `headingRad` (0 = north), flat-earth (fine at city scale). */
export function move(from: LatLon, km: number, headingRad: number): LatLon {
  return {
    lat: from.lat + (km * Math.cos(headingRad)) / KM_PER_DEG_LAT,
    lon: from.lon + (km * Math.sin(headingRad)) / kmPerDegLon(from.lat),
  };
}

/** Offset of `point` from the centre in km (north, east). */
export function offsetFromCentre(point: LatLon): { northKm: number; eastKm: number } {
  return {
    northKm: (point.lat - CITY_CENTRE.lat) * KM_PER_DEG_LAT,
    eastKm: (point.lon - CITY_CENTRE.lon) * kmPerDegLon(CITY_CENTRE.lat),
  };
}

/** A random point in the city, from a seeded random source. */
export function randomPoint(random: () => number): LatLon {
  const north = (random() * 2 - 1) * CITY_HALF_SIDE_KM;
  const east = (random() * 2 - 1) * CITY_HALF_SIDE_KM;
  return move(move(CITY_CENTRE, north, 0), east, Math.PI / 2);
}

/** Deterministic PRNG (mulberry32), so a demo run can be replayed with the same seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
