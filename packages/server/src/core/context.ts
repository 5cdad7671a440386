import {
  CLIENT_FRAME_TYPES,
  CloseCode,
  SERVER_FRAME_TYPES,
  WIRE_ERROR_CODES,
  type ClientFrameType,
  type LeaveReason,
  type LocationSample,
  type ServerFrameType,
  type WireErrorCode,
} from '@nearby/protocol';
import type { CacheEntry, LocationCache, PresenceRegistry, PubSubTransport, SettingsStore, UserSettings } from '../adapters/types.js';
import type { BusMessage } from './bus.js';
import type { Connection } from './connection.js';
import type { ControlKind } from './outbound-queue.js';
import type { ResolvedEngineOptions } from './engine-options.js';
import type { HistoryWriter } from './history-writer.js';
import type { EngineLog } from './logging.js';
import type { ChannelState, LocalUser, Position } from './local-user.js';
import type { RetryQueue } from './retry-queue.js';
import type { Strangers } from './strangers.js';
import type { VersionClock } from './version-clock.js';

/** Counters exposed by `server.stats()`. */
export interface CoreCounters {
  framesIn: number;
  /** Inbound frames parked because the event-loop turn's inbound budget was spent. */
  framesParked: number;
  /** Own live positions skipped because a newer one from the same device was parked right behind. */
  liveSamplesCoalesced: number;
  framesDropped: number;
  invalidFrames: number;
  locationFrames: number;
  samplesIn: number;
  samplesAcked: number;
  historyFailures: number;
  busMessagesIn: number;
  busMessagesPublished: number;
  /** Friend positions checked against a viewer's radius. */
  friendEvaluations: number;
  /** Friend entries queued for delivery (before per-connection coalescing). */
  friendUpdatesQueued: number;
  /** WebSocket frames written to clients (all types). */
  framesSent: number;
  friendLeftQueued: number;
  slowConsumersClosed: number;
  /** Times the bus stopped carrying this server's probes back. */
  busOutages: number;
  /** Times this server re-read its users' views after the bus came back. */
  reconciliations: number;
  /** Changes announced again after an outage because no probe had confirmed them. */
  changesRepublished: number;
  /** Failed attempts of writes that are retried (saved settings, withdrawals, sign-off checks). */
  writeRetries: number;
  /** Inbound messages past the frames rate limit, by client frame type; `invalid`: binary, not JSON, or of no known type. */
  framesInByType: Record<ClientFrameType | 'invalid', number>;
  /** Frames written to clients, by server frame type (they add up to `framesSent`). */
  framesOutByType: Record<ServerFrameType, number>;
  /** `error` frames written to clients, by wire error code (they add up to `framesOutByType.error`). */
  errorsByCode: Record<WireErrorCode, number>;
  /** Connections released, by the close code the engine saw (`other` for any code not listed). */
  closesByCode: Record<CloseCodeLabel, number>;
}

/**
 * The close codes counted one by one: the protocol's, and the two a socket reports without a
 * close frame (1005: closed without a code, 1006: the connection dropped). Any other is `other`.
 */
export type CloseCodeLabel = `${CloseCode}` | '1005' | '1006' | 'other';

function zeroRecord<K extends string>(keys: readonly K[]): Record<K, number> {
  const record = {} as Record<K, number>;
  for (const key of keys) record[key] = 0;
  return record;
}

const CLOSE_CODE_LABELS: readonly CloseCodeLabel[] = [
  ...Object.values(CloseCode).map((code) => `${code}` as `${CloseCode}`),
  '1005',
  '1006',
  'other',
];

/** The label `closesByCode` counts `code` under. */
export function closeCodeLabel(code: number, closes: Record<CloseCodeLabel, number>): CloseCodeLabel {
  const label = String(code) as CloseCodeLabel;
  return label !== 'other' && Object.hasOwn(closes, label) ? label : 'other';
}

/** A copy of `counters` whose per-label records are copies too, for `stats()`. */
export function copyCounters(counters: CoreCounters): CoreCounters {
  return {
    ...counters,
    framesInByType: { ...counters.framesInByType },
    framesOutByType: { ...counters.framesOutByType },
    errorsByCode: { ...counters.errorsByCode },
    closesByCode: { ...counters.closesByCode },
  };
}

/**
 * Where fan-out latency starts: `performance.now()` when the bus message (or own location frame)
 * being fanned out right now was received, `NaN` outside a fan-out. Set only with a telemetry.
 */
export interface FanoutStamp {
  at: number;
}

export function zeroCounters(): CoreCounters {
  return {
    framesIn: 0,
    framesParked: 0,
    liveSamplesCoalesced: 0,
    framesDropped: 0,
    invalidFrames: 0,
    locationFrames: 0,
    samplesIn: 0,
    samplesAcked: 0,
    historyFailures: 0,
    busMessagesIn: 0,
    busMessagesPublished: 0,
    friendEvaluations: 0,
    friendUpdatesQueued: 0,
    framesSent: 0,
    friendLeftQueued: 0,
    slowConsumersClosed: 0,
    busOutages: 0,
    reconciliations: 0,
    changesRepublished: 0,
    writeRetries: 0,
    // Every label preallocated: an increment is one property write on an object of fixed shape.
    framesInByType: zeroRecord([...CLIENT_FRAME_TYPES, 'invalid']),
    framesOutByType: zeroRecord(SERVER_FRAME_TYPES),
    errorsByCode: zeroRecord(WIRE_ERROR_CODES),
    closesByCode: zeroRecord(CLOSE_CODE_LABELS),
  };
}

export type EngineConnection = Connection<LocalUser>;

