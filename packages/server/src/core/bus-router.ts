import { LeaveReason } from '@nearby/protocol';
import type { CacheEntry } from '../adapters/types.js';
import { isWithdrawal } from '../adapters/entries.js';
import { decodeBusMessage, encodeBusMessage, type BusMessage } from './bus.js';
import { BusHealth } from './bus-health.js';
import type { BusRole, EngineContext } from './context.js';
import { ControlLog } from './control-log.js';
import type { ChannelState, Position } from './local-user.js';

/** What the bus router tells the recovery when the bus goes down and comes back. */
export interface BusEvents {
  onDown(): void;
  /** The bus is back; `republish` has just announced again what no probe had confirmed. */
  onUp(): void;
}

/**
 * The Pub/Sub side of the engine: publishing (positions as they come, changes kept until a
 * probe confirms them), the bus probe, and applying what arrives — every message is checked
 * against the versions this process knows, so a late, duplicated or republished message
 * never undoes a newer change.
 */
export class BusRouter implements BusRole {
  readonly #ctx: EngineContext;
  /** `"s":"<serverId>"` as it appears in this server's own bus messages. */
  readonly #ownMarker: string;
  readonly #probeChannel: string;
  readonly #controlLog = new ControlLog();
  readonly #health: BusHealth | undefined;
  #events: BusEvents | undefined;
  /** Whether fan-outs are timed (the engine has a telemetry). */
  readonly #timed: boolean;

  constructor(ctx: EngineContext) {
    this.#ctx = ctx;
    this.#timed = ctx.options.telemetry !== undefined;
    const { serverId, probeChannelPrefix, busProbeIntervalMs, timers } = ctx.options;
    this.#ownMarker = `"s":${JSON.stringify(serverId)}`;
    this.#probeChannel = probeChannelPrefix + serverId;
    if (busProbeIntervalMs > 0) {
      this.#health = new BusHealth({
        timers,
        intervalMs: busProbeIntervalMs,
        publish: (seq) => {
          ctx.pubsub.publish(this.#probeChannel, `{"k":"probe","n":${seq}}`).catch(() => undefined);
        },
        onDown: () => this.#events?.onDown(),
        onUp: () => this.#onUp(),
      });
    }
    ctx.pubsub.onMessage((channel, message) => this.#onMessage(channel, message));
  }

  /** The probe channel to subscribe, when probing is on. */
  get probeChannel(): string | undefined {
    return this.#health === undefined ? undefined : this.#probeChannel;
  }

  /** Starts probing; `events` hears of outages. */
  start(events: BusEvents): void {
    this.#events = events;
    this.#health?.start();
  }

  stop(): void {
    this.#health?.stop();
  }

  broadcast(message: BusMessage): void {
    this.apply(message);
    this.publish(message.u, message);
  }

