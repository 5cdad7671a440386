import { distanceKm, type LatLon, type ServerFrame } from '@nearby/protocol';
import { RawPeer } from '../helpers/raw-peer.js';
import type { ClusterEnv } from './cluster.js';

/**
 * A crowd of protocol peers for scale-out tests. Every user sends one sample per tick whose
 * longitude carries a sequence number (1e-6° per step, about 9 cm), so a viewer can tell
 * exactly which of a friend's updates reached it, and a lost update is counted, not guessed.
 */

const STEP_DEG = 1e-6;

/** One update a user sent: its sequence number, when, and through which process. */
interface Sent {
  seq: number;
  at: number;
  serverIndex: number;
}

/** A time a user was connected to one process: from its snapshot until its socket closed. */
interface Session {
  serverIndex: number;
  from: number;
  to: number;
}

/** A delivery is owed only if the viewer stayed connected this long after the update was sent. */
const DELIVERY_GRACE_MS = 500;

export class CrowdUser {
  readonly id: string;
  readonly home: LatLon;
  readonly friends: readonly string[];
  peer: RawPeer | undefined;
  serverIndex = -1;
  seq = 0;
  /** Every update sent, in order. */
  readonly sent: Sent[] = [];
  /** What this user sees: friend → position, from snapshots, updates and departures. */
  readonly view = new Map<string, LatLon>();
  /** Sequence numbers received per friend. */
  readonly received = new Map<string, Set<number>>();
  /** friend_left frames received, with their reason. */
  readonly departures: Array<{ userId: string; reason: string }> = [];
  /** Times this user was told to reconnect by a draining server. */
  reconnects = 0;
  readonly sessions: Session[] = [];
  #frameIndex = 0;
  #crowd: Crowd;

  constructor(crowd: Crowd, id: string, home: LatLon, friends: readonly string[]) {
    this.#crowd = crowd;
    this.id = id;
    this.home = home;
    this.friends = friends;
  }

  get position(): LatLon {
    return { lat: this.home.lat, lon: this.home.lon + this.seq * STEP_DEG };
  }

  get connected(): boolean {
    return this.peer !== undefined && this.peer.socket.readyState === this.peer.socket.OPEN;
  }

