/**
 * Adapter contracts. Each asks only for I/O: subscription reference counting, radius
 * filtering, batching and retries live in the server core, so an adapter stays small.
 * The in-memory adapters in `./memory` are the reference implementations.
 */

/** A user's latest shared position as kept in the location cache. */
export interface CachedLocation {
  lat: number;
  lon: number;
  /** Server time (ms since the epoch) at which the position was received. */
  updatedAt: number;
  /**
   * Version of the user's sharing setting the position was shared under (0 when unknown). A
   * reader that knows of a later "sharing off" ignores the position.
   */
  epoch?: number;
}

/**
 * Written in place of a position when the user withdraws it: sharing turned off, or signed
 * off. Kept for the same TTL as a position, so a process that missed the announcement (its
 * Pub/Sub was down) still learns of it when it reads the cache.
 */
export interface CachedWithdrawal {
  withdrawn: 'sharing_off' | 'offline';
  /** Server time (ms since the epoch) of the withdrawal. */
  at: number;
  /** For `sharing_off`: the version of that sharing change. */
  epoch?: number;
}

/** What the location cache holds for a user. */
export type CacheEntry = CachedLocation | CachedWithdrawal;

/**
 * A user's account settings, shared by all of the user's devices and every server process
 * through the {@link SettingsStore}.
 * Each field carries the version of the change that set it (a server time, ms since the
 * epoch, made unique per user by the server that changed it; 0 for a default), so a store
 * that receives changes out of order keeps the newest of each.
 */
export interface UserSettings {
  radiusKm: number;
  sharing: boolean;
  /** Version of `radiusKm`. Absent in settings saved by older servers: 0. */
  radiusVersion?: number;
  /** Version of `sharing`. Absent in settings saved by older servers: 0. */
  sharingVersion?: number;
}

/**
 * Latest entry per user, expiring after a TTL (the server passes `inactiveAfterMs`), so a
 * user who stops sending disappears from every new friend list by itself.
 */
export interface LocationCache {
  /**
   * Stores (or replaces) a user's entry — a position, or a withdrawal of it — and restarts its
   * TTL. The latest call wins; the server orders its own writes.
   */
  set(userId: string, entry: CacheEntry, ttlMs: number): Promise<void>;
  /**
   * Reads many users' unexpired entries in one round trip. Users without an entry are absent
   * from the result. Called with up to `maxFriends` (5000 by default) ids.
   */
  getMany(userIds: readonly string[]): Promise<Map<string, CacheEntry>>;
  /** Connects; `server.listen()` awaits it and fails with its error. Rejects with a message naming the address. */
  connect?(): Promise<void>;
  /** Releases connections and timers. */
  close?(): Promise<void>;
}

/**
 * Account settings shared by every server process, so a user's radius and sharing setting
 * outlive a session and follow the user to whichever process they reach. Read when a user's
 * session starts on a process and after a Pub/Sub outage; written whenever the user changes one
 * (retried until it lands). Without a store (`settings: false`), settings last only while the
 * user stays connected to a process.
 */
export interface SettingsStore {
  /** The user's settings as last saved by any process, or `undefined` when none were saved. */
  get(userId: string): Promise<UserSettings | undefined>;
  /**
   * Saves the user's settings (no expiry). Per field, the value with the higher version wins
   * over the one stored, and an equal version takes the new value: a late retry of an older
   * change never undoes a newer one made through another process. `mergeSettings` is the
   * reference; settings saved without versions read back with versions 0.
   */
  set(userId: string, settings: UserSettings): Promise<void>;
  /** Connects; `server.listen()` awaits it and fails with its error. Rejects with a message naming the address. */
  connect?(): Promise<void>;
  /** Releases connections. */
  close?(): Promise<void>;
}

/**
 * Which server processes hold connections of each user, so that a deliberate sign-off on one
 * process is announced ("offline") only when no other process still holds the user. Without a
 * registry (`presence: false`), every sign-off is announced, even while the user is connected to
 * another process.
 */