  announce(message: BusMessage): void {
    if (this.#health !== undefined) this.#controlLog.record(message, this.#health.sentSeq);
    this.publish(message.u, message);
  }

  announceAndApply(message: BusMessage): void {
    this.apply(message);
    this.announce(message);
  }

  publish(userId: string, message: BusMessage): void {
    this.publishOn(this.#ctx.channels.nameOf(userId), message);
  }

  publishOn(channel: string, message: BusMessage): void {
    this.#ctx.counters.busMessagesPublished++;
    this.#ctx.pubsub.publish(channel, encodeBusMessage(message)).catch((error: unknown) => this.#ctx.report('pubsub publish failed', error));
  }

  announceOn(channel: string, message: BusMessage): void {
    if (this.#health !== undefined) this.#controlLog.record(message, this.#health.sentSeq);
    this.publishOn(channel, message);
  }

  apply(message: BusMessage): void {
    const { channels, users, friendships } = this.#ctx;
    const remote = message.s !== this.#ctx.options.serverId;
    const state = channels.get(message.u);
    switch (message.k) {
      case 'loc':
        if (state === undefined) return;
        if (state.last !== undefined && state.last.t > message.t) return; // older than what we have
        this.#applyPosition(state, { lat: message.lat, lon: message.lon, t: message.t }, message.e, remote);
        return;
      case 'off':
        if (state !== undefined) this.#applySharingOff(state, message.v, remote);
        return;
      case 'on':
        if (state === undefined || message.v <= state.epoch) return;
        state.epoch = message.v;
        state.offVersion = undefined;
        if (remote && state.owner !== undefined) void users.changeSharing(state.owner, true, message.v);
        return;
      case 'bye':
        if (state !== undefined) this.#applySignOff(state, message.t);
        return;
      case 'rad':
        if (remote && state?.owner !== undefined) users.hearRadius(state.owner, message.r, message.v);
        return;
      case 'fa':
      case 'fr':
        if (remote) void friendships.applyChange(message);
        return;
      case 'ds':
        if (remote && state?.owner !== undefined) this.#ctx.strangers?.hear(state.owner, message);
        return;
      case 'sp':
      case 'sx':
      case 'sq':
        // Cell messages are applied by the strangers role when sent and when heard.
        return;
    }
  }

  applyCacheEntry(userId: string, entry: CacheEntry): void {
    const state = this.#ctx.channels.get(userId);
    if (state === undefined) return;
    if (isWithdrawal(entry)) {
      if (entry.withdrawn === 'sharing_off') this.#applySharingOff(state, entry.epoch ?? 0, true);
      else this.#applySignOff(state, entry.at);
      return;
    }
    if (state.last !== undefined && state.last.t >= entry.updatedAt) return;
    this.#applyPosition(state, { lat: entry.lat, lon: entry.lon, t: entry.updatedAt }, entry.epoch ?? 0, true);
  }

  #onMessage(channel: string, text: string): void {
    if (channel === this.#probeChannel) {
      this.#onProbe(text);
      return;
    }
    this.#ctx.counters.busMessagesIn++;
    // Our own messages come back too; they were applied when sent. Skip them before parsing.
    // (A user id containing this text would be escaped inside its own JSON string.)
    if (text.includes(this.#ownMarker)) return;
    const message = decodeBusMessage(text);
    if (message === undefined || message.s === this.#ctx.options.serverId) return;
    if (message.k === 'sp' || message.k === 'sx' || message.k === 'sq') {
      // About a cell, on that cell's channel (checked by the strangers role).
      this.#ctx.strangers?.apply(channel, message);
      return;
    }
    // A message must be about its channel's user.
    if (channel !== this.#ctx.channels.nameOf(message.u)) return;
    // With a telemetry, the fan-out of this message is timed from now (it was just received).
    const stamp = this.#timed ? this.#ctx.fanoutStamp : undefined;
    if (stamp !== undefined) stamp.at = performance.now();
    try {
      this.apply(message);
    } catch (error) {
      this.#ctx.report('bus message handling failed', error);
    } finally {
      if (stamp !== undefined) stamp.at = Number.NaN;
    }
  }

  #onProbe(text: string): void {
    const health = this.#health;
    if (health === undefined) return;
    const match = /"n":(\d+)/.exec(text);
    if (match === null) return;
    // Echo first: coming back up publishes unconfirmed changes again before confirmation forgets them.
    health.echo(Number(match[1]));
    this.#controlLog.confirm(health.confirmedSeq);
  }

  /** Announces again every change no probe confirmed, then lets the recovery catch up. */
  #onUp(): void {
    const health = this.#health!;
    for (const message of this.#controlLog.unconfirmed()) {
      this.#ctx.counters.changesRepublished++;
      this.#controlLog.record(message, health.sentSeq);
      if (message.k === 'sx') this.publishOn(this.#ctx.options.strangers!.channelPrefix + message.g, message);
      else this.publish(message.u, message);
    }
    this.#events?.onUp();
  }

  /**
   * A new position of `state`'s user, unless it was shared under a sharing setting that a known
   * "sharing off" replaced, or received before a known sign-off.
   */
  #applyPosition(state: ChannelState, position: Position, epoch: number, remote: boolean): void {
    if (epoch > state.epoch) {
      // Shared under a sharing change this process had not heard of: that change was "on".
      state.epoch = epoch;
      state.offVersion = undefined;
    } else if (state.offVersion !== undefined && epoch <= state.offVersion) {
      return;
    }
    if (position.t <= state.goneAt) return;
    const { channels, users } = this.#ctx;
    channels.setLast(state, position);
    if (remote && state.owner !== undefined) users.setOwnPosition(state.owner, position);
    for (const follower of state.followers) channels.evaluate(follower, state);
  }

  /** `state`'s user turned sharing off with change `version`: they leave every list here, unless a newer change is known. */
  #applySharingOff(state: ChannelState, version: number, remote: boolean): void {
    if (version <= state.epoch) return;
    state.epoch = version;
    state.offVersion = version;
    this.#ctx.channels.withdraw(state, LeaveReason.SHARING_OFF);
    if (remote && state.owner !== undefined) void this.#ctx.users.changeSharing(state.owner, false, version);
  }

  /** `state`'s user signed off at server time `t`: positions received until then leave every list here. */
  #applySignOff(state: ChannelState, t: number): void {
    // Connected here, so not signed off (the announcement raced a reconnect).
    if (state.owner !== undefined) return;
    state.goneAt = Math.max(state.goneAt, t);
    if (state.last !== undefined && state.last.t <= t) this.#ctx.channels.withdraw(state, LeaveReason.OFFLINE);
  }
}
