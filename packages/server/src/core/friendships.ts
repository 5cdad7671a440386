import { ErrorCode, LeaveReason, NearbyError } from '@nearby/protocol';
import type { EngineContext, FriendshipsRole } from './context.js';
import { encodeFriendAdded, encodeFriendRemoved } from './frames.js';
import type { LocalUser } from './local-user.js';

type FriendChange = { k: 'fa' | 'fr'; u: string; f: string; v: number };

/**
 * Friend lists of local users: loaded from the host's graph at session start, changed live by
 * the host's `friendAdded` / `friendRemoved` (announced to every process, with a version), and
 * read again from the graph after an outage.
 */
export class Friendships implements FriendshipsRole {
  readonly #ctx: EngineContext;

  constructor(ctx: EngineContext) {
    this.#ctx = ctx;
  }

  /** Applies "`friendId` is now a friend of `userId`" (or no longer is) here and tells the other servers. */
  async change(kind: 'fa' | 'fr', userId: string, friendId: string): Promise<void> {
    const message = { k: kind, s: this.#ctx.options.serverId, u: userId, f: friendId, v: this.#ctx.clock.nextUnique() } as const;
    this.#ctx.bus.announce(message);
    await this.applyChange(message);
  }

  normalize(userId: string, friends: readonly string[]): Set<string> {
    const set = new Set<string>();
    if (!Array.isArray(friends)) throw new TypeError(`getFriends(${userId}) must resolve to an array of user ids`);
    for (const friend of friends) {
      if (typeof friend !== 'string' || friend.length === 0 || friend === userId) continue;
      set.add(friend);
      if (set.size >= this.#ctx.options.maxFriends) break;
    }
    return set;
  }

  async applyChange(message: FriendChange): Promise<void> {
    const user = this.#ctx.users.get(message.u);
    if (user === undefined) return;
    await user.ready.catch(() => undefined);
    await user.run(async () => {
      if (user.removed) return;
      // A change that arrives after a newer one about the same friend (late, or published again) is stale.
      if (message.v <= (user.friendVersions.get(message.f) ?? 0)) return;
      user.friendVersions.set(message.f, message.v);
      if (message.k === 'fa') await this.#add(user, message.f);
      else this.#remove(user, message.f);
    });
  }

  /**
   * Makes the user's friends what the host's friend graph says, for friendships whose change
   * this process may have missed; a change applied since `readAt` is newer than the graph read.
   * Runs inside the user's queue.
   */
  async adopt(user: LocalUser, friends: Set<string>, readAt: number): Promise<void> {
    const stale = (friendId: string) => (user.friendVersions.get(friendId) ?? 0) < readAt;
    for (const friendId of friends) {
      if (user.removed) return;
      if (user.friends.has(friendId) || !stale(friendId)) continue;
      user.friendVersions.set(friendId, readAt);
      await this.#add(user, friendId);
    }
    // A capped list does not say which friends beyond the cap were dropped.
    if (friends.size >= this.#ctx.options.maxFriends) return;
    for (const friendId of [...user.friends]) {
      if (friends.has(friendId) || !stale(friendId)) continue;
      user.friendVersions.set(friendId, readAt);
      this.#remove(user, friendId);
    }
  }

  async #add(user: LocalUser, friendId: string): Promise<void> {
    const { channels, options } = this.#ctx;
    if (friendId === user.id || user.friends.has(friendId)) return;
    if (user.friends.size >= options.maxFriends) {
      this.#ctx.report(
        'friend not added',
        new NearbyError(ErrorCode.INVALID_ARGUMENT, `${user.id} already has maxFriends (${options.maxFriends}) friends`),
      );
      return;
    }
    user.friends.add(friendId);
    this.#ctx.strangers?.friendsChanged(user);
    channels.controlToUser(user, encodeFriendAdded(friendId), 'friend_added');
    if (!user.attached) return;
    const state = channels.follow(user, friendId);
    await channels.settled();
    await this.#ctx.users.fillFromCache([friendId]);
    if (!user.removed && user.attached) channels.evaluate(user, state);
  }

  #remove(user: LocalUser, friendId: string): void {
    const { channels } = this.#ctx;
    if (!user.friends.delete(friendId)) return;
    if (user.visible.delete(friendId)) channels.leftToUser(user, friendId, JSON.stringify(friendId), LeaveReason.UNFRIENDED);
    channels.controlToUser(user, encodeFriendRemoved(friendId), 'friend_removed');
    if (user.attached) channels.unfollow(user, friendId);
    this.#ctx.strangers?.friendsChanged(user);
  }
}