export interface PresenceRegistry {
  /** Records that server `serverId` holds connections of the user (its first one there arrived). Adding twice counts once. */
  add(userId: string, serverId: string): Promise<void>;
  /**
   * Forgets `serverId` for the user (its last connection there closed); resolves to how many
   * servers still hold connections of the user. Removing a server that does not hold the user
   * only counts the others.
   */
  remove(userId: string, serverId: string): Promise<number>;
  /**
   * How long a process that crashed (and so never removed its users) may still be counted by
   * `remove`. A sign-off that finds other holders is checked again once this has passed, so a
   * crashed process cannot keep a signed-off user online. Absent: processes are never counted
   * after they end (one process, or a registry that knows at once), and no check is repeated.
   */
  readonly expiryMs?: number;
  /** Connects; `server.listen()` awaits it and fails with its error. Rejects with a message naming the address. */
  connect?(): Promise<void>;
  /** Releases connections and timers. */
  close?(): Promise<void>;
}

/** Receives every message of every channel the transport is subscribed to. */
export type PubSubMessageHandler = (channel: string, message: string) => void;

/**
 * Channel-based publish/subscribe between server processes. The server core subscribes to a
 * channel once per process, however many local users follow it (reference counting is the
 * core's job), and passes channels in batches. Delivery is at-most-once: a message lost during
 * an outage is acceptable, but once a transport is back every channel it was asked to keep
 * must be subscribed again without the core asking.
 */
export interface PubSubTransport {
  /** Publishes one message on one channel. Should not wait for subscribers. */
  publish(channel: string, message: string): Promise<void>;
  /** Subscribes to every channel in the batch (already-subscribed ones may be sent again). */
  subscribe(channels: readonly string[]): Promise<void>;
  /** Unsubscribes from every channel in the batch. */
  unsubscribe(channels: readonly string[]): Promise<void>;
  /** Sets the single handler for inbound messages. Called once by the server before any subscribe. */
  onMessage(handler: PubSubMessageHandler): void;
  /** Optional counters (published, received, …), included in `server.stats().pubsub`. */
  readonly stats?: Readonly<Record<string, number>>;
  /** Connects; `server.listen()` awaits it and fails with its error. Rejects with a message naming the address. */
  connect?(): Promise<void>;
  /** Releases connections. */
  close?(): Promise<void>;
}

/** One location sample as kept by the history store. */
export interface HistorySample {
  userId: string;
  lat: number;
  lon: number;
  /** Accuracy in metres, when the device reported one. */
  accuracy?: number;
  /** Device time of the fix (ms since the epoch). With `userId`, the sample's identity. */
  recordedAt: number;
  /** Server time (ms since the epoch) at which the sample arrived. */
  receivedAt: number;
}

/** A time-range query over one user's history. */
export interface HistoryQuery {
  userId: string;
  /** Inclusive lower bound on `recordedAt`. */
  from?: number;
  /** Exclusive upper bound on `recordedAt`. */
  to?: number;
  /** Maximum number of samples to yield. */
  limit?: number;
}

/**
 * Location history, kept for later analysis. `append` must be idempotent on
 * `(userId, recordedAt)`: the server retries and clients resend unacknowledged samples, so the
 * same sample can arrive more than once. A resolved `append` means the samples are stored; the
 * server acknowledges samples to the client only then.
 */
export interface HistoryStore {
  /** Stores a batch (from many users). Resolves once every sample is durably accepted. */
  append(samples: readonly HistorySample[]): Promise<void>;
  /** Yields one user's samples in `recordedAt` order. */
  query(query: HistoryQuery): AsyncIterable<HistorySample>;
  /** Deletes samples recorded before `before` (ms since the epoch); resolves to how many. */
  prune(before: number): Promise<number>;
  /** Connects; `server.listen()` awaits it and fails with its error. Rejects with a message naming the address. */
  connect?(): Promise<void>;
  /** Flushes and releases connections. */
  close?(): Promise<void>;
}

/** The host application's friend graph. */
export interface FriendGraph {
  /** The user's friends' ids. The server drops duplicates and the user's own id, and keeps at most `maxFriends`. */
  getFriends(userId: string): Promise<readonly string[]>;
}

export type { Discovery, DiscoveryNode } from '../sharding/discovery.js';
