import { createHmac } from 'node:crypto';
import {
  ErrorCode,
  Limits,
  StrangerLeftReason,
  distanceKm,
  type DiscoveryFrame,
  type InitFrame,
} from '@nearby/protocol';
import type { BusMessage } from './bus.js';
import type { EngineConnection, EngineContext } from './context.js';
import type { ResolvedStrangersOptions } from './engine-options.js';
import { encodeDiscoveryState } from './frames.js';
import { blockOf, cellOf, centreOf } from './geocells.js';
import { rankKeyOf, rankOf, type RankKey } from './stranger-rank.js';
import type { LocalUser, Position } from './local-user.js';

/** `updatedAt` of a stranger is the time of their last move rounded down to this. */
const TIME_BUCKET_MS = 30_000;
/** After an outage, how long strangers heard of before it have to be vouched for again. */
const RECOVERY_GRACE_MS = 5_000;
/** At most one `discovery` frame per connection per this long. */
const DISCOVERY_INTERVAL_MS = 1_000;
/**
 * A viewer's own move rebuilds its list once it is this far from where the list was last built
 * (or in another sub-cell): entries are whole km and display-cell centres, so a smaller step
 * would cost a rebuild per sample for nothing a viewer could see.
 */
export const REBUILD_STEP_KM = 0.1;
/** Kilometres per degree of latitude (and of longitude at the equator), on the protocol's sphere. */
const KM_PER_DEGREE_LAT = distanceKm({ lat: 0, lon: 0 }, { lat: 1, lon: 0 });
/** How far a cell centre rounded to 4 decimals may be from the true one: half of 0.0001° on both axes, rounded up. */
const CENTRE_ROUNDING_KM = 0.01;
/** Slack on the flat-earth bound (its error within a block is far below 1 %). */
const ROUGH_MARGIN = 1.05;

type StrangerMessage = Extract<BusMessage, { k: 'sp' | 'sx' | 'sq' }>;
type PositionMessage = Extract<BusMessage, { k: 'sp' }>;
type DiscoveryMessage = Extract<BusMessage, { k: 'ds' }>;
type Opt = 'discoverable' | 'seeStrangers';

/** Gauges of nearby people on one process (all 0 when the server does not offer them). */
export interface StrangerStats {
  /** Cell channels subscribed for local viewers. */
  strangerCells: number;
  /** Strangers heard of on those channels. */
  strangersKnown: number;
  /** Local users who see strangers (opted in, sharing, with a position). */
  strangerViewers: number;
  /** Entries in those viewers' lists, summed. */
  strangersShown: number;
  /** Discoverable local users published on a cell channel. */
  strangersPublished: number;
}

/** What this process publishes for a discoverable user whose samples it receives. */
export interface PublishedStranger {
  /** Channel cell last published on. */
  cell: string;
  /** Display cell last published. */
  displayCell: string;
  /** Server time of the last publish. */
  at: number;
  /** The time published: the last move, rounded down to 30 s. */
  t: number;
  /** Version of the last message (orders a stranger's messages across cells and processes). */
  version: number;
}

/** A stranger this process hears of, on a cell channel some local viewer listens to. */
interface StrangerRecord {
  userId: string;
  /** Channel cell the stranger is in. */
  cell: string;
  displayCell: string;
  /** Centre of the display cell, to 4 decimals. */
  lat: number;
  lon: number;
  halfDiagonalKm: number;
  /** Time of the last move, rounded down to 30 s. */
  t: number;
  version: number;
  /** Server time this process last heard of the stranger (for `inactive`). */
  heardAt: number;
  /** Moved here from another cell; listeners who don't show it yet look at its next position. */
  arrived: boolean;
  /** Local viewers whose list holds the stranger. */
  shownBy: Set<LocalUser>;
}

/** The strangers of one cell who share a display cell, and so are at one distance from any viewer. */
interface Group {
  lat: number;
  lon: number;
  halfDiagonalKm: number;
  readonly records: Set<StrangerRecord>;
}

/**
 * The viewers of one sub-cell of a channel cell (one more geohash character): all listen to the
 * same block. A stranger's news is looked at by a bucket's viewers only when the bucket comes
 * within `reachKm` of it, so a dense area costs one distance per bucket, not per viewer.
 */
interface Bucket {
  readonly key: string;
  readonly lat: number;
  readonly lon: number;
  readonly halfDiagonalKm: number;
  readonly block: readonly string[];
  readonly viewers: Set<LocalUser>;
  /** At least the largest `horizonKm` of its viewers: raised at once, lowered when the viewers are looked at. */
  reachKm: number;
}

/** The host's answers about one (viewer, stranger) pair. */
interface Pair {
  /** `canSee`'s latest answer; undefined until the first one arrived. */
  allowed: boolean | undefined;
  /** Server time until which the answer holds. */
  until: number;
  checking: boolean;
  /** The id the viewer knows the stranger by: the pseudonym, or a real id from `identify`. */
  id: string;
  idJson: string;
  /** JSON text of `identify`'s display value, when it gave a valid one. */
  displayJson: string | undefined;
}

interface Shown {
  record: StrangerRecord;
  pair: Pair;
  /** Order among strangers of one distance band (see stranger-rank.ts). */
  rank: number;
  /** Distance band when last placed in the list: the distance to the display cell's centre rounded up, km (what `distanceKm` says). */
  distance: number;
  /** The entry as it stands now, and as last written to the viewer's devices. */
  entry: string;
  sent: string;
  sentAt: number;
  /** A refresh is scheduled for when `refreshMs` since `sentAt` has passed. */
  refreshing: boolean;
}

