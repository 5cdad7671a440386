import type { Connection } from './connection.js';

/** A position with the server time it was received. */
export interface Position {
  lat: number;
  lon: number;
  /** Server time of receipt, ms since the epoch. */
  t: number;
}

/** What a viewer was last sent about a friend in its list. */
export interface VisibleFriend {
  distanceKm: number;
  /** The friend's position that entry carried. */
  position: Position;
}

/** What this server knows about one user's channel: who follows it here, and the latest position. */
export interface ChannelState {
  userId: string;
  idJson: string;
  /** Local users who are friends of `userId` and follow its channel. */
  followers: Set<LocalUser>;
  /** The user themself, when connected here (to sync their devices across servers). */
  owner: LocalUser | undefined;
  last: Position | undefined;
  /**
   * `last` encoded once for every viewer: a viewer's entry is `head + distanceKm + tail`.
   * Rebuilt when `last` is replaced (positions are never mutated).
   */
  encoded: { for: Position; head: string; tail: string } | undefined;
}

/**
 * A user with at least one connection on this server. All of the user's devices here share
 * it, so they share one location, radius, sharing setting and nearby list.
 */
export class LocalUser {
  readonly id: string;
  /** `JSON.stringify(id)`, computed once for hand-built frames. */
  readonly idJson: string;
  readonly connections = new Set<Connection>();
  /** Friend ids (deduplicated, capped at maxFriends). */
  friends = new Set<string>();
  /**
   * Followed friends' channels that currently hold a position: the only friends a move of this
   * user can bring into or out of range (usually a tenth of all friends).
   */
  readonly positioned = new Set<ChannelState>();
  /** Friends currently in this user's list → what was last sent about them. */
  readonly visible = new Map<string, VisibleFriend>();
  /** True while this user follows its friends' channels (sharing on and friends loaded). */
  attached = false;
  /** True once the last connection closed; pending async work must then stop. */
  removed = false;
  location: Position | undefined;
  radiusKm: number;
  sharing: boolean;
  /** Settles once the friend list is loaded (and, with sharing on, attached). */
  ready: Promise<void> = Promise.resolve();
  #chain: Promise<void> = Promise.resolve();

  constructor(id: string, radiusKm: number, sharing: boolean) {
    this.id = id;
    this.idJson = JSON.stringify(id);
    this.radiusKm = radiusKm;
    this.sharing = sharing;
  }

  /** Runs state changes of this user one after another, so concurrent devices cannot interleave them. */
  run<T>(task: () => Promise<T> | T): Promise<T> {
    const result = this.#chain.then(task);
    this.#chain = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
