/** Simulated users walking through the city, each with a NearbyClient on the balancer's URL. */
import { NearbyClient } from '@nearby/client';
import type { LatLon } from '@nearby/protocol';
import { CITY_CENTRE, YOU, crowdIds, move, outsideCity, randomPoint, seededRandom } from './world.js';

/** Simulated seconds per real second: walkers cover ground faster and batches flush sooner. */
export const SPEEDUP = 20;
const WALKING_KM_PER_S = 0.0014; // 1.4 m/s

class Walker {
  position: LatLon;
  #heading: number;

  constructor(
    private readonly random: () => number,
    /** Fraction of walking speed (the watched user strolls). */
    private readonly pace: number,
    start?: LatLon,
  ) {
    this.position = start ?? randomPoint(random);
    this.#heading = random() * 2 * Math.PI;
  }

  /** Advances the walk by `seconds` of simulated time. */
  step(seconds: number): LatLon {
    if (this.random() < 0.1) this.#heading += (this.random() - 0.5) * Math.PI;
    if (outsideCity(this.position)) {
      this.#heading = Math.atan2(CITY_CENTRE.lon - this.position.lon, CITY_CENTRE.lat - this.position.lat);
    }
    this.position = move(this.position, WALKING_KM_PER_S * this.pace * seconds, this.#heading);
    return this.position;
  }
}

export interface Crowd {
  /** Every client by user id, {@link YOU} included. */
  readonly clients: ReadonlyMap<string, NearbyClient>;
  /** Stops walking and closes every client (close 1000: each user signs off). */
  stop(): void;
}

export function startCrowd(url: string, users: number, seed: number): Crowd {
  // A different stream from the friend graph's, so changing the walk never changes the graph.
  const random = seededRandom(seed + 1);
  const walkers = new Map<string, Walker>([[YOU, new Walker(random, 0.25, CITY_CENTRE)]]);
  for (const id of crowdIds(users)) walkers.set(id, new Walker(random, 1));

  const clients = new Map<string, NearbyClient>();
  for (const [userId, walker] of walkers) {
    const client = new NearbyClient({ url, token: userId, flushIntervalMs: 30_000 / SPEEDUP });
    client.on('error', () => {}); // state and lastError are in the snapshot; nothing to log here
    client.updateLocation(walker.position); // sent as soon as the connection is up
    client.connect();
    clients.set(userId, client);
  }

  const tickMs = 1_000;
  const timer = setInterval(() => {
    for (const [userId, walker] of walkers) {
      clients.get(userId)!.updateLocation(walker.step((SPEEDUP * tickMs) / 1000));
    }
  }, tickMs);

  return {
    clients,
    stop() {
      clearInterval(timer);
      for (const client of clients.values()) client.close();
    },
  };
}
