/**
 * The simulated city, derived from a seed so that the parent, the server children and the load
 * generators all build the same one without exchanging it:
 *
 * - N online users (`u0` … `u<N-1>`), one connection each. Their friendships among themselves
 *   are symmetric and every online user has the same number of online friends (F × share,
 *   40 by default): a circulant graph (each user linked to the d/2 users on either side) over a
 *   random permutation of the users, so friends of friends overlap as in a social graph.
 * - The rest of each user's F friends are offline users (`o0` …, a pool 9× larger than N at a
 *   10 % share) that never connect. Nearby still follows their channels; Socket.IO sockets
 *   still join their rooms.
 * - Users start uniformly in a square of `areaKm` around central Seoul and walk at
 *   `speedMps` with a slowly turning heading, one step per location update of simulated
 *   period T, reflecting at the square's edges. With a 24 km square, about a quarter of random
 *   pairs are within 8 km (the report prints the measured share).
 *
 * Two friend graphs (`graph`):
 *
 * - `uniform`: the circulant graph above; who is near whom is left to chance (≈ 25 % of online
 *   friends within 8 km in a 24 km square).
 * - `city`: locality-biased. The users are put in a *locality order* of their start positions:
 *   rows 1 km high from south to north, west to east in even rows and east to west in odd ones
 *   (a snake), so users close in that order live close together. `nearFriends` of a user's
 *   online friends are its neighbours in the locality order (nearFriends / 2 on either side:
 *   neighbours within a few hundred metres at 5000 users in 38 km), the other online friends
 *   its neighbours in the random order (anywhere in the city). Both relations are symmetric, so
 *   the union is; a pair that is a neighbour in both orders counts once, so a user has at most,
 *   and almost always exactly, the nominal number of online friends. With a 38 km square (≈ 11 %
 *   of random pairs within 8 km), 6 near of 50 online friends give ≈ 22 % — 11 of 50 — within
 *   8 km (the report prints the measured share).
 */
import { KM_PER_DEGREE_LAT } from './geo.js';
import { hash32, randomStream, Stream } from './random.js';

export type FriendGraphKind = 'uniform' | 'city';

export interface ScenarioParams {
  /** How online friends are chosen: at random (`uniform`) or biased to neighbours (`city`). */
  graph: FriendGraphKind;
  /** `city`: online friends that are neighbours in the locality order (even). */
  nearFriends: number;
  /** Online users = connections (N). */
  users: number;
  /** Friends per user, online and offline (F). */
  friends: number;
  /** Share of a user's friends who are online. */
  onlineShare: number;
  /** Side of the square the users live in, in km. */
  areaKm: number;
  /** Simulated time between two location updates of a user (T), in seconds. */
  periodSeconds: number;
  /** Walking speed in m/s of simulated time. */
  speedMps: number;
  radiusKm: number;
  seed: number;
}

const CENTER = { lat: 37.55, lon: 126.99 };

export class Scenario {
  readonly params: ScenarioParams;
  /** Online friends per online user (even, < N). */
  readonly onlineDegree: number;
  /** Offline friends per user. */
  readonly offlineFriends: number;
  /** Number of distinct offline user ids. */
  readonly offlinePool: number;
  /** `city`: online friends from the locality order (even), the rest from the random order. */
  readonly nearDegree: number;
  readonly #userAtRank: Int32Array;
  readonly #rankOf: Int32Array;
  readonly #userAtNearRank: Int32Array | undefined;
  readonly #nearRankOf: Int32Array | undefined;
  readonly #kmPerDegreeLon: number;

