import { ErrorCode, Limits, NearbyError, isValidLatLon, type LocationSample } from '@nearby/protocol';
import type { LocationFix } from './types.js';

function reject(message: string): never {
  throw new NearbyError(ErrorCode.INVALID_LOCATION, message);
}

/**
 * Checks a fix against the wire format's ranges and turns it into a sample. Validating here,
 * synchronously, reports the bug to the caller that made it; a bad sample sent to the server
 * would only come back later as an `error` frame, far from its cause.
 *
 * @param fix - The fix given to `updateLocation`.
 * @param now - Current time, used when the fix has no timestamp.
 * @returns The sample, its timestamp rounded to the millisecond.
 * @throws NearbyError with code `invalid_location`.
 */
export function toSample(fix: LocationFix, now: number): LocationSample {
  if (typeof fix !== 'object' || fix === null) reject('a location must be an object { lat, lon, accuracy?, timestamp? }');
  const { lat, lon, accuracy, timestamp } = fix;
  if (!isValidLatLon(lat, lon)) {
    reject(`lat must be a finite number in [-90, 90] and lon in [-180, 180] (got ${String(lat)}, ${String(lon)})`);
  }
  if (
    accuracy !== undefined &&
    (typeof accuracy !== 'number' || !Number.isFinite(accuracy) || accuracy < 0 || accuracy > Limits.MAX_ACCURACY_M)
  ) {
    reject(`accuracy must be a finite number in [0, ${Limits.MAX_ACCURACY_M}] metres (got ${String(accuracy)})`);
  }
  const raw = timestamp ?? now;
  // Fractional milliseconds (performance.timeOrigin + performance.now(), some location APIs) are
  // rounded: the wire carries whole milliseconds.
  const time = Math.round(raw);
  if (typeof raw !== 'number' || !(raw >= 0) || time > Limits.MAX_TIMESTAMP_MS) {
    reject(`timestamp must be a non-negative number of ms since the epoch (got ${String(timestamp)})`);
  }
  return accuracy === undefined ? { lat, lon, timestamp: time } : { lat, lon, accuracy, timestamp: time };
}
