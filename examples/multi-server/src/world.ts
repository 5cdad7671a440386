import type { LatLon } from '@nearby/protocol';

/**
 * The simulated world, shared by the crowd (main process) and every server process: user ids
 * and the friend graph are derived from the seed alone, so each process computes the same graph
 * without talking to the others (in a real deployment this is your database).
 */

/** The user whose view is printed. */
export const YOU = 'you';

/** A 16 km square around Seoul City Hall. */
export const CITY_CENTRE: LatLon = { lat: 37.5663, lon: 126.9779 };
export const CITY_HALF_SIDE_KM = 8;

const NAMES = ['mina', 'jun', 'seo', 'hana', 'tae', 'yuna', 'min', 'ji', 'eun', 'ho', 'soo', 'woo', 'ara', 'dan', 'rin', 'kyu'];

/** Deterministic PRNG (mulberry32): the same seed gives the same sequence in every process. */
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

/** Ids of the crowd besides {@link YOU}: mina, jun, …, mina2, jun2, … */
export function crowdIds(users: number): string[] {
  return Array.from({ length: users }, (_, i) => {
    const round = Math.floor(i / NAMES.length);
    return NAMES[i % NAMES.length]! + (round === 0 ? '' : String(round + 1));
  });
}

/** Symmetric friend graph: every crowd member gets about 8 friends, and {@link YOU} up to 12. */
export function buildFriendGraph(users: number, seed: number): Map<string, Set<string>> {
  const random = seededRandom(seed);
  const ids = crowdIds(users);
  const edges = new Map<string, Set<string>>([[YOU, new Set()], ...ids.map((id) => [id, new Set<string>()] as const)]);
  const link = (a: string, b: string) => {
    edges.get(a)!.add(b);
    edges.get(b)!.add(a);
  };
  const target = Math.min(4, ids.length - 1); // links made per user; the other side adds as many
  for (const id of ids) {
    while (edges.get(id)!.size < target) {
      const other = ids[Math.floor(random() * ids.length)]!;
      if (other !== id) link(id, other);
    }
  }
  for (const id of ids.slice(0, 12)) link(YOU, id);
  return edges;
}

const KM_PER_DEG_LAT = 111.32;
const kmPerDegLon = (lat: number) => KM_PER_DEG_LAT * Math.cos((lat * Math.PI) / 180);

/** Moves `from` by `km` along `headingRad` (0 = north); flat-earth, fine at city scale. */
export function move(from: LatLon, km: number, headingRad: number): LatLon {
  return {
    lat: from.lat + (km * Math.cos(headingRad)) / KM_PER_DEG_LAT,
    lon: from.lon + (km * Math.sin(headingRad)) / kmPerDegLon(from.lat),
  };
}

/** A random point in the city square. */
export function randomPoint(random: () => number): LatLon {
  const north = (random() * 2 - 1) * CITY_HALF_SIDE_KM;
  const east = (random() * 2 - 1) * CITY_HALF_SIDE_KM;
  return move(move(CITY_CENTRE, north, 0), east, Math.PI / 2);
}

/** Whether `point` is outside the city square. */
export function outsideCity(point: LatLon): boolean {
  const northKm = (point.lat - CITY_CENTRE.lat) * KM_PER_DEG_LAT;
  const eastKm = (point.lon - CITY_CENTRE.lon) * kmPerDegLon(CITY_CENTRE.lat);
  return Math.abs(northKm) > CITY_HALF_SIDE_KM || Math.abs(eastKm) > CITY_HALF_SIDE_KM;
}
