import { describe, expect, it } from 'vitest';
import { distanceKm } from '@nearby/protocol';
import ngeohash from 'ngeohash';
import { blockOf, cellOf, centreOf } from './geocells.js';

/** The cells whose bounding boxes touch `cell`'s (sharing an edge or a corner), found by brute force on a grid of points. */
function touching(cell: string): Set<string> {
  const [south, west, north, east] = ngeohash.decode_bbox(cell);
  const height = north - south;
  const width = east - west;
  const found = new Set<string>();
  for (let i = -1; i <= 1; i++) {
    for (let j = -1; j <= 1; j++) {
      // A point inside each of the 9 positions around the cell, wrapped across the antimeridian.
      const lat = (south + north) / 2 + i * height;
      let lon = (west + east) / 2 + j * width;
      if (lon > 180) lon -= 360;
      if (lon < -180) lon += 360;
      if (lat > 90 || lat < -90) continue; // beyond a pole: no cell there
      found.add(cellOf(lat, lon, cell.length));
    }
  }
  return found;
}

describe('geohash blocks of nearby people', () => {
  it('are the cell and its 8 neighbours in the middle of a continent', () => {
    const cell = cellOf(37.5665, 126.978, 5);
    const block = blockOf(cell);
    expect(block).toHaveLength(9);
    expect(new Set(block)).toEqual(touching(cell));
    expect(block[0]).toBe(cell);
  });

  it.each([
    ['east of the antimeridian (Fiji, 179.99°E)', -17.7, 179.99],
    ['west of the antimeridian (Samoa side, 179.99°W)', -17.7, -179.99],
  ])('wrap across the antimeridian: %s', (_name, lat, lon) => {
    const cell = cellOf(lat, lon, 5);
    const block = blockOf(cell);
    expect(block).toHaveLength(9);
    expect(new Set(block)).toEqual(touching(cell));
    // Some of the neighbours are on the other side of ±180°.
    const longitudes = block.map((name) => ngeohash.decode(name).longitude);
    expect(longitudes.some((value) => Math.sign(value) !== Math.sign(lon))).toBe(true);
    // And they are really next door: every neighbour's centre within two cell widths.
    const centre = centreOf(cell);
    for (const name of block) expect(distanceKm(centre, centreOf(name))).toBeLessThan(4 * centre.halfDiagonalKm);
  });

  it.each([
    ['the north pole', 89.99, 10],
    ['the south pole', -89.99, -120],
  ])('near %s hold only cells that exist, each once', (_name, lat, lon) => {
    for (const precision of [4, 5, 6, 7]) {
      const cell = cellOf(lat, lon, precision);
      const block = blockOf(cell);
      expect(new Set(block).size).toBe(block.length);
      expect(block.length).toBeLessThanOrEqual(9);
      expect(new Set(block)).toEqual(touching(cell));
      expect(block).toContain(cell);
    }
  });

  it('are 9 cells at a corner where the antimeridian meets the cell grid (0°, 180°)', () => {
    const cell = cellOf(0.0001, 179.9999, 5);
    expect(new Set(blockOf(cell))).toEqual(touching(cell));
    expect(blockOf(cell)).toHaveLength(9);
  });
});

describe('display cell centres', () => {
  it('are rounded to 4 decimals, inside the cell, with half the diagonal of the cell', () => {
    const cell = cellOf(37.5665, 126.978, 6);
    const centre = centreOf(cell);
    const [south, west, north, east] = ngeohash.decode_bbox(cell);
    expect(centre.lat).toBeGreaterThan(south);
    expect(centre.lat).toBeLessThan(north);
    expect(centre.lon).toBeGreaterThan(west);
    expect(centre.lon).toBeLessThan(east);
    expect(Math.round(centre.lat * 10_000) / 10_000).toBe(centre.lat);
    expect(Math.round(centre.lon * 10_000) / 10_000).toBe(centre.lon);
    // 6 characters at 37.6°: about 0.97 × 0.61 km, so half the diagonal is about 0.57 km.
    expect(centre.halfDiagonalKm).toBeGreaterThan(0.5);
    expect(centre.halfDiagonalKm).toBeLessThan(0.65);
    // Every point of the cell is within half the diagonal of the (unrounded) centre, give or take the rounding.
    for (const [lat, lon] of [[south, west], [south, east], [north, west], [north, east]] as const) {
      expect(distanceKm(centre, { lat, lon })).toBeLessThanOrEqual(centre.halfDiagonalKm + 0.02);
    }
  });
});
