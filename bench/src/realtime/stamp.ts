/**
 * End-to-end latency across processes without any field a contender could drop: the send time
 * rides in the latitude itself. The latitude is cut to its 1e-5° cell (about 1.1 m) and the
 * position inside the cell encodes the send time modulo 1000 s:
 *
 *   lat = (cell + 0.05 + 0.9 × (sentAtMs mod 10⁶) / 10⁶) / 10⁵
 *
 * The offset is less than one cell (≤ 1.06 m north of the cell's edge): harmless for distances
 * at an 8 km radius. The 0.05 margins keep the cell recoverable with `floor` despite rounding.
 * Every contender carries the number unchanged (JSON prints the shortest round-trip form of a
 * double), so the receiver recovers the send time to about a microsecond and, with the shared
 * wall clock (clock.ts), the latency.
 */
const SCALE = 1e5;
const MOD_MS = 1_000_000;
const LOW = 0.05;
const SPAN = 0.9;

/** `lat` moved inside its 1e-5° cell so that it carries `sentAtMs`. */
export function stampLatitude(lat: number, sentAtMs: number): number {
  const cell = Math.floor(lat * SCALE);
  const m = sentAtMs % MOD_MS;
  return (cell + LOW + (SPAN * m) / MOD_MS) / SCALE;
}

/** The send time carried by `lat`, modulo 10⁶ ms. */
export function stampOf(lat: number): number {
  const x = lat * SCALE;
  return ((x - Math.floor(x) - LOW) / SPAN) * MOD_MS;
}

/** The full send time of a stamped latitude received at `receivedAt` (less than 500 s later, or earlier). */
export function sentAtOf(lat: number, receivedAt: number): number {
  let delta = (receivedAt % MOD_MS) - stampOf(lat);
  if (delta < -MOD_MS / 2) delta += MOD_MS;
  else if (delta > MOD_MS / 2) delta -= MOD_MS;
  return receivedAt - delta;
}

export interface StampCheck {
  cases: number;
  /** Largest |decoded − true| send time after a JSON round trip, in ms. */
  maxErrorMs: number;
  /** Largest move of a position by stamping, in metres. */
  maxOffsetM: number;
  ok: boolean;
}

/**
 * The unit check run at the start of every benchmark: random latitudes (both hemispheres),
 * send times within ±11 days of now and latencies of 0 – 400 s, through JSON and back.
 */
export function checkStamps(cases = 200_000): StampCheck {
  let seed = 0x2545f491;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };
  const now = Date.now();
  let maxErrorMs = 0;
  let maxOffsetM = 0;
  for (let i = 0; i < cases; i++) {
    const lat = random() * 170 - 85;
    const sentAt = now + (random() - 0.5) * 2e9 + random();
    const stamped = JSON.parse(JSON.stringify({ lat: stampLatitude(lat, sentAt) })).lat as number;
    const latency = i % 4 === 0 ? random() * 400_000 : random() * 200;
    const decoded = sentAtOf(stamped, sentAt + latency);
    maxErrorMs = Math.max(maxErrorMs, Math.abs(decoded - sentAt));
    maxOffsetM = Math.max(maxOffsetM, Math.abs(stamped - lat) * 111_320);
  }
  return { cases, maxErrorMs, maxOffsetM, ok: maxErrorMs < 0.01 && maxOffsetM < 1.2 };
}