  constructor(params: ScenarioParams) {
    this.params = params;
    const n = params.users;
    const wanted = Math.round(params.friends * params.onlineShare);
    const cap = 2 * Math.floor((n - 1) / 2);
    this.onlineDegree = Math.max(0, Math.min(2 * Math.floor(wanted / 2), cap));
    this.offlineFriends = Math.max(0, params.friends - this.onlineDegree);
    this.offlinePool = Math.max(this.offlineFriends * 2, Math.round((n * (1 - params.onlineShare)) / params.onlineShare));
    const random = randomStream(hash32(params.seed, Stream.permutation));
    this.#userAtRank = Int32Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      const swap = this.#userAtRank[i]!;
      this.#userAtRank[i] = this.#userAtRank[j]!;
      this.#userAtRank[j] = swap;
    }
    this.#rankOf = new Int32Array(n);
    for (let rank = 0; rank < n; rank++) this.#rankOf[this.#userAtRank[rank]!] = rank;
    this.nearDegree = params.graph === 'city' ? Math.min(2 * Math.floor(params.nearFriends / 2), this.onlineDegree) : 0;
    if (params.graph === 'city') {
      const row = new Int32Array(n);
      const x = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const start = Scenario.startKm(params, i);
        row[i] = Math.floor(start.y);
        x[i] = row[i]! % 2 === 0 ? start.x : -start.x;
      }
      this.#userAtNearRank = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => row[a]! - row[b]! || x[a]! - x[b]! || a - b);
      this.#nearRankOf = new Int32Array(n);
      for (let rank = 0; rank < n; rank++) this.#nearRankOf[this.#userAtNearRank[rank]!] = rank;
    }
    this.#kmPerDegreeLon = KM_PER_DEGREE_LAT * Math.cos((CENTER.lat * Math.PI) / 180);
  }

  static userId(index: number): string {
    return `u${index}`;
  }

  /** The index of an online user id (`u17` → 17), or -1. */
  static indexOf(userId: string): number {
    if (userId.charCodeAt(0) !== 117 /* u */) return -1;
    const index = Number(userId.slice(1));
    return Number.isInteger(index) ? index : -1;
  }

  /** Where user `index` starts, in km from the square's south-west corner (the walker's first position). */
  static startKm(params: ScenarioParams, index: number): { x: number; y: number } {
    const start = randomStream(hash32(params.seed, Stream.position, index));
    const x = start() * params.areaKm;
    const y = start() * params.areaKm;
    return { x, y };
  }

  /** Online friends of online user `index`. */
  onlineFriends(index: number): number[] {
    const n = this.params.users;
    const rank = this.#rankOf[index]!;
    const farHalf = (this.onlineDegree - this.nearDegree) / 2;
    const friends: number[] = [];
    for (let j = 1; j <= farHalf; j++) {
      friends.push(this.#userAtRank[(rank + j) % n]!, this.#userAtRank[(rank - j + n) % n]!);
    }
    if (this.nearDegree === 0) return friends;
    const nearRank = this.#nearRankOf![index]!;
    for (let j = 1; j <= this.nearDegree / 2; j++) {
      for (const friend of [this.#userAtNearRank![(nearRank + j) % n]!, this.#userAtNearRank![(nearRank - j + n) % n]!]) {
        if (!this.#circulantFriends(this.#rankOf, farHalf, index, friend)) friends.push(friend);
      }
    }
    return friends;
  }

  isOnlineFriend(a: number, b: number): boolean {
    const n = this.params.users;
    if (a === b || a < 0 || b < 0 || a >= n || b >= n) return false;
    if (this.#circulantFriends(this.#rankOf, (this.onlineDegree - this.nearDegree) / 2, a, b)) return true;
    return this.nearDegree > 0 && this.#circulantFriends(this.#nearRankOf!, this.nearDegree / 2, a, b);
  }

  #circulantFriends(rankOf: Int32Array, half: number, a: number, b: number): boolean {
    const n = this.params.users;
    const d = Math.abs(rankOf[a]! - rankOf[b]!);
    return d !== 0 && Math.min(d, n - d) <= half;
  }

  /** Online friends per user, averaged over all users (the `city` graph loses a few to overlaps). */
  meanOnlineDegree(): number {
    const n = this.params.users;
    if (this.nearDegree === 0) return this.onlineDegree;
    let total = 0;
    for (let i = 0; i < n; i++) total += this.onlineFriends(i).length;
    return total / n;
  }

  /** All friend ids of a user as the host application's friend graph returns them. */
  friendIds(userId: string): string[] {
    const index = Scenario.indexOf(userId);
    if (index < 0 || index >= this.params.users) return [];
    const ids = this.onlineFriends(index).map(Scenario.userId);
    const random = randomStream(hash32(this.params.seed, Stream.offline, index));
    const offline = new Set<number>();
    while (offline.size < this.offlineFriends) offline.add(Math.floor(random() * this.offlinePool));
    for (const id of offline) ids.push(`o${id}`);
    return ids;
  }

  /** Fraction of the period at which the user sends (its phase), in [0, 1). */
  phase(index: number): number {
    return randomStream(hash32(this.params.seed, Stream.phase, index))();
  }

  walker(index: number): Walker {
    return new Walker(this, index);
  }

  /** Degrees of a point `xKm`, `yKm` from the square's south-west corner. */
  toLatLon(xKm: number, yKm: number): { lat: number; lon: number } {
    const half = this.params.areaKm / 2;
    return { lat: CENTER.lat + (yKm - half) / KM_PER_DEGREE_LAT, lon: CENTER.lon + (xKm - half) / this.#kmPerDegreeLon };
  }
}

/** A user's walk: one step per location update. */
export class Walker {
  readonly #scenario: Scenario;
  readonly #random: () => number;
  readonly #stepKm: number;
  readonly #sideKm: number;
  #x: number;
  #y: number;
  #heading: number;
  lat = 0;
  lon = 0;

  constructor(scenario: Scenario, index: number) {
    const { params } = scenario;
    this.#scenario = scenario;
    const start = randomStream(hash32(params.seed, Stream.position, index));
    this.#sideKm = params.areaKm;
    this.#x = start() * params.areaKm;
    this.#y = start() * params.areaKm;
    this.#heading = start() * 2 * Math.PI;
    // Scenario.startKm draws the same first two numbers of the same stream.
    this.#random = randomStream(hash32(params.seed, Stream.walk, index));
    this.#stepKm = (params.speedMps * params.periodSeconds) / 1000;
    this.#place();
  }

  step(): void {
    this.#heading += (this.#random() - 0.5) * 0.8;
    this.#x += Math.cos(this.#heading) * this.#stepKm;
    this.#y += Math.sin(this.#heading) * this.#stepKm;
    if (this.#x < 0 || this.#x > this.#sideKm) {
      this.#x = this.#x < 0 ? -this.#x : 2 * this.#sideKm - this.#x;
      this.#heading = Math.PI - this.#heading;
    }
    if (this.#y < 0 || this.#y > this.#sideKm) {
      this.#y = this.#y < 0 ? -this.#y : 2 * this.#sideKm - this.#y;
      this.#heading = -this.#heading;
    }
    this.#place();
  }

  #place(): void {
    const { lat, lon } = this.#scenario.toLatLon(this.#x, this.#y);
    this.lat = lat;
    this.lon = lon;
  }
}