/** A viewer's strangers: its 3 × 3 block of cells, its list, and the host's answers. */
export interface StrangerView {
  cell: string;
  block: string[];
  /** Stranger user id → what the viewer's devices were sent. */
  readonly shown: Map<string, Shown>;
  /** Stranger user id → the host's answers about this viewer seeing them. */
  readonly pairs: Map<string, Pair>;
  /** Band of the farthest entry when the list is full, else infinity: a stranger farther cannot enter. */
  horizonKm: number;
  /** The viewers of the viewer's sub-cell. */
  bucket: Bucket;
  /** Where the viewer was when the list was last rebuilt. */
  builtAt: { lat: number; lon: number } | undefined;
  /** The entry a nearer stranger would displace, when known (forgotten on every change of the list). */
  farthest: Shown | undefined;
  readonly rankKey: RankKey;
}

interface Cell {
  /** Local viewers whose block holds the cell (the channel is subscribed while there is one). */
  readonly viewers: Set<LocalUser>;
  /** The strangers heard of in the cell, by display cell. */
  readonly groups: Map<string, Group>;
  /** The buckets of those viewers. */
  readonly buckets: Set<Bucket>;
}

interface Candidate {
  record: StrangerRecord;
  pair: Pair;
  /** Distance band, km. */
  distance: number;
  rank: number;
}

/**
 * Nearby people (protocol.md §20): the opt-ins of local users, what a discoverable user's
 * server publishes on its cell channel (only cells, never a position), and for each local
 * viewer the nearest strangers of its 3 × 3 block of cells, under pseudonyms, after the host's
 * `canSee`. Users who opted into neither cost nothing here.
 */
export class Strangers {
  readonly #ctx: EngineContext;
  readonly #options: ResolvedStrangersOptions;
  readonly #cells = new Map<string, Cell>();
  readonly #records = new Map<string, StrangerRecord>();
  readonly #buckets = new Map<string, Bucket>();
  /** Channel cell → the users this process published there last (to publish again when a server starts listening). */
  readonly #publishers = new Map<string, Set<LocalUser>>();
  /** Centres of display cells seen, computed once each. */
  readonly #centres = new Map<string, ReturnType<typeof centreOf>>();

  constructor(ctx: EngineContext, options: ResolvedStrangersOptions) {
    this.#ctx = ctx;
    this.#options = options;
  }

