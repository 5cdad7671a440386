import { LeaveReason, type NearbyFriend } from '@nearby/protocol';
import type { ChannelsRole, EngineContext } from './context.js';
import { encodeSnapshot, friendEntryParts } from './frames.js';
import type { ControlKind } from './outbound-queue.js';
import type { ChannelState, LocalUser, Position } from './local-user.js';
import { SubscriptionBatcher } from './subscriptions.js';
import { ABSENT, LEFT_OUT_OF_RANGE, UNCHANGED, judgeFriend, visibleDistance, type VisibilityRules } from './visibility.js';

/**
 * The channels this process is interested in — one per followed user and per connected user —
 * with their local followers and last known position, subscribed on the transport once per
 * process (reference-counted), and the fan-out of a position to each follower's connections.
 */
export class Channels implements ChannelsRole {
  readonly #ctx: EngineContext;
  readonly #states = new Map<string, ChannelState>();
  readonly #subscriptions: SubscriptionBatcher;
  readonly #rules: VisibilityRules;

  constructor(ctx: EngineContext) {
    this.#ctx = ctx;
    this.#subscriptions = new SubscriptionBatcher(ctx.pubsub, (error) => ctx.report('pubsub subscription failed', error));
    this.#rules = { inactiveAfterMs: ctx.options.inactiveAfterMs, distanceRefreshKm: ctx.options.distanceRefreshKm };
  }

  get size(): number {
    return this.#states.size;
  }

