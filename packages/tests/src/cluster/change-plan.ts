import { distanceKm } from '@nearby/protocol';
import type { World } from './truth.js';

/** The kinds of change a fault test makes while the fault lasts. */
export type Role = 'unfriend' | 'befriend' | 'sharingOff' | 'sharingOn' | 'radius' | 'signOff';

/**
 * One change of each kind, each by different users, each chosen so that it changes at least one
 * list: a change nobody would see proves nothing.
 */
export interface ChangePlan {
  /** Friends where the first sees the second. */
  unfriend: [string, string];
  /** Not friends yet; the first will see the second. */
  befriend: [string, string];
  /** Shares and is in a list. */
  sharingOff: string;
  /** Does not share yet; a friend will see them once they do. */
  sharingOn: string;
  /** A new radius that adds or removes someone from the user's list. */
  radius: { userId: string; km: number };
  /** Shares and is in a list. */
  signOff: string;
  /** For the changes only others see: a user in no change whose list the change alters. */
  witnesses: { sharingOff: string; sharingOn: string; signOff: string };
}

export interface PlanOptions {
  /** Users to try first for a role (for example those on the process that will fail). */
  prefer?: (userId: string, role: Role) => boolean;
}

const RADII_KM = [1, 2, 3, 4, 5, 6, 8, 10, 12];
/** A new radius keeps this far from every friend's distance, so a fix's jitter cannot decide membership. */
const RADIUS_MARGIN_KM = 0.2;

export function planChanges(world: World, options: PlanOptions = {}): ChangePlan {
  const taken = new Set<string>();
  const free = (id: string): boolean => !taken.has(id);
  const ids = [...world.users.keys()].sort();
  const order = (role: Role): string[] => {
    const prefer = options.prefer ?? (() => false);
    return [...ids.filter((id) => prefer(id, role)), ...ids.filter((id) => !prefer(id, role))].filter(free);
  };
  const pick = <T>(role: Role, choose: (id: string) => T | undefined): T => {
    for (const id of order(role)) {
      const choice = choose(id);
      if (choice !== undefined) return choice;
    }
    throw new Error(`the scenario has no candidate for a ${role} change`);
  };
  const claim = (...users: string[]): void => {
    for (const id of users) taken.add(id);
  };

  const unfriend = pick('unfriend', (a) => {
    const b = world.friendsOf(a).sort().find((id) => free(id) && world.distanceSeen(a, id) !== undefined);
    return b === undefined ? undefined : ([a, b] as [string, string]);
  });
  claim(...unfriend);

  const befriend = pick('befriend', (c) => {
    const d = ids.find((id) => id !== c && free(id) && !world.areFriends(c, id) && world.inRange(c, id) !== undefined);
    return d === undefined ? undefined : ([c, d] as [string, string]);
  });
  claim(...befriend);

  const radius = pick('radius', (userId) => {
    const user = world.user(userId);
    if (!user.sharing || user.sent === undefined) return undefined;
    const friends = world.friendsOf(userId).flatMap((id) => {
      const friend = world.user(id);
      return friend.sharing && friend.sent !== undefined ? [{ id, d: distanceKm(user.sent!, friend.sent) }] : [];
    });
    const between = (r: number) => friends.filter(({ d }) => d > Math.min(r, user.radiusKm) && d <= Math.max(r, user.radiusKm));
    const km = RADII_KM.find(
      (r) => r !== user.radiusKm && between(r).length > 0 && friends.every(({ d }) => Math.abs(d - r) >= RADIUS_MARGIN_KM),
    );
    // The friends the new radius adds or removes keep their settings, so the change stays visible.
    return km === undefined ? undefined : { userId, km, crossing: between(km).map(({ id }) => id) };
  });
  claim(radius.userId, ...radius.crossing);

  /** A user in no change yet who sees `id`, or would once `id` shares from their place. */
  const witnessOf = (id: string, once: 'now' | 'sharing'): string | undefined =>
    world
      .friendsOf(id)
      .sort()
      .find((viewerId) => {
        if (!free(viewerId)) return false;
        if (once === 'now') return world.distanceSeen(viewerId, id) !== undefined;
        const viewer = world.user(viewerId);
        return viewer.sharing && viewer.sent !== undefined && distanceKm(viewer.sent, world.user(id).home) <= viewer.radiusKm - RADIUS_MARGIN_KM;
      });
  const seenChange = (role: Role, once: 'now' | 'sharing'): [string, string] => {
    const chosen = pick(role, (id) => {
      if (world.user(id).sharing !== (once === 'now')) return undefined;
      const witness = witnessOf(id, once);
      return witness === undefined ? undefined : ([id, witness] as [string, string]);
    });
    claim(...chosen);
    return chosen;
  };
  const [sharingOff, offWitness] = seenChange('sharingOff', 'now');
  const [sharingOn, onWitness] = seenChange('sharingOn', 'sharing');
  const [signOff, signOffWitness] = seenChange('signOff', 'now');

  return {
    unfriend,
    befriend,
    sharingOff,
    sharingOn,
    radius: { userId: radius.userId, km: radius.km },
    signOff,
    witnesses: { sharingOff: offWitness, sharingOn: onWitness, signOff: signOffWitness },
  };
}

/** The plan in one line, for messages; `name` renders a user. */
export function describePlan(plan: ChangePlan, name: (id: string) => string = (id) => id): string {
  return [
    `unfriend ${plan.unfriend.map(name).join(' - ')}`,
    `befriend ${plan.befriend.map(name).join(' - ')}`,
    `sharing off ${name(plan.sharingOff)}`,
    `sharing on ${name(plan.sharingOn)}`,
    `radius ${name(plan.radius.userId)} → ${plan.radius.km} km`,
    `sign-off ${name(plan.signOff)}`,
  ].join(', ');
}