  /** Gauges of nearby people on this process, counted when asked. */
  stats(): StrangerStats {
    let viewers = 0;
    let shown = 0;
    let published = 0;
    for (const user of this.#ctx.users.values()) {
      if (user.published !== undefined) published++;
      if (user.strangerView === undefined) continue;
      viewers++;
      shown += user.strangerView.shown.size;
    }
    return { strangerCells: this.#cells.size, strangersKnown: this.#records.size, strangerViewers: viewers, strangersShown: shown, strangersPublished: published };
  }

  // ------------------------------------------------------------------ opt-ins

  /** A `discovery` frame of a ready connection. */
  discovery(connection: EngineConnection, user: LocalUser, frame: DiscoveryFrame): void {
    const now = this.#ctx.now();
    if (now - connection.lastDiscoveryAt < DISCOVERY_INTERVAL_MS) {
      connection.sendError(ErrorCode.RATE_LIMITED, 'at most one discovery frame per second', { frameType: 'discovery' });
      connection.queue.control(encodeDiscoveryState(user.discoverable, user.seeStrangers), 'discovery_state');
      return;
    }
    connection.lastDiscoveryAt = now;
    user
      .run(async () => {
        const changed = await this.#change(connection, user, frame, 'discovery');
        if (connection.phase !== 'ready') return;
        // Every device learns of a change; the asking device is answered in any case.
        if (changed) this.#stateToUser(user);
        else connection.queue.control(encodeDiscoveryState(user.discoverable, user.seeStrangers), 'discovery_state');
      })
      .catch((error: unknown) => this.#ctx.report('discovery change failed', error));
  }

  /** The opt-ins of an `init`, applied inside the user's queue before its snapshot. */
  async init(connection: EngineConnection, user: LocalUser, frame: InitFrame): Promise<void> {
    if (frame.discoverable === undefined && frame.seeStrangers === undefined) return;
    const changed = await this.#change(connection, user, frame, 'init');
    // The init's own device is answered after its snapshot; the user's other devices now.
    if (changed) this.#stateToUser(user);
  }

  /** An opt-in change made on another process (`ds` on the user's channel). */
  hear(owner: LocalUser, message: DiscoveryMessage): void {
    owner
      .run(() => {
        if (message.v <= owner.discoveryVersion || owner.removed) return;
        owner.discoveryVersion = message.v;
        const before = { discoverable: owner.discoverable, seeStrangers: owner.seeStrangers };
        owner.discoverable = message.d;
        owner.seeStrangers = message.w;
        if (before.discoverable === message.d && before.seeStrangers === message.w) return;
        this.#effects(owner, before);
        this.#stateToUser(owner);
      })
      .catch((error: unknown) => this.#ctx.report('discovery change failed', error));
  }

  /** Applies the fields of a `discovery` frame or an `init`; resolves to whether a setting changed. */
  async #change(
    connection: EngineConnection,
    user: LocalUser,
    frame: { discoverable?: boolean; seeStrangers?: boolean },
    frameType: 'discovery' | 'init',
  ): Promise<boolean> {
    const before = { discoverable: user.discoverable, seeStrangers: user.seeStrangers };
    for (const opt of ['discoverable', 'seeStrangers'] as const) {
      const wanted = frame[opt];
      if (wanted === undefined || wanted === user[opt]) continue;
      if (wanted && !(await this.#allowed(user.id, opt))) {
        if (user.removed) return false;
        const what = opt === 'discoverable' ? 'being discoverable' : 'seeing nearby people';
        connection.sendError(ErrorCode.NOT_ALLOWED, `${what} is not allowed for this user`, { frameType });
        continue;
      }
      if (user.removed) return false;
      user[opt] = wanted;
    }
    if (before.discoverable === user.discoverable && before.seeStrangers === user.seeStrangers) return false;
    const ctx = this.#ctx;
    user.discoveryVersion = ctx.clock.next(user.discoveryVersion);
    ctx.bus.announce({
      k: 'ds',
      s: ctx.options.serverId,
      u: user.id,
      d: user.discoverable,
      w: user.seeStrangers,
      v: user.discoveryVersion,
    });
    this.#effects(user, before);
    return true;
  }

  /** The host's `allow`; a hook that throws refuses (and is reported). */
  async #allowed(userId: string, opt: Opt): Promise<boolean> {
    const allow = this.#options.allow;
    if (allow === undefined) return true;
    try {
      return (await allow(userId, opt === 'discoverable' ? 'discoverable' : 'see')) === true;
    } catch (error) {
      this.#ctx.report('strangers.allow failed', error);
      return false;
    }
  }

  /** What a change of the opt-ins does here: hide or publish the user, start or stop their view. */
  #effects(user: LocalUser, before: { discoverable: boolean; seeStrangers: boolean }): void {
    if (before.discoverable && !user.discoverable) this.#hide(user, 'hidden');
    if (!before.discoverable && user.discoverable) {
      const position = user.location;
      if (user.sharing && position !== undefined && this.#ctx.now() - position.t < this.#ctx.options.inactiveAfterMs) {
        this.published(user, position, true);
      }
    }
    if (before.seeStrangers && !user.seeStrangers) this.#dropView(user);
    if (!before.seeStrangers && user.seeStrangers && this.#ensureView(user)) this.#recompute(user);
  }

  #stateToUser(user: LocalUser): void {
    this.#ctx.channels.controlToUser(user, encodeDiscoveryState(user.discoverable, user.seeStrangers), 'discovery_state');
  }

  // ------------------------------------------------------------------ the user's own life cycle

  /** The user's sharing changed: off hides them and ends their view; on starts it again. */
  sharingChanged(user: LocalUser): void {
    if (!user.sharing) {
      this.#hide(user, 'hidden');
      this.#dropView(user);
    }
    // Turned on: the snapshot that follows starts the view; the next position publishes.
  }

  /** A friendship of the user began or ended: a friend is never shown as a stranger, and an ex-friend may be. */
  friendsChanged(user: LocalUser): void {
    if (user.strangerView !== undefined) this.#recompute(user);
  }

  /** The user's last connection here closed. */
  removed(user: LocalUser): void {
    this.#hide(user, 'offline');
    this.#dropView(user);
  }

  // ------------------------------------------------------------------ publishing

  /**
   * A new own position of a discoverable user, received here: published on the channel of
   * its cell as its display cell and a time rounded down — never the position itself.
   */
  published(user: LocalUser, position: Position, force = false): void {
    const { precision, displayPrecision, publishIntervalMs } = this.#options;
    const cell = cellOf(position.lat, position.lon, precision);
    const displayCell = cellOf(position.lat, position.lon, displayPrecision);
    const now = this.#ctx.now();
    const last = user.published;
    if (!force && last !== undefined && last.cell === cell && last.displayCell === displayCell && now - last.at < publishIntervalMs) {
      return;
    }
    const ctx = this.#ctx;
    const serverId = ctx.options.serverId;
    let version = ctx.clock.next(last?.version ?? 0);
    if (last !== undefined && last.cell !== cell) {
      this.#send({ k: 'sx', s: serverId, u: user.id, g: last.cell, r: 'moved', n: cell, v: version });
      version = ctx.clock.next(version);
    }
    const t = Math.floor(position.t / TIME_BUCKET_MS) * TIME_BUCKET_MS;
    if (last === undefined || last.cell !== cell) {
      if (last !== undefined) this.#unpublish(last.cell, user);
      let users = this.#publishers.get(cell);
      if (users === undefined) {
        this.#publishers.set(cell, (users = new Set()));
        // Where servers that start listening to the cell ask for its strangers.
        ctx.channels.subscribeRaw(this.#askChannel(cell));
      }
      users.add(user);
    }
    user.published = { cell, displayCell, at: now, t, version };
    this.#send(this.#positionOf(user, user.published));
  }

  #positionOf(user: LocalUser, published: PublishedStranger): PositionMessage {
    const { cell, displayCell, t, version } = published;
    return { k: 'sp', s: this.#ctx.options.serverId, u: user.id, g: cell, c: displayCell, t, v: version };
  }

  #unpublish(cell: string, user: LocalUser): void {
    const users = this.#publishers.get(cell);
    if (users === undefined || !users.delete(user) || users.size > 0) return;
    this.#publishers.delete(cell);
    this.#ctx.channels.unsubscribeRaw(this.#askChannel(cell));
  }

  /** `<channelPrefix>ask:<cell>`: never a cell channel, as geohashes have no `a`. */
  #askChannel(cell: string): string {
    return `${this.#options.channelPrefix}ask:${cell}`;
  }

  /** Another server started listening to cell `g`: publish the users this process shows there again. */
  #answer(message: Extract<StrangerMessage, { k: 'sq' }>): void {
    if (message.s === this.#ctx.options.serverId) return;
    const users = this.#publishers.get(message.g);
    if (users === undefined) return;
    for (const user of users) {
      const published = user.published;
      if (published === undefined || published.cell !== message.g) continue;
      published.version = this.#ctx.clock.next(published.version);
      this.#send(this.#positionOf(user, published));
    }
  }

