import { distanceKm, type LatLon, type NearbyFriend } from '@nearby/protocol';
import type { TestFriendGraph } from '../helpers/server-resource.js';

/**
 * A listed distance this close to the true one counts as right: the server does not resend an
 * entry when only the viewer moved and the distance changed by less than its refresh step.
 */
export const DISTANCE_TOLERANCE_KM = 0.05;

/** What the test knows about one user, because it drives them. */
export interface TrueUser {
  readonly id: string;
  /** Where the device is; fixes are taken around it. */
  readonly home: LatLon;
  /** The last fix the device sent while sharing, exactly; `undefined` before the first one. */
  sent: LatLon | undefined;
  radiusKm: number;
  sharing: boolean;
  signedOff: boolean;
}

/**
 * Ground truth of a scenario: every user's position, radius, sharing setting and sign-off, and
 * the friend graph. Friendship changes go through here so the host graph the servers read and
 * the truth never disagree.
 */
export class World {
  readonly users = new Map<string, TrueUser>();
  readonly #friends = new Map<string, Set<string>>();
  readonly #graph: TestFriendGraph;

  constructor(graph: TestFriendGraph) {
    this.#graph = graph;
  }

  add(user: Omit<TrueUser, 'sent' | 'signedOff'>): void {
    this.users.set(user.id, { ...user, sent: undefined, signedOff: false });
    this.#friends.set(user.id, new Set());
  }

  user(id: string): TrueUser {
    const user = this.users.get(id);
    if (user === undefined) throw new Error(`no user ${id}`);
    return user;
  }

  link(a: string, b: string): void {
    this.#graph.link(a, b);
    this.#friends.get(a)!.add(b);
    this.#friends.get(b)!.add(a);
  }

  unlink(a: string, b: string): void {
    this.#graph.unlink(a, b);
    this.#friends.get(a)!.delete(b);
    this.#friends.get(b)!.delete(a);
  }

  areFriends(a: string, b: string): boolean {
    return this.#friends.get(a)!.has(b);
  }

  friendsOf(id: string): string[] {
    return [...this.#friends.get(id)!];
  }

  /** A fix the device reported. Like the client, ignored while the user does not share. */
  located(id: string, position: LatLon): void {
    const user = this.user(id);
    if (user.sharing) user.sent = position;
  }

  /** Users whose list is checked: everyone who has not signed off. */
  viewers(): string[] {
    return [...this.users.values()].filter((u) => !u.signedOff).map((u) => u.id);
  }

  /** The distance at which `viewerId` would see `friendId` if they were friends; `undefined` if not at all. */
  inRange(viewerId: string, friendId: string): number | undefined {
    const viewer = this.user(viewerId);
    const friend = this.user(friendId);
    if (!viewer.sharing || viewer.sent === undefined) return undefined;
    if (!friend.sharing || friend.signedOff || friend.sent === undefined) return undefined;
    const distance = distanceKm(viewer.sent, friend.sent);
    return distance <= viewer.radiusKm ? distance : undefined;
  }

  /** Whether `friendId` belongs in `viewerId`'s list, and at what distance. */
  distanceSeen(viewerId: string, friendId: string): number | undefined {
    return this.areFriends(viewerId, friendId) ? this.inRange(viewerId, friendId) : undefined;
  }

  /** The list `viewerId` should see: friend → distance in km. */
  expected(viewerId: string): Map<string, number> {
    const list = new Map<string, number>();
    for (const friendId of this.friendsOf(viewerId)) {
      const distance = this.distanceSeen(viewerId, friendId);
      if (distance !== undefined) list.set(friendId, distance);
    }
    return list;
  }

  /** Viewers whose list has `friendId` in it. */
  seenBy(friendId: string): string[] {
    return this.friendsOf(friendId).filter((viewerId) => this.distanceSeen(viewerId, friendId) !== undefined);
  }

  /**
   * What is wrong with `viewerId`'s list (ghosts, missing members, wrong distances); empty when
   * it is right. `name` renders a friend in the result (to add where they are connected, say).
   */
  diff(viewerId: string, actual: readonly NearbyFriend[], name: (id: string) => string = (id) => id): string[] {
    const expected = this.expected(viewerId);
    const problems: string[] = [];
    const seen = new Set<string>();
    for (const entry of actual) {
      seen.add(entry.userId);
      const truth = expected.get(entry.userId);
      if (truth === undefined) problems.push(`ghost ${name(entry.userId)} at ${km(entry.distanceKm)}`);
      else if (Math.abs(truth - entry.distanceKm) > DISTANCE_TOLERANCE_KM) {
        problems.push(`${name(entry.userId)} at ${km(entry.distanceKm)} instead of ${km(truth)}`);
      }
    }
    for (const [friendId, distance] of expected) {
      if (!seen.has(friendId)) problems.push(`missing ${name(friendId)} at ${km(distance)}`);
    }
    return problems;
  }
}

function km(value: number): string {
  return `${value.toFixed(3)} km`;
}

/** `{a 1.234, b 5.678}`: a list for messages, sorted by user id. */
export function describeList(entries: Iterable<[string, number]>): string {
  const sorted = [...entries].sort(([a], [b]) => a.localeCompare(b));
  return `{${sorted.map(([id, distance]) => `${id} ${distance.toFixed(3)}`).join(', ')}}`;
}
