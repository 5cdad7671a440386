/**
 * Distances for the load generator and the checks, without importing @nearby/protocol: the
 * same spherical law of cosines on the same Earth radius that the server's `distanceKm` uses,
 * but not rounded to the metre.
 */
const EARTH_RADIUS_M = 6378137;
const DEG_TO_RAD = Math.PI / 180;
export const KM_PER_DEGREE_LAT = 111.32;

export function distanceKm(aLat: number, aLon: number, bLat: number, bLon: number): number {
  const fromLat = aLat * DEG_TO_RAD;
  const toLat = bLat * DEG_TO_RAD;
  let cosine = Math.sin(toLat) * Math.sin(fromLat) + Math.cos(toLat) * Math.cos(fromLat) * Math.cos((aLon - bLon) * DEG_TO_RAD);
  if (cosine > 1) cosine = 1;
  else if (cosine < -1) cosine = -1;
  return (Math.acos(cosine) * EARTH_RADIUS_M) / 1000;
}

/**
 * The server's rule: a friend is inside the radius when the distance rounded to the metre is at
 * most the radius. Used for every classification (and by the generator's client-side filter for
 * the contenders that do not filter), so all contenders and the expected count agree exactly.
 */
export function withinRadius(distance: number, radiusKm: number): boolean {
  return Math.round(distance * 1000) / 1000 <= radiusKm;
}