  /** Removes the user from every viewer's list on every process, if this process published them. */
  #hide(user: LocalUser, reason: 'hidden' | 'offline'): void {
    const last = user.published;
    if (last === undefined) return;
    user.published = undefined;
    this.#unpublish(last.cell, user);
    const ctx = this.#ctx;
    // Kept until a probe confirms it and published again after an outage: a hidden user must not stay visible.
    this.#send({ k: 'sx', s: ctx.options.serverId, u: user.id, g: last.cell, r: reason, v: ctx.clock.next(last.version) }, true);
  }

  /** Applies a message here (the bus skips this process's own echo), then publishes it on its cell's channel. */
  #send(message: StrangerMessage, announce = false): void {
    const channel = this.#options.channelPrefix + message.g;
    this.apply(channel, message);
    if (announce) this.#ctx.bus.announceOn(channel, message);
    else this.#ctx.bus.publishOn(channel, message);
  }

  /**
   * The bus is back after an outage, during which hides and moves may have been lost either
   * way: publish this process's strangers again, ask every listened cell for its strangers, and
   * forget those no server vouched for within {@link RECOVERY_GRACE_MS} (they leave as `inactive`).
   */
  busUp(): void {
    const ctx = this.#ctx;
    const since = ctx.now();
    for (const user of ctx.users.values()) {
      const published = user.published;
      if (published === undefined) continue;
      published.version = ctx.clock.next(published.version);
      this.#send(this.#positionOf(user, published));
    }
    for (const name of this.#cells.keys()) this.#askCell(name);
    ctx.later(RECOVERY_GRACE_MS, () => {
      for (const record of [...this.#records.values()]) {
        if (record.heardAt < since) this.#forget(record, StrangerLeftReason.INACTIVE);
      }
    });
  }

  #askCell(cell: string): void {
    const { serverId } = this.#ctx.options;
    this.#ctx.bus.publishOn(this.#askChannel(cell), { k: 'sq', s: serverId, u: serverId, g: cell });
  }

  // ------------------------------------------------------------------ hearing strangers

  /** A stranger message from a cell channel. */
  apply(channel: string, message: StrangerMessage): void {
    if (message.k === 'sq') {
      if (channel === this.#askChannel(message.g)) this.#answer(message);
      return;
    }
    if (channel !== this.#options.channelPrefix + message.g) return;
    const record = this.#records.get(message.u);
    if (message.k === 'sp') {
      const cell = this.#cells.get(message.g);
      if (cell === undefined) return; // no viewer here listens to that cell
      if (record !== undefined && record.version >= message.v) return;
      // A stranger seen where it was seen before changes no list it is not in: only those showing it look.
      const news = record === undefined || record.arrived || record.cell !== message.g || record.displayCell !== message.c;
      this.#heard(cell, this.#record(cell, record, message), news);
      return;
    }
    if (record === undefined || record.cell !== message.g || record.version >= message.v) return;
    const next = message.r === 'moved' && message.n !== undefined ? this.#cells.get(message.n) : undefined;
    if (next !== undefined) {
      // Into a cell a viewer here listens to: its position there follows on that channel.
      this.#removeRecord(record);
      record.cell = message.n!;
      record.version = message.v;
      record.arrived = true;
      this.#addRecord(next, record);
      for (const viewer of [...record.shownBy]) this.#recompute(viewer);
      return;
    }
    this.#forget(record, message.r === 'moved' ? StrangerLeftReason.OUT_OF_RANGE : message.r);
  }

  /**
   * Updates the lists the stranger's news can change: of the viewers who show the stranger, and,
   * when it is new here or in another display cell (`news`), of those listening to its cell for
   * whom it is near enough to enter — within the radius and, when their list is full, in no
   * farther band than its farthest entry. Buckets of viewers too far for any of them are passed over whole.
   */
  #heard(cell: Cell, record: StrangerRecord, news: boolean): void {
    const now = this.#ctx.now();
    for (const viewer of [...record.shownBy]) this.#moved(viewer, record, now);
    if (!news) return;
    // Degrees of longitude are measured at a latitude a degree farther from the equator than the
    // stranger's (wider than any block), so the flat distance below never exceeds the true one by more than the margin.
    const kmPerDegreeLon = KM_PER_DEGREE_LAT * Math.cos((Math.min(90, Math.abs(record.lat) + 1) * Math.PI) / 180);
    for (const bucket of cell.buckets) {
      // The bucket's centre is rounded to 4 decimals (at most 8 m off): allowed for, so no viewer at the edge is passed over.
      if (distanceKm(bucket, record) - bucket.halfDiagonalKm - CENTRE_ROUNDING_KM > bucket.reachKm) continue;
      let reachKm = 0;
      for (const viewer of bucket.viewers) {
        const view = viewer.strangerView;
        const location = viewer.location;
        if (view === undefined || location === undefined) continue;
        const horizonKm = view.horizonKm;
        if (horizonKm > reachKm) reachKm = horizonKm;
        // A flat-earth bound first (a multiplication or two): most listeners of a crowded cell
        // are too far for this stranger to enter their list, and are passed over without the trigonometry.
        const limitKm = Math.min(horizonKm, viewer.radiusKm + record.halfDiagonalKm) * ROUGH_MARGIN;
        const dLat = (location.lat - record.lat) * KM_PER_DEGREE_LAT;
        let dLonDegrees = Math.abs(location.lon - record.lon);
        if (dLonDegrees > 180) dLonDegrees = 360 - dLonDegrees;
        const dLon = dLonDegrees * kmPerDegreeLon;
        if (dLat * dLat + dLon * dLon > limitKm * limitKm) continue;
        if (record.shownBy.has(viewer) || record.userId === viewer.id || viewer.friends.has(record.userId)) continue;
        const distance = distanceKm(location, record);
        if (distance <= viewer.radiusKm + record.halfDiagonalKm && distance <= horizonKm) this.#enter(viewer, view, record, bandOf(distance), now);
      }
      bucket.reachKm = reachKm;
    }
  }

  /**
   * A stranger the viewer shows moved: its entry follows, unless it left the range, in which
   * case the list is rebuilt (someone else may take its place).
   */
  #moved(viewer: LocalUser, record: StrangerRecord, now: number): void {
    const view = viewer.strangerView;
    const location = viewer.location;
    const shown = view?.shown.get(record.userId);
    if (view === undefined || location === undefined || shown === undefined) return;
    const exact = distanceKm(location, record);
    if (exact > viewer.radiusKm + record.halfDiagonalKm || !view.block.includes(record.cell)) {
      this.#recompute(viewer);
      return;
    }
    const distance = bandOf(exact);
    // In a farther band of a full list: a stranger not shown may now come before it.
    if (distance > shown.distance && view.shown.size >= this.#options.maxPerViewer) {
      this.#recompute(viewer);
      return;
    }
    const pair = this.#pair(viewer, view, record.userId, now);
    if (pair === undefined) return; // kept as it is while the host's answer is renewed
    if (!pair.allowed) {
      this.#recompute(viewer);
      return;
    }
    this.#show(viewer, view, { record, pair, distance, rank: shown.rank }, now);
    this.#updateHorizon(view);
  }

  /** A stranger not in the viewer's list came near enough to enter it: it takes the farthest entry's place when the list is full. */
  #enter(viewer: LocalUser, view: StrangerView, record: StrangerRecord, distance: number, now: number): void {
    const rank = rankOf(view.rankKey, record.userId);
    let farthest: Shown | undefined;
    if (view.shown.size >= this.#options.maxPerViewer) {
      farthest = view.farthest;
      if (farthest === undefined) {
        for (const shown of view.shown.values()) if (farthest === undefined || after(shown, farthest)) farthest = shown;
        view.farthest = farthest;
      }
      if (farthest === undefined || !after(farthest, { distance, rank, record })) return;
    }
    const pair = this.#pair(viewer, view, record.userId, now);
    if (pair === undefined || !pair.allowed) return; // an answer still to come rebuilds the list
    if (farthest !== undefined) this.#leave(viewer, farthest, StrangerLeftReason.DISPLACED);
    this.#show(viewer, view, { record, pair, distance, rank }, now);
    this.#updateHorizon(view);
  }

  #updateHorizon(view: StrangerView): void {
    let farthest = Number.POSITIVE_INFINITY;
    if (view.shown.size >= this.#options.maxPerViewer) {
      farthest = 0;
      for (const shown of view.shown.values()) farthest = Math.max(farthest, shown.distance);
    }
    this.#setHorizon(view, farthest);
  }

  #setHorizon(view: StrangerView, horizonKm: number): void {
    view.horizonKm = horizonKm;
    if (horizonKm > view.bucket.reachKm) view.bucket.reachKm = horizonKm;
  }

  /** Records what a position message says of a stranger; resolves to the record. */
  #record(cell: Cell, known: StrangerRecord | undefined, message: PositionMessage): StrangerRecord {
    let record = known;
    if (record === undefined) {
      record = {
        userId: message.u,
        cell: message.g,
        displayCell: '',
        lat: 0,
        lon: 0,
        halfDiagonalKm: 0,
        t: message.t,
        version: message.v,
        heardAt: 0,
        arrived: false,
        shownBy: new Set(),
      };
      this.#records.set(message.u, record);
    } else if (record.cell !== message.g || record.displayCell !== message.c) {
      this.#removeRecord(record);
    }
    record.cell = message.g;
    if (record.displayCell !== message.c) {
      const centre = this.#centre(message.c);
      record.displayCell = message.c;
      record.lat = centre.lat;
      record.lon = centre.lon;
      record.halfDiagonalKm = centre.halfDiagonalKm;
    }
    record.t = message.t;
    record.version = message.v;
    record.heardAt = this.#ctx.now();
    record.arrived = false;
    this.#addRecord(cell, record);
    return record;
  }

  #addRecord(cell: Cell, record: StrangerRecord): void {
    let group = cell.groups.get(record.displayCell);
    if (group === undefined) {
      const centre = this.#centre(record.displayCell);
      group = { lat: centre.lat, lon: centre.lon, halfDiagonalKm: centre.halfDiagonalKm, records: new Set() };
      cell.groups.set(record.displayCell, group);
    }
    group.records.add(record);
  }

  /** Out of the group of its cell and display cell, if it is there. */
  #removeRecord(record: StrangerRecord): void {
    const groups = this.#cells.get(record.cell)?.groups;
    const group = groups?.get(record.displayCell);
    if (group === undefined || !group.records.delete(record) || group.records.size > 0) return;
    groups!.delete(record.displayCell);
  }

  #centre(displayCell: string): ReturnType<typeof centreOf> {
    let centre = this.#centres.get(displayCell);
    if (centre === undefined) {
      centre = centreOf(displayCell);
      // Bounded: display cells of the strangers around this process's viewers.
      if (this.#centres.size >= 100_000) this.#centres.clear();
      this.#centres.set(displayCell, centre);
    }
    return centre;
  }

  /** The stranger is gone from this process: out of every list here with `reason`, the lists refilled. */
  #forget(record: StrangerRecord, reason: StrangerLeftReason): void {
    this.#records.delete(record.userId);
    this.#removeRecord(record);
    const viewers = [...record.shownBy];
    for (const viewer of viewers) {
      const shown = viewer.strangerView?.shown.get(record.userId);
      if (shown !== undefined) this.#leave(viewer, shown, reason);
    }
    for (const viewer of viewers) this.#recompute(viewer);
  }

  /** Strangers not heard of for `inactiveAfterMs` leave; stale answers of the host are forgotten. */
  sweep(now: number): void {
    const { inactiveAfterMs } = this.#ctx.options;
    for (const record of [...this.#records.values()]) {
      if (now - record.heardAt >= inactiveAfterMs) this.#forget(record, StrangerLeftReason.INACTIVE);
    }
    for (const user of this.#ctx.users.values()) {
      const view = user.strangerView;
      if (view === undefined) continue;
      for (const [strangerId, pair] of view.pairs) {
        if (!pair.checking && now >= pair.until && !view.shown.has(strangerId)) view.pairs.delete(strangerId);
      }
    }
  }

  // ------------------------------------------------------------------ viewers

  /** The viewer moved (own sample, or a position of theirs heard from another process). */
  viewerMoved(user: LocalUser): void {
    const before = user.strangerView?.bucket;
    if (!this.#ensureView(user)) return;
    const view = user.strangerView!;
    const location = user.location!;
    if (view.bucket === before && view.builtAt !== undefined && distanceKm(view.builtAt, location) < REBUILD_STEP_KM) return;
    this.#recompute(user);
  }

  /** A snapshot emptied the user's strangers list on every device: send the list afresh. */
  afterSnapshot(user: LocalUser): void {
    const view = user.strangerView;
    if (view !== undefined) {
      for (const shown of view.shown.values()) shown.record.shownBy.delete(user);
      view.shown.clear();
      view.farthest = undefined;
    }
    if (this.#ensureView(user)) this.#recompute(user);
    else this.#dropView(user);
  }

  /** Starts or moves the user's view; false while the user cannot see strangers (off, not sharing, no position). */
  #ensureView(user: LocalUser): boolean {
    const location = user.location;
    if (!user.seeStrangers || !user.sharing || user.removed || location === undefined) return false;
    const { precision } = this.#options;
    const key = cellOf(location.lat, location.lon, precision + 1);
    const cell = key.slice(0, precision);
    const view = user.strangerView;
    if (view === undefined) {
      const block = blockOf(cell);
      for (const name of block) this.#listen(name, user);
      const bucket = this.#join(key, block, user);
      user.strangerView = {
        cell,
        block,
        shown: new Map(),
        pairs: new Map(),
        horizonKm: Number.POSITIVE_INFINITY,
        bucket,
        builtAt: undefined,
        farthest: undefined,
        rankKey: rankKeyOf(this.#options.secret, user.id),
      };
      bucket.reachKm = Number.POSITIVE_INFINITY;
      return true;
    }
    if (view.bucket.key === key) return true;
    if (view.cell === cell) {
      this.#leaveBucket(view.bucket, user);
      view.bucket = this.#join(key, view.block, user);
      this.#setHorizon(view, view.horizonKm);
      return true;
    }
    // Subscribe the new cells first, then leave the old ones.
    const block = blockOf(cell);
    for (const name of block) this.#listen(name, user);
    this.#leaveBucket(view.bucket, user);
    view.bucket = this.#join(key, block, user);
    this.#setHorizon(view, view.horizonKm);
    for (const name of view.block) if (!block.includes(name)) this.#unlisten(name, user);
    view.cell = cell;
    view.block = block;
    return true;
  }

  /** Puts the viewer in the bucket of sub-cell `key`, made and added to the cells of `block` when new. */
  #join(key: string, block: readonly string[], viewer: LocalUser): Bucket {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      const centre = centreOf(key);
      bucket = { key, lat: centre.lat, lon: centre.lon, halfDiagonalKm: centre.halfDiagonalKm, block, viewers: new Set(), reachKm: 0 };
      this.#buckets.set(key, bucket);
      for (const name of block) this.#cells.get(name)?.buckets.add(bucket);
    }
    bucket.viewers.add(viewer);
    return bucket;
  }

  #leaveBucket(bucket: Bucket, viewer: LocalUser): void {
    if (!bucket.viewers.delete(viewer) || bucket.viewers.size > 0) return;
    this.#buckets.delete(bucket.key);
    for (const name of bucket.block) this.#cells.get(name)?.buckets.delete(bucket);
  }

  /** Ends the user's view: no more stranger frames (the client empties its list itself). */
  #dropView(user: LocalUser): void {
    const view = user.strangerView;
    if (view === undefined) return;
    user.strangerView = undefined;
    for (const shown of view.shown.values()) shown.record.shownBy.delete(user);
    view.shown.clear();
    this.#leaveBucket(view.bucket, user);
    for (const name of view.block) this.#unlisten(name, user);
    for (const connection of user.connections) connection.queue.clearStrangers();
  }

  /** Reference-counted: a cell channel is subscribed while a local viewer's block holds it. */
  #listen(name: string, viewer: LocalUser): void {
    let cell = this.#cells.get(name);
    if (cell === undefined) {
      const created: Cell = { viewers: new Set(), groups: new Map(), buckets: new Set() };
      cell = created;
      this.#cells.set(name, created);
      const { channels } = this.#ctx;
      channels.subscribeRaw(this.#options.channelPrefix + name);
      // Strangers this process publishes there are known at once; the other servers are asked
      // to publish theirs again once the subscription is in place (the caller rebuilds the list).
      for (const user of this.#publishers.get(name) ?? []) {
        const published = user.published;
        if (published !== undefined) this.#record(created, this.#records.get(user.id), this.#positionOf(user, published));
      }
      void channels.settled().then(() => {
        if (this.#cells.get(name) === created) this.#askCell(name);
      });
    }
    cell.viewers.add(viewer);
  }

  #unlisten(name: string, viewer: LocalUser): void {
    const cell = this.#cells.get(name);
    if (cell === undefined || !cell.viewers.delete(viewer) || cell.viewers.size > 0) return;
    this.#cells.delete(name);
    // Nobody here hears of them any longer.
    for (const group of cell.groups.values()) {
      for (const record of group.records) if (this.#records.get(record.userId) === record) this.#records.delete(record.userId);
    }
    this.#ctx.channels.unsubscribeRaw(this.#options.channelPrefix + name);
  }

  /**
   * Rebuilds one viewer's list: the strangers of its block that the host lets it see, that are
   * not itself nor its friends, whose display cell's centre is within the radius plus half the
   * cell's diagonal; the nearest `maxPerViewer` of them, ties by rank. Sends what changed.
   */
  #recompute(viewer: LocalUser): void {
    const view = viewer.strangerView;
    const location = viewer.location;
    if (view === undefined || location === undefined) return;
    const now = this.#ctx.now();
    view.builtAt = { lat: location.lat, lon: location.lon };
    // In range first, one distance per display cell (its strangers share it): the host's answers
    // and the pseudonyms (an HMAC each) are only needed for the nearest.
    const inRange: Array<{ group: Group; distance: number }> = [];
    const groupsInRange = new Set<Group>();
    for (const name of view.block) {
      const cell = this.#cells.get(name);
      if (cell === undefined) continue;
      for (const group of cell.groups.values()) {
        const exact = distanceKm(location, group);
        if (exact > viewer.radiusKm + group.halfDiagonalKm) continue;
        inRange.push({ group, distance: bandOf(exact) });
        groupsInRange.add(group);
      }
    }
    inRange.sort((a, b) => a.distance - b.distance);
    const isCandidate = (record: StrangerRecord): boolean => record.userId !== viewer.id && !viewer.friends.has(record.userId);
    const stillInRange = (record: StrangerRecord): boolean => {
      const group = this.#cells.get(record.cell)?.groups.get(record.displayCell);
      return group !== undefined && groupsInRange.has(group) && group.records.has(record) && isCandidate(record);
    };
    /** Shown strangers still in range whose host answer is being renewed: kept as they are meanwhile, not updated. */
    const held = new Set<string>();
    for (const [strangerId, shown] of view.shown) {
      if (!stillInRange(shown.record)) continue;
      const pair = view.pairs.get(strangerId);
      if (pair !== undefined && (pair.allowed === undefined || now >= pair.until) && this.#pair(viewer, view, strangerId, now) === undefined) held.add(strangerId);
    }
    const room = Math.max(0, this.#options.maxPerViewer - held.size);
    const chosen: Candidate[] = [];
    // Answers still being asked for: the walk stops once they and the chosen could fill the list
    // (each answer rebuilds it), so the host is asked about the nearest, not about everyone.
    let asking = 0;
    const open = this.#options.canSee === undefined && this.#options.identify === undefined;
    // Walk outwards a band at a time (display cells of one band together), ties by the viewer's
    // rank of each stranger, until the list is full.
    for (let i = 0; i < inRange.length && chosen.length + asking < room; ) {
      let j = i + 1;
      while (j < inRange.length && inRange[j]!.distance === inRange[i]!.distance) j++;
      // The best `need` of the band, kept sorted as they come: a crowded band costs a rank per
      // stranger and a comparison with the worst kept, not a sort of everyone in it.
      const need = room - chosen.length;
      const best: Array<{ record: StrangerRecord; distance: number; rank: number; pair: Pair | undefined }> = [];
      for (let k = i; k < j; k++) {
        const { group, distance } = inRange[k]!;
        for (const record of group.records) {
          if (held.has(record.userId) || !isCandidate(record)) continue;
          const rank = rankOf(view.rankKey, record.userId);
          let pair: Pair | undefined;
          // Without host hooks every stranger is allowed: a pair (and its pseudonym) is made only
          // for those chosen.
          if (!open || view.pairs.has(record.userId)) {
            pair = this.#pair(viewer, view, record.userId, now);
            if (pair === undefined) asking++;
            if (pair === undefined || !pair.allowed) continue;
          }
          const candidate = { record, distance, rank, pair };
          if (best.length >= need && !after(best[best.length - 1]!, candidate)) continue;
          let at = best.length;
          while (at > 0 && after(best[at - 1]!, candidate)) at--;
          best.splice(at, 0, candidate);
          if (best.length > need) best.pop();
        }
      }
      for (const { record, distance, rank, pair } of best) {
        chosen.push({ record, distance, rank, pair: pair ?? this.#pair(viewer, view, record.userId, now)! });
      }
      i = j;
    }
    // The farthest distance a stranger may have and still enter the full list (see #heard).
    this.#setHorizon(view, chosen.length < room ? Number.POSITIVE_INFINITY : chosen[chosen.length - 1]!.distance);
    const keep = new Set<string>(held);
    for (const candidate of chosen) keep.add(candidate.record.userId);
    for (const [strangerId, shown] of [...view.shown]) {
      if (keep.has(strangerId)) continue;
      let reason: StrangerLeftReason;
      if (viewer.friends.has(strangerId) || view.pairs.get(strangerId)?.allowed === false) reason = StrangerLeftReason.NOT_ALLOWED;
      else if (stillInRange(shown.record)) reason = StrangerLeftReason.DISPLACED;
      else reason = StrangerLeftReason.OUT_OF_RANGE;
      this.#leave(viewer, shown, reason);
    }
    for (const candidate of chosen) this.#show(viewer, view, candidate, now);
  }

  /** The host's answers for the pair, or undefined while they are being asked (nothing is sent meanwhile). */
  #pair(viewer: LocalUser, view: StrangerView, strangerId: string, now: number): Pair | undefined {
    let pair = view.pairs.get(strangerId);
    if (pair !== undefined && pair.allowed !== undefined && now < pair.until) return pair;
    const { canSee, identify, canSeeCacheMs } = this.#options;
    if (pair === undefined) {
      const id = this.pseudonym(viewer.id, strangerId);
      pair = { allowed: undefined, until: 0, checking: false, id, idJson: JSON.stringify(id), displayJson: undefined };
      view.pairs.set(strangerId, pair);
    }
    if (canSee === undefined && identify === undefined) {
      pair.allowed = true;
      pair.until = now + canSeeCacheMs; // only so that the sweep forgets pairs no longer around
      return pair;
    }
    if (!pair.checking) this.#ask(viewer, view, strangerId, pair, canSeeCacheMs);
    return undefined;
  }

  /** Asks `canSee`, then `identify`, and rebuilds the viewer's list with the answers. */
  #ask(viewer: LocalUser, view: StrangerView, strangerId: string, pair: Pair, cacheMs: number): void {
    const { canSee, identify } = this.#options;
    pair.checking = true;
    const settle = (allowed: boolean): void => {
      pair.checking = false;
      pair.allowed = allowed;
      pair.until = this.#ctx.now() + cacheMs;
      if (viewer.strangerView === view) this.#recompute(viewer);
    };
    void (async () => {
      const allowed = canSee === undefined ? true : (await canSee(viewer.id, strangerId)) === true;
      if (allowed && identify !== undefined) this.#identified(pair, strangerId, await identify(viewer.id, strangerId));
      return allowed;
    })().then(settle, (error: unknown) => {
      // Fail closed: a stranger the host could not vouch for is not shown.
      this.#ctx.report('strangers.canSee or strangers.identify failed', error);
      settle(false);
    });
  }

  /** Takes a valid id (only before the pair was first shown: an id never changes under a viewer) and display value. */
  #identified(pair: Pair, strangerId: string, identity: unknown): void {
    if (identity === undefined || identity === null) return;
    if (typeof identity !== 'object') {
      this.#ctx.report('strangers.identify', new TypeError(`identify returned ${typeof identity} for ${strangerId}; expected an object`));
      return;
    }
    const { id, display } = identity as { id?: unknown; display?: unknown };
    if (id !== undefined && pair.allowed === undefined) {
      if (typeof id === 'string' && id.length > 0 && id.length <= Limits.MAX_STRANGER_ID_LENGTH) {
        pair.id = id;
        pair.idJson = JSON.stringify(id);
      } else {
        this.#ctx.report('strangers.identify', new TypeError(`identify returned an id that is not a string of 1 to 64 characters; the pseudonym is used`));
      }
    }
    pair.displayJson = undefined;
    if (display === undefined) return;
    let json: string | undefined;
    try {
      json = JSON.stringify(display);
    } catch {
      json = undefined;
    }
    if (json === undefined || Buffer.byteLength(json, 'utf8') > Limits.MAX_STRANGER_DISPLAY_BYTES) {
      this.#ctx.report(
        'strangers.identify',
        new TypeError(`identify returned a display value that is not JSON of at most ${Limits.MAX_STRANGER_DISPLAY_BYTES} bytes; it is not sent`),
      );
      return;
    }
    pair.displayJson = json;
  }

  /** The id `viewerId` knows `strangerId` by: HMAC-SHA256 under the secret, base64url, 16 characters. */
  pseudonym(viewerId: string, strangerId: string): string {
    return createHmac('sha256', this.#options.secret).update(`${viewerId}\u0000${strangerId}`).digest('base64url').slice(0, 16);
  }

  /** Queues a candidate's entry: at once when new, otherwise when changed and at most once per `refreshMs`. */
  #show(viewer: LocalUser, view: StrangerView, candidate: Candidate, now: number): void {
    const { record, pair, rank } = candidate;
    const entry =
      `{"id":${pair.idJson},"lat":${record.lat},"lon":${record.lon},"distanceKm":${candidate.distance},` +
      `"updatedAt":${record.t}${pair.displayJson === undefined ? '' : `,"display":${pair.displayJson}`}}`;
    let shown = view.shown.get(record.userId);
    if (shown === undefined || shown.distance !== candidate.distance) view.farthest = undefined;
    if (shown === undefined) {
      shown = { record, pair, rank, distance: candidate.distance, entry, sent: entry, sentAt: now, refreshing: false };
      view.shown.set(record.userId, shown);
      record.shownBy.add(viewer);
      this.#write(viewer, pair.id, entry);
      return;
    }
    shown.entry = entry;
    shown.distance = candidate.distance;
    if (shown.record !== record) {
      shown.record.shownBy.delete(viewer);
      shown.record = record;
      record.shownBy.add(viewer);
    }
    if (entry === shown.sent || shown.refreshing) return;
    const { refreshMs } = this.#options;
    if (now - shown.sentAt >= refreshMs) {
      this.#resend(viewer, shown, now);
      return;
    }
    shown.refreshing = true;
    const pending = shown;
    this.#ctx.later(shown.sentAt + refreshMs - now, () => {
      pending.refreshing = false;
      // Still in the list, with a change not yet sent: the latest entry goes now.
      if (viewer.strangerView?.shown.get(record.userId) === pending && pending.entry !== pending.sent) {
        this.#resend(viewer, pending, this.#ctx.now());
      }
    });
  }

  #resend(viewer: LocalUser, shown: Shown, now: number): void {
    shown.sent = shown.entry;
    shown.sentAt = now;
    this.#write(viewer, shown.pair.id, shown.entry);
  }

  #write(viewer: LocalUser, id: string, entry: string): void {
    for (const connection of viewer.connections) {
      if (connection.phase === 'ready') connection.queue.updateStranger(id, entry);
    }
  }

  #leave(viewer: LocalUser, shown: Shown, reason: StrangerLeftReason): void {
    const view = viewer.strangerView;
    if (view === undefined) return;
    view.shown.delete(shown.record.userId);
    view.farthest = undefined;
    shown.record.shownBy.delete(viewer);
    for (const connection of viewer.connections) {
      if (connection.phase === 'ready') connection.queue.strangerLeft(shown.pair.id, shown.pair.idJson, reason);
    }
  }
}