/** The channel registry and the fan-out to viewers (`channels.ts`). */
export interface ChannelsRole {
  readonly size: number;
  ids(): string[];
  states(): IterableIterator<ChannelState>;
  get(userId: string): ChannelState | undefined;
  /** The channel of `userId`, created (unsubscribed) when missing. */
  ensure(userId: string): ChannelState;
  /** The transport channel name of `userId`. */
  nameOf(userId: string): string;
  follow(user: LocalUser, friendId: string): ChannelState;
  unfollow(user: LocalUser, friendId: string): void;
  /** Makes `owner` the connected owner of its own channel (subscribing it if new). */
  own(owner: LocalUser): void;
  disown(owner: LocalUser): void;
  setLast(state: ChannelState, position: Position | undefined): void;
  /** Re-checks one friend against one viewer's radius and queues what changed. */
  evaluate(viewer: LocalUser, state: ChannelState): void;
  /** Removes `state`'s user from every local list, with `reason`. */
  withdraw(state: ChannelState, reason: LeaveReason): void;
  leftToUser(user: LocalUser, friendId: string, idJson: string, reason: LeaveReason): void;
  /** Queues a control frame, counted as `kind`, to every ready device of `user`. */
  controlToUser(user: LocalUser, frame: string, kind: ControlKind): void;
  sendSnapshot(user: LocalUser): void;
  /** Resolves once every subscription change asked for so far has been answered. */
  settled(): Promise<void>;
  /** Subscribes a channel outside the user registry (reference counting is the caller's). */
  subscribeRaw(channel: string): void;
  unsubscribeRaw(channel: string): void;
}

/** Publishing to and applying messages from the Pub/Sub bus (`bus-router.ts`). */
export interface BusRole {
  /** Applies a message here, then publishes it (hot path: positions). */
  broadcast(message: BusMessage): void;
  /** Publishes a change that must reach every process; kept until a probe confirms it. */
  announce(message: BusMessage): void;
  announceAndApply(message: BusMessage): void;
  publish(userId: string, message: BusMessage): void;
  /** Publishes on a channel other than the user's (a cell channel). */
  publishOn(channel: string, message: BusMessage): void;
  /** {@link announce} on a channel other than the user's. */
  announceOn(channel: string, message: BusMessage): void;
  apply(message: BusMessage): void;
  /** Applies what the cache holds for a user, like the bus message it stands for. */
  applyCacheEntry(userId: string, entry: CacheEntry): void;
}

/** Local users: sessions' shared state, settings, sharing, radius, positions, departures (`users.ts`). */
export interface UsersRole {
  readonly size: number;
  get(userId: string): LocalUser | undefined;
  values(): IterableIterator<LocalUser>;
  /** The user's state here, created (friend list and settings loading) when missing. */
  obtain(userId: string): LocalUser;
  remove(user: LocalUser, signedOff: boolean): void;
  validRadius(radiusKm: number): boolean;
  radiusMessage(radiusKm: number): string;
  changeRadius(user: LocalUser, radiusKm: number): void;
  /** A sharing change made here (`heard` undefined) or heard from another process with its version. */
  changeSharing(user: LocalUser, sharing: boolean, heard?: number): Promise<void>;
  setSharing(user: LocalUser, sharing: boolean, heard?: number): Promise<boolean>;
  /** A radius change heard from another process. */
  hearRadius(owner: LocalUser, radiusKm: number, version: number): void;
  adoptSettings(user: LocalUser, settings: UserSettings): Promise<void>;
  applyOwnSample(user: LocalUser, device: EngineConnection, sample: LocationSample, restart: boolean): void;
  setOwnPosition(user: LocalUser, position: Position): void;
  /** Reads the cache entries of those of `userIds` whose current position this process does not know. */
  fillFromCache(userIds: string[]): Promise<void>;
  /** Shares every local user's current position again (after the bus was down). */
  republishPositions(): void;
  /** Settles once departures started so far (presence, sign-off) have finished. */
  settle(): Promise<void>;
}

/** Friendship changes and the friend lists of local users (`friendships.ts`). */
export interface FriendshipsRole {
  normalize(userId: string, friends: readonly string[]): Set<string>;
  applyChange(message: { k: 'fa' | 'fr'; u: string; f: string; v: number }): Promise<void>;
  adopt(user: LocalUser, friends: Set<string>, readAt: number): Promise<void>;
}

/**
 * What the engine's roles share: options, adapters, counters, the version clock, the retried
 * writes, and each other. Built once by the engine; every role reaches the others through it.
 */
export interface EngineContext {
  readonly options: ResolvedEngineOptions;
  readonly cache: LocationCache;
  readonly pubsub: PubSubTransport;
  /** Saved account settings; absent with `settings: false` (settings last per process). */
  readonly settings: SettingsStore | undefined;
  /** Which processes hold each user; absent with `presence: false` (every sign-off is announced). */
  readonly presence: PresenceRegistry | undefined;
  readonly history: HistoryWriter;
  readonly counters: CoreCounters;
  /** When the fan-out under way started (see {@link FanoutStamp}). */
  readonly fanoutStamp: FanoutStamp;
  readonly clock: VersionClock;
  readonly retries: RetryQueue;
  readonly channels: ChannelsRole;
  readonly bus: BusRole;
  readonly users: UsersRole;
  readonly friendships: FriendshipsRole;
  /** Nearby people (protocol.md §20); absent unless the `strangers` option enables them. */
  readonly strangers: Strangers | undefined;
  /** Structured log of lifecycle events (`logging.ts`). */
  readonly log: EngineLog;
  now(): number;
  /** Reports an error that belongs to no connection to the host's `onError`. Never throws. */
  report(context: string, error: unknown): void;
  /** Runs `callback` after `ms` on the injected timers, unless the engine stops first. */
  later(ms: number, callback: () => void): void;
}
