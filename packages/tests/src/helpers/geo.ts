import type { LatLon } from '@nearby/protocol';

/** Seoul City Hall: the origin of test geography. */
export const ORIGIN: LatLon = { lat: 37.5663, lon: 126.9779 };

/** The point `northKm` north and `eastKm` east of `from` (flat-earth approximation, fine for tens of km). */
export function offsetKm(from: LatLon, northKm: number, eastKm = 0): LatLon {
  const lat = from.lat + northKm / 111.32;
  const lon = from.lon + eastKm / (111.32 * Math.cos((from.lat * Math.PI) / 180));
  return { lat, lon };
}

const GEOHASH_BASE32 = '0123456789bcdefghjkmnpqrstuvwxyz';

/**
 * The geohash of `precision` characters of a point (bits interleaved from longitude first,
 * five to a character): the cell names the server's channels are made of (protocol.md §20.2).
 */
export function geohashOf(point: LatLon, precision: number): string {
  const lat = [-90, 90];
  const lon = [-180, 180];
  let hash = '';
  let bits = 0;
  let value = 0;
  let even = true;
  while (hash.length < precision) {
    const range = even ? lon : lat;
    const coordinate = even ? point.lon : point.lat;
    const mid = (range[0]! + range[1]!) / 2;
    value <<= 1;
    if (coordinate >= mid) {
      value |= 1;
      range[0] = mid;
    } else {
      range[1] = mid;
    }
    even = !even;
    if (++bits === 5) {
      hash += GEOHASH_BASE32[value];
      bits = 0;
      value = 0;
    }
  }
  return hash;
}

/** Width in degrees of longitude of a geohash cell of `precision` characters. */
export function geohashLonSpan(precision: number): number {
  return 360 / 2 ** Math.ceil((5 * precision) / 2);
}
