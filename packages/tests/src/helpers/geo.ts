import type { LatLon } from '@nearby/protocol';

/** Seoul City Hall: the origin of test geography. */
export const ORIGIN: LatLon = { lat: 37.5663, lon: 126.9779 };

/** The point `northKm` north and `eastKm` east of `from` (flat-earth approximation, fine for tens of km). */
export function offsetKm(from: LatLon, northKm: number, eastKm = 0): LatLon {
  const lat = from.lat + northKm / 111.32;
  const lon = from.lon + eastKm / (111.32 * Math.cos((from.lat * Math.PI) / 180));
  return { lat, lon };
}
