/**
 * What the deliveries should have been, from the generators' send logs: for every update sent
 * inside the window and every online friend of its sender, whether the friend was within the
 * radius at the moment of the send (where the friend was then, by the friend's own log). That
 * count is the same for every contender; deliveries ÷ it is the delivery ratio.
 */
import { distanceKm, withinRadius } from './geo.js';
import type { Scenario } from './scenario.js';

export interface Expectation {
  /** Updates sent inside the window (all generators). */
  windowSends: number;
  /** (update, online friend) pairs of those sends. */
  friendPairs: number;
  /** Pairs within the radius at send time: the deliveries a perfect contender makes. */
  expectedDeliveries: number;
  /** expectedDeliveries ÷ friendPairs: the share of online friends within the radius. */
  inRangeShare: number;
}

export interface Verification {
  /** Sampled deliveries compared with the sender's logged update. */
  sampled: number;
  /** Whose position (latitude with its stamp, longitude) equals the sent one exactly. */
  exact: number;
  examples: string[];
}

/** Per user, their logged positions in time order: the step's starting point, then every send. */
class Tracks {
  readonly start: Int32Array;
  readonly time: Float64Array;
  readonly lat: Float64Array;
  readonly lon: Float64Array;

  constructor(users: number, logs: Float64Array[]) {
    const counts = new Int32Array(users + 1);
    let total = 0;
    for (const log of logs) {
      for (let i = 0; i < log.length; i += 4) counts[log[i]! + 1]!++;
      total += log.length / 4;
    }
    for (let u = 1; u <= users; u++) counts[u]! += counts[u - 1]!;
    this.start = counts;
    this.time = new Float64Array(total);
    this.lat = new Float64Array(total);
    this.lon = new Float64Array(total);
    const fill = Int32Array.from(counts);
    for (const log of logs) {
      // Within one generator's log, each user's entries are in time order.
      for (let i = 0; i < log.length; i += 4) {
        const slot = fill[log[i]!]!++;
        this.time[slot] = log[i + 1]!;
        this.lat[slot] = log[i + 2]!;
        this.lon[slot] = log[i + 3]!;
      }
    }
  }

  /** Index of the user's last entry at or before `time` (their first when none). */
  at(user: number, time: number): number {
    let lo = this.start[user]!;
    let hi = this.start[user + 1]! - 1;
    if (hi < lo) return -1;
    if (this.time[lo]! > time) return lo;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.time[mid]! <= time) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

export function analyse(
  scenario: Scenario,
  logs: Float64Array[],
  samples: Float64Array[],
  windowStart: number,
  windowEnd: number,
): { expectation: Expectation; verification: Verification } {
  const users = scenario.params.users;
  const radius = scenario.params.radiusKm;
  const tracks = new Tracks(users, logs);
  const friendsOf: number[][] = [];
  let windowSends = 0;
  let friendPairs = 0;
  let expectedDeliveries = 0;
  for (let sender = 0; sender < users; sender++) {
    // The first entry of each user is its starting point (t0 − 1), not a send.
    for (let i = tracks.start[sender]! + 1; i < tracks.start[sender + 1]!; i++) {
      const sentAt = tracks.time[i]!;
      if (sentAt < windowStart || sentAt >= windowEnd) continue;
      windowSends++;
      const friends = (friendsOf[sender] ??= scenario.onlineFriends(sender));
      for (const friend of friends) {
        const j = tracks.at(friend, sentAt);
        if (j < 0) continue;
        friendPairs++;
        if (withinRadius(distanceKm(tracks.lat[i]!, tracks.lon[i]!, tracks.lat[j]!, tracks.lon[j]!), radius)) expectedDeliveries++;
      }
    }
  }
  let sampled = 0;
  let exact = 0;
  const examples: string[] = [];
  for (const sample of samples) {
    for (let k = 0; k < sample.length; k += 4) {
      const sender = sample[k]!;
      const sentAt = sample[k + 1]!;
      sampled++;
      const i = tracks.at(sender, sentAt + 0.05);
      if (i >= 0 && Math.abs(tracks.time[i]! - sentAt) < 0.05 && tracks.lat[i] === sample[k + 2] && tracks.lon[i] === sample[k + 3]) {
        exact++;
      } else if (examples.length < 5) {
        examples.push(
          `u${sender} at ${sentAt.toFixed(3)}: received ${sample[k + 2]}, ${sample[k + 3]}; sent ${i >= 0 ? `${tracks.lat[i]}, ${tracks.lon[i]} at ${tracks.time[i]!.toFixed(3)}` : 'nothing'}`,
        );
      }
    }
  }
  return {
    expectation: { windowSends, friendPairs, expectedDeliveries, inRangeShare: friendPairs === 0 ? Number.NaN : expectedDeliveries / friendPairs },
    verification: { sampled, exact, examples },
  };
}

/** Share of online friend pairs within the radius at the users' starting positions. */
export function initialInRangeShare(scenario: Scenario): number {
  const users = scenario.params.users;
  const walkers = Array.from({ length: users }, (_, index) => scenario.walker(index));
  let pairs = 0;
  let within = 0;
  for (let a = 0; a < users; a++) {
    for (const b of scenario.onlineFriends(a)) {
      if (b <= a) continue;
      pairs++;
      if (withinRadius(distanceKm(walkers[a]!.lat, walkers[a]!.lon, walkers[b]!.lat, walkers[b]!.lon), scenario.params.radiusKm)) within++;
    }
  }
  return pairs === 0 ? Number.NaN : within / pairs;
}