  /** Connects to server `serverIndex` and sends init with the current position. */
  async connect(serverIndex: number): Promise<void> {
    const peer = await RawPeer.connect(this.#crowd.cluster.urlFor(this.id, serverIndex));
    this.peer = peer;
    this.serverIndex = serverIndex;
    this.#frameIndex = 0;
    const position = this.position;
    await peer.init({ location: { ...position, timestamp: Date.now() }, radiusKm: this.#crowd.radiusKm });
    const session: Session = { serverIndex, from: Date.now(), to: Number.POSITIVE_INFINITY };
    this.sessions.push(session);
    void peer.closed.then(() => {
      session.to = Math.min(session.to, Date.now());
    });
    this.absorb();
  }

  /** Sends the next update (a step east), unless the user is between connections. */
  step(): void {
    if (!this.connected || this.#crowd.reconnecting.has(this)) return;
    this.seq++;
    const { lat, lon } = this.position;
    this.sent.push({ seq: this.seq, at: Date.now(), serverIndex: this.serverIndex });
    this.peer!.send({ type: 'location', seq: this.seq % 1_000_000, samples: [{ lat, lon, timestamp: Date.now() }] });
  }

  /** Applies frames received since the last call to the view; answers a drain by reconnecting elsewhere. */
  absorb(): void {
    const peer = this.peer;
    if (peer === undefined) return;
    for (; this.#frameIndex < peer.frames.length; this.#frameIndex++) this.#apply(peer.frames[this.#frameIndex]!);
  }

  #apply(frame: ServerFrame): void {
    switch (frame.type) {
      case 'snapshot':
        this.view.clear();
        for (const friend of frame.friends) this.#see(friend.userId, friend);
        return;
      case 'friend_update':
        for (const friend of frame.friends) this.#see(friend.userId, friend);
        return;
      case 'friend_left':
        this.view.delete(frame.userId);
        this.departures.push({ userId: frame.userId, reason: frame.reason });
        return;
      case 'reconnect': {
        this.reconnects++;
        const session = this.sessions.at(-1);
        if (session !== undefined) session.to = Math.min(session.to, Date.now());
        this.#crowd.moveElsewhere(this);
        return;
      }
      default:
        return;
    }
  }

  /** The session during which this user could receive an update sent at `at`, if any. */
  sessionCovering(at: number): Session | undefined {
    return this.sessions.find((s) => s.from <= at && s.to >= at + DELIVERY_GRACE_MS);
  }

  #see(friendId: string, position: LatLon): void {
    this.view.set(friendId, { lat: position.lat, lon: position.lon });
    const friend = this.#crowd.user(friendId);
    const seq = Math.round((position.lon - friend.home.lon) / STEP_DEG);
    let seen = this.received.get(friendId);
    if (seen === undefined) this.received.set(friendId, (seen = new Set()));
    seen.add(seq);
  }
}

export interface CrowdOptions {
  cluster: ClusterEnv;
  radiusKm: number;
  /** Users and their homes and friends. */
  users: ReadonlyArray<{ id: string; home: LatLon; friends: readonly string[] }>;
}

/** Outcome of {@link Crowd.lossSince}: deliveries owed between two marks, and what never arrived. */
export interface LossReport {
  /** Updates sent in the interval. */
  sent: number;
  /** Deliveries owed: (update, in-range friend connected to another process throughout) pairs. */
  expected: number;
  lost: number;
  /** From the first to the last lost update's send time, in ms; 0 without losses. */
  windowMs: number;
}

export class Crowd {
  readonly cluster: ClusterEnv;
  readonly radiusKm: number;
  readonly users: CrowdUser[];
  /** Users reconnecting after a drain notice; they do not send meanwhile. */
  readonly reconnecting = new Set<CrowdUser>();
  /** Servers that must not receive new connections (draining). */
  readonly avoid = new Set<number>();
  readonly #byId = new Map<string, CrowdUser>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #reconnects: Promise<void>[] = [];
  #rotation = 0;

  constructor(options: CrowdOptions) {
    this.cluster = options.cluster;
    this.radiusKm = options.radiusKm;
    this.users = options.users.map((u) => new CrowdUser(this, u.id, u.home, u.friends));
    for (const user of this.users) this.#byId.set(user.id, user);
  }

  user(id: string): CrowdUser {
    const found = this.#byId.get(id);
    if (found === undefined) throw new Error(`no crowd user ${id}`);
    return found;
  }

  /** Connects every user to the process its id hashes to. */
  async connectAll(): Promise<void> {
    for (const user of this.users) await user.connect(this.cluster.serverIndexOf(user.id));
  }

  /** Every user sends one update every `everyMs`. */
  start(everyMs: number): void {
    this.stop();
    this.#timer = setInterval(() => {
      for (const user of this.users) {
        user.absorb();
        user.step();
      }
    }, everyMs);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** A drained user reconnects to the next process in rotation that is not being avoided. */
  moveElsewhere(user: CrowdUser): void {
    if (this.reconnecting.has(user)) return;
    this.reconnecting.add(user);
    const targets = Array.from({ length: this.cluster.size }, (_, i) => i).filter((i) => !this.avoid.has(i));
    const target = targets[this.#rotation++ % targets.length]!;
    const previous = user.peer;
    this.#reconnects.push(
      (async () => {
        await previous?.closed;
        await user.connect(target);
        this.reconnecting.delete(user);
      })(),
    );
  }

  /** Resolves once every reconnection started so far has completed. */
  async reconnected(): Promise<void> {
    while (this.#reconnects.length > 0) {
      const pending = this.#reconnects;
      this.#reconnects = [];
      await Promise.all(pending);
    }
  }

  /** A mark: each user's last sequence number now. */
  mark(): Map<CrowdUser, number> {
    return new Map(this.users.map((user) => [user, user.seq]));
  }

  /** Whether two users are within the radius of each other (both use the same radius). */
  inRange(a: CrowdUser, b: CrowdUser): boolean {
    return distanceKm(a.position, b.position) <= this.radiusKm;
  }

  /**
   * Counts the updates sent between marks `from` and `to` that in-range friends connected to
   * another process at the time never received. Call after the cluster is quiet.
   */
  lossBetween(from: Map<CrowdUser, number>, to: Map<CrowdUser, number>): LossReport {
    let sent = 0;
    let expected = 0;
    let lost = 0;
    let first = Number.POSITIVE_INFINITY;
    let last = Number.NEGATIVE_INFINITY;
    for (const sender of this.users) {
      const updates = sender.sent.filter((s) => s.seq > from.get(sender)! && s.seq <= to.get(sender)!);
      sent += updates.length;
      for (const friendId of sender.friends) {
        const viewer = this.user(friendId);
        if (!this.inRange(sender, viewer)) continue;
        const seen = viewer.received.get(sender.id) ?? new Set<number>();
        for (const update of updates) {
          const session = viewer.sessionCovering(update.at);
          if (session === undefined || session.serverIndex === update.serverIndex) continue;
          expected++;
          if (seen.has(update.seq)) continue;
          lost++;
          first = Math.min(first, update.at);
          last = Math.max(last, update.at);
        }
      }
    }
    return { sent, expected, lost, windowMs: lost === 0 ? 0 : last - first };
  }

  /**
   * Differences between each user's view and the truth: every online, in-range friend at
   * exactly their last sent position, and nobody else. Empty when every list is correct.
   */
  wrongLists(): string[] {
    const problems: string[] = [];
    for (const viewer of this.users) {
      viewer.absorb();
      const expected = new Map<string, LatLon>();
      for (const friendId of viewer.friends) {
        const friend = this.user(friendId);
        if (friend.connected && this.inRange(viewer, friend)) expected.set(friendId, friend.position);
      }
      for (const [friendId, position] of expected) {
        const seen = viewer.view.get(friendId);
        if (seen === undefined) problems.push(`${viewer.id} does not see ${friendId}`);
        else if (seen.lat !== position.lat || seen.lon !== position.lon) {
          problems.push(`${viewer.id} sees ${friendId} at an old position (${seen.lon} instead of ${position.lon})`);
        }
      }
      for (const friendId of viewer.view.keys()) {
        if (!expected.has(friendId)) problems.push(`${viewer.id} sees ${friendId}, who is out of range or offline`);
      }
    }
    return problems;
  }

  async close(): Promise<void> {
    this.stop();
    await Promise.all(this.users.map((user) => user.peer?.close().catch(() => undefined)));
  }
}
