import type { LatLon } from '@nearby/protocol';
import { CITY_CENTRE, CITY_HALF_SIDE_KM, move, offsetFromCentre, randomPoint } from './city.js';

/**
 * A simulated person walking through the city: keeps a heading, turns now and then, and turns
 * back towards the centre at the city's edge.
 */
export class Walker {
  position: LatLon;
  #heading: number;

  constructor(
    readonly userId: string,
    private readonly random: () => number,
    /** Walking speed in km per simulated second. */
    private readonly speedKmPerSecond: number,
    start?: LatLon,
  ) {
    this.position = start ?? randomPoint(random);
    this.#heading = random() * 2 * Math.PI;
  }

  /** Advances the walk by `seconds` of simulated time. */
  step(seconds: number): LatLon {
    if (this.random() < 0.1) this.#heading += (this.random() - 0.5) * Math.PI;
    const { northKm, eastKm } = offsetFromCentre(this.position);
    if (Math.abs(northKm) > CITY_HALF_SIDE_KM || Math.abs(eastKm) > CITY_HALF_SIDE_KM) {
      this.#heading = Math.atan2(CITY_CENTRE.lon - this.position.lon, CITY_CENTRE.lat - this.position.lat);
    }
    this.position = move(this.position, this.speedKmPerSecond * seconds, this.#heading);
    return this.position;
  }
}
