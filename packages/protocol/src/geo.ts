/** A point on Earth in decimal degrees. */
export interface LatLon {
  lat: number;
  lon: number;
}

/** True when `lat` is in [-90, 90] and `lon` in [-180, 180], both finite numbers. */
export function isValidLatLon(lat: unknown, lon: unknown): boolean {
  return (
    typeof lat === 'number' &&
    typeof lon === 'number' &&
    Number.isFinite(lat) &&
    Number.isFinite(lon) &&
    lat >= -90 &&
    lat <= 90 &&
    lon >= -180 &&
    lon <= 180
  );
}

const DEG_TO_RAD = Math.PI / 180;

/** Earth's equatorial radius in metres (WGS 84), the radius geolib's `getDistance` uses. */
export const EARTH_RADIUS_M = 6_378_137;

/**
 * Straight-line (great-circle) distance between two points, in kilometres, rounded to the
 * metre: the same spherical law of cosines on the same Earth radius as geolib's `getDistance`,
 * giving identical results, without its per-call parsing of input formats (the server runs this
 * for every friend position it checks) and without the dependency in a client bundle.
 */
export function distanceKm(a: LatLon, b: LatLon): number {
  const fromLat = a.lat * DEG_TO_RAD;
  const toLat = b.lat * DEG_TO_RAD;
  const deltaLon = (a.lon - b.lon) * DEG_TO_RAD;
  let cosine = Math.sin(toLat) * Math.sin(fromLat) + Math.cos(toLat) * Math.cos(fromLat) * Math.cos(deltaLon);
  if (cosine > 1) cosine = 1;
  else if (cosine < -1) cosine = -1;
  return Math.round(Math.acos(cosine) * EARTH_RADIUS_M) / 1000;
}

const KM_PER_DEGREE_LAT = 111.32;

/**
 * A cheap necessary condition for `distanceKm(a, b) <= radiusKm`: false means certainly
 * farther. Used to skip the trigonometry for friends far outside a radius.
 */
export function mayBeWithin(a: LatLon, b: LatLon, radiusKm: number): boolean {
  const dLatKm = Math.abs(a.lat - b.lat) * KM_PER_DEGREE_LAT;
  if (dLatKm > radiusKm * 1.01 + 0.01) return false;
  // Longitude degrees shrink with latitude; use the latitude closest to a pole for a safe bound.
  const maxAbsLat = Math.min(90, Math.max(Math.abs(a.lat), Math.abs(b.lat)) + radiusKm / KM_PER_DEGREE_LAT);
  const kmPerDegreeLon = KM_PER_DEGREE_LAT * Math.cos((maxAbsLat * Math.PI) / 180);
  let dLon = Math.abs(a.lon - b.lon);
  if (dLon > 180) dLon = 360 - dLon;
  return dLon * kmPerDegreeLon <= radiusKm * 1.01 + 0.01;
}