/**
 * A `discovery` frame (or an `init` asking for an opt-in) on a server without nearby people:
 * a request to turn either on is refused, and both stay off.
 */
export function refuseDiscovery(connection: EngineConnection, frame: { discoverable?: boolean; seeStrangers?: boolean }, frameType: 'discovery' | 'init'): void {
  if (frame.discoverable === true || frame.seeStrangers === true) {
    connection.sendError(ErrorCode.NOT_ALLOWED, 'this server does not offer nearby people', { frameType });
  }
  if (frameType === 'discovery') connection.queue.control(encodeDiscoveryState(false, false), 'discovery_state');
}

/**
 * The order of a viewer's list is by distance band — the whole km the viewer is shown, rounded
 * up — then by the viewer's rank of the stranger: small moves of the viewer near a cell's edge
 * do not swap whole lists between two display cells a few metres apart in distance.
 */
function bandOf(distanceKm: number): number {
  return Math.ceil(distanceKm);
}

/** Whether `a` comes after `b` in a viewer's list: in a farther band, or in the same one and of a higher rank (then by user id). */
function after(a: { distance: number; rank: number; record: StrangerRecord }, b: { distance: number; rank: number; record: StrangerRecord }): boolean {
  if (a.distance !== b.distance) return a.distance > b.distance;
  if (a.rank !== b.rank) return a.rank > b.rank;
  return a.record.userId > b.record.userId;
}
