import type { Connection } from './connection.js';
import type { FriendEntryParts } from './frames.js';
import type { PublishedStranger, StrangerView } from './strangers.js';
import type { Position, VisibleFriend } from './visibility.js';

export type { Position, VisibleFriend } from './visibility.js';

/** What this server knows about one user's channel: who follows it here, and the latest position. */
export interface ChannelState {
  userId: string;
  idJson: string;
  /** Local users who are friends of `userId` and follow its channel. */
  followers: Set<LocalUser>;
  /** The user themself, when connected here (to sync their devices across servers). */
  owner: LocalUser | undefined;
  last: Position | undefined;
  /** Version of the user's newest sharing change this server knows of (0: none). */
  epoch: number;
  /**
   * Set while that newest change is "sharing off": positions shared under an epoch up to it are
   * stale (late, duplicated or from a session that missed the change) and are never shown.
   */
  offVersion: number | undefined;
  /** Server time of the user's newest sign-off this server knows of: positions received before it are not shown. */
  goneAt: number;
  /**
   * `last` encoded once for every viewer: a viewer's entry is `head + distanceKm + tail`.
   * Rebuilt when `last` is replaced (positions are never mutated).
   */
  encoded: (FriendEntryParts & { for: Position }) | undefined;
}

/**
 * A user with at least one connection on this server. All of the user's devices here share
 * it, so they share one location, radius, sharing setting and nearby list.
 */
export class LocalUser {
  readonly id: string;
  /** `JSON.stringify(id)`, computed once for hand-built frames. */
  readonly idJson: string;
  readonly connections = new Set<Connection<LocalUser>>();
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
  /** Version of `radiusKm` (0: the default, or saved without versions). */
  radiusVersion = 0;
  /** Version of `sharing`; positions this user shares carry it as their epoch. */
  sharingVersion = 0;
  /** Whether others may see this user among nearby people (never kept across sessions). */
  discoverable = false;
  /** Whether this user sees nearby people (never kept across sessions). */
  seeStrangers = false;
  /** Version of the newest change of the two opt-ins known here. */
  discoveryVersion = 0;
  /** What this process last published for the user as a stranger; undefined: nothing visible. */
  published: PublishedStranger | undefined = undefined;
  /** The user's view of nearby people, while they see strangers here. */
  strangerView: StrangerView | undefined = undefined;
  /** Version of the newest friendship change applied per friend id, so a late message cannot undo a newer change. */
  readonly friendVersions = new Map<string, number>();
  /** Settles once the friend list is loaded (and, with sharing on, attached). */
  ready: Promise<void> = Promise.resolve();
  #chain: Promise<void> = Promise.resolve();
  /** Tasks queued by `run` that have not finished. */
  #pending = 0;
  readonly #settle = (): void => {
    this.#pending--;
  };

  constructor(id: string, radiusKm: number, sharing: boolean) {
    this.id = id;
    this.idJson = JSON.stringify(id);
    this.radiusKm = radiusKm;
    this.sharing = sharing;
  }

  /**
   * Runs state changes of this user one after another, in the order they were asked for, so
   * concurrent devices cannot interleave them and a change waiting on a backend holds back
   * everything asked for after it.
   */
  run<T>(task: () => Promise<T> | T): Promise<T> {
    this.#pending++;
    const result = this.#chain.then(task);
    this.#chain = result.then(this.#settle, this.#settle);
    return result;
  }

  /**
   * Runs a synchronous `task` in the same order as `run`: at once when nothing of this user is
   * queued (the hot path for location updates: no promise), after the queue otherwise.
   */
  order(task: () => void, onError: (error: unknown) => void): void {
    if (this.#pending === 0) {
      task();
      return;
    }
    this.run(task).catch(onError);
  }
}
