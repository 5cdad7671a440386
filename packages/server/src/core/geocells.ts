import { distanceKm } from '@nearby/protocol';
import ngeohash from 'ngeohash';

// Geohash cells for nearby people (protocol.md §20): the channel cell a user publishes on, the
// 3 × 3 block a viewer listens to, and the display cell whose centre is all a viewer is shown.

/** The geohash of `precision` characters of a position. */
export function cellOf(lat: number, lon: number, precision: number): string {
  return ngeohash.encode(lat, lon, precision);
}

/**
 * The cell and its neighbours, each once: 9 cells, across the antimeridian too (longitudes
 * wrap); fewer next to a pole, where the cells beyond it do not exist (the library clamps
 * latitude there, which yields the cell itself or its east and west neighbours again).
 */
export function blockOf(cell: string): string[] {
  return [...new Set([cell, ...ngeohash.neighbors(cell)])];
}

/** Where a stranger is shown: the centre of their display cell, to 4 decimals, and half its diagonal. */
export interface CellCentre {
  lat: number;
  lon: number;
  /** Half the cell's diagonal, km: the farthest a point of the cell is from its centre. */
  halfDiagonalKm: number;
}

const round4 = (value: number): number => Math.round(value * 10_000) / 10_000;

export function centreOf(cell: string): CellCentre {
  const [south, west, north, east] = ngeohash.decode_bbox(cell);
  const lat = (south + north) / 2;
  const lon = (west + east) / 2;
  // The corners nearer the equator are the farther ones (meridians converge): measure both.
  const halfDiagonalKm = Math.max(distanceKm({ lat, lon }, { lat: north, lon: east }), distanceKm({ lat, lon }, { lat: south, lon: east }));
  return { lat: round4(lat), lon: round4(lon), halfDiagonalKm };
}