  ids(): string[] {
    return [...this.#states.keys()];
  }

  states(): IterableIterator<ChannelState> {
    return this.#states.values();
  }

  get(userId: string): ChannelState | undefined {
    return this.#states.get(userId);
  }

  nameOf(userId: string): string {
    return this.#ctx.options.channelPrefix + userId;
  }

  /** Subscribes the transport to a channel of the engine's own (the bus probe), outside the registry. */
  subscribeRaw(channel: string): void {
    this.#subscriptions.subscribe(channel);
  }

  unsubscribeRaw(channel: string): void {
    this.#subscriptions.unsubscribe(channel);
  }

  settled(): Promise<void> {
    return this.#subscriptions.settled();
  }

  ensure(userId: string): ChannelState {
    let state = this.#states.get(userId);
    if (state === undefined) {
      state = {
        userId,
        idJson: JSON.stringify(userId),
        followers: new Set(),
        owner: undefined,
        last: undefined,
        encoded: undefined,
        epoch: 0,
        offVersion: undefined,
        goneAt: Number.NEGATIVE_INFINITY,
      };
      this.#states.set(userId, state);
    }
    return state;
  }

  own(owner: LocalUser): void {
    const state = this.ensure(owner.id);
    const wasUnused = this.#unused(state);
    state.owner = owner;
    if (wasUnused) this.#subscriptions.subscribe(this.nameOf(owner.id));
  }

  disown(owner: LocalUser): void {
    const state = this.#states.get(owner.id);
    if (state === undefined || state.owner !== owner) return;
    state.owner = undefined;
    this.#dropIfUnused(state);
  }

  /** Reference-counted: the transport subscribes when the channel's first local interest appears. */
  follow(user: LocalUser, friendId: string): ChannelState {
    const state = this.ensure(friendId);
    const wasUnused = this.#unused(state);
    state.followers.add(user);
    if (state.last !== undefined) user.positioned.add(state);
    if (wasUnused) this.#subscriptions.subscribe(this.nameOf(friendId));
    return state;
  }

  unfollow(user: LocalUser, friendId: string): void {
    const state = this.#states.get(friendId);
    if (state === undefined) return;
    user.positioned.delete(state);
    state.followers.delete(user);
    this.#dropIfUnused(state);
  }

  /** Replaces a channel's position, keeping each follower's set of positioned friends in step. */
  setLast(state: ChannelState, position: Position | undefined): void {
    const had = state.last !== undefined;
    state.last = position;
    if (had === (position !== undefined)) return;
    for (const follower of state.followers) {
      if (position === undefined) follower.positioned.delete(state);
      else follower.positioned.add(state);
    }
  }

  /** Decides whether `state`'s user belongs in `viewer`'s list, and queues the change if any. */
  evaluate(viewer: LocalUser, state: ChannelState): void {
    const location = viewer.location;
    if (!viewer.attached || location === undefined) return;
    this.#ctx.counters.friendEvaluations++;
    const position = state.last;
    const previous = viewer.visible.get(state.userId);
    const verdict = judgeFriend(location, viewer.radiusKm, position, previous, this.#ctx.now(), this.#rules);
    if (verdict === UNCHANGED || verdict === ABSENT) return;
    if (verdict < 0) {
      viewer.visible.delete(state.userId);
      this.leftToUser(viewer, state.userId, state.idJson, verdict === LEFT_OUT_OF_RANGE ? LeaveReason.OUT_OF_RANGE : LeaveReason.INACTIVE);
      return;
    }
    // Visible: `position` is defined, and `verdict` is the distance to send.
    const shown = position!;
    if (previous === undefined) {
      viewer.visible.set(state.userId, { distanceKm: verdict, position: shown });
    } else {
      // Only `visible` holds these records: updating one in place spares an allocation and a map write.
      previous.distanceKm = verdict;
      previous.position = shown;
    }
    let encoded = state.encoded;
    if (encoded === undefined || encoded.for !== shown) {
      // Encoded once per position for every viewer; only the distance differs per viewer.
      encoded = { for: shown, ...friendEntryParts(state.idJson, shown.lat, shown.lon, shown.t) };
      state.encoded = encoded;
    }
    const entry = encoded.head + verdict + encoded.tail;
    for (const connection of viewer.connections) {
      if (connection.phase !== 'ready') continue; // it gets a snapshot when init completes
      connection.queue.updateFriend(state.userId, entry);
      this.#ctx.counters.friendUpdatesQueued++;
    }
  }

  withdraw(state: ChannelState, reason: LeaveReason): void {
    this.setLast(state, undefined);
    for (const follower of state.followers) {
      if (follower.visible.delete(state.userId)) this.leftToUser(follower, state.userId, state.idJson, reason);
    }
  }

  leftToUser(user: LocalUser, friendId: string, idJson: string, reason: LeaveReason): void {
    for (const connection of user.connections) {
      if (connection.phase !== 'ready') continue;
      connection.queue.friendLeft(friendId, idJson, reason);
      this.#ctx.counters.friendLeftQueued++;
    }
  }

  controlToUser(user: LocalUser, frame: string, kind: ControlKind): void {
    for (const connection of user.connections) if (connection.phase === 'ready') connection.queue.control(frame, kind);
  }

  /** Sends the user's full list to every ready device, rebuilding `visible` from scratch. */
  sendSnapshot(user: LocalUser): void {
    const now = this.#ctx.now();
    const friends: NearbyFriend[] = [];
    user.visible.clear();
    const location = user.location;
    if (user.attached && location !== undefined) {
      for (const state of user.positioned) {
        const position = state.last;
        const distance = visibleDistance(location, user.radiusKm, position, now, this.#rules.inactiveAfterMs);
        if (distance === undefined) continue;
        user.visible.set(state.userId, { distanceKm: distance, position: position! });
        friends.push({ userId: state.userId, lat: position!.lat, lon: position!.lon, distanceKm: distance, updatedAt: position!.t });
      }
    }
    friends.sort((a, b) => a.distanceKm - b.distanceKm || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
    const frame = encodeSnapshot({
      userId: user.id,
      radiusKm: user.radiusKm,
      maxRadiusKm: this.#ctx.options.maxRadiusKm,
      sharing: user.sharing,
      inactiveAfterMs: this.#ctx.options.inactiveAfterMs,
      serverTime: now,
      friends,
      discoverable: user.discoverable,
      seeStrangers: user.seeStrangers,
    });
    for (const connection of user.connections) if (connection.phase === 'ready') connection.queue.snapshot(frame);
    // The snapshot empties the strangers list of every device: it is sent afresh right after.
    if (user.seeStrangers) this.#ctx.strangers?.afterSnapshot(user);
  }

  #unused(state: ChannelState): boolean {
    return state.followers.size === 0 && state.owner === undefined;
  }

  #dropIfUnused(state: ChannelState): void {
    if (!this.#unused(state)) return;
    this.#states.delete(state.userId);
    this.#subscriptions.unsubscribe(this.nameOf(state.userId));
  }
}
