/**
 * A load generator of the realtime benchmark (one of several child processes). It plays the
 * users whose index ≡ slot (mod slots): one connection each, speaking the contender's protocol
 * with raw `ws` (Nearby, the ideal server, ws-ceiling) or `socket.io-client` (Socket.IO); no zod, no NearbyClient,
 * few allocations per message.
 *
 * Per step, every user sends its location once per period at its own phase (open loop: on
 * schedule whatever the answers do). The send time rides in the latitude (stamp.ts), so each
 * receiver measures the end-to-end latency of every friend update it gets, and classifies it:
 *
 * - a **delivery**: a new position of an online friend, within the radius of the receiver. For
 *   Nearby the server decides (and every entry is checked against the receiver's recent true
 *   positions: the 8 km filter must hold; the ideal server likewise); for Socket.IO and ws-ceiling, which send every friend
 *   update, the client discards friends beyond the radius as an application would.
 * - Nearby also sends entries that are not a friend's new update: the same position again with a
 *   new distance when the viewer moved (`repeatedEntries`), and a friend's last position when the
 *   viewer moved into its range (`viewerMoveEntries`); they are counted, not timed.
 *
 * Deliveries of updates sent inside the measured window are timed (exact samples); every
 * second a progress message with a histogram goes to the parent.
 */
import WebSocket from 'ws';
import { io as connectSocketIo, type Socket as SocketIoSocket } from 'socket.io-client';
import { exitWithParent, toParent } from '../common/child.js';
import { wallNow } from '../common/clock.js';
import { Histogram } from '../common/histogram.js';
import { distanceKm, withinRadius } from './geo.js';
import { filtersOnServer, isNearby, seesStrangers, type Contender, type GeneratorReply, type GeneratorRequest, type GeneratorResult, type GeneratorSetup, type StepConfig } from './ipc.js';
import { hash32, randomStream, Stream } from './random.js';
import { Scenario, type Walker } from './scenario.js';
import { sentAtOf, stampLatitude } from './stamp.js';

/** Own positions remembered per user, to know where the receiver was when a friend's update was sent. */
const RING = 8;
/** A position counts as within the radius up to this far beyond it (stamping moves points ≤ 1.1 m; the server rounds to the metre). */
const TOLERANCE_KM = 0.005;
/** The receiver's positions of this long before a friend's send still count for the filter check (frames in flight). */
const FILTER_SLACK_MS = 1_000;
const CONNECT_TIMEOUT_MS = 30_000;
const MAX_DELIVERY_SAMPLES = 400;

class GrowableF64 {
  #data = new Float64Array(4096);
  length = 0;

  push4(a: number, b: number, c: number, d: number): void {
    if (this.length + 4 > this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    const data = this.#data;
    data[this.length] = a;
    data[this.length + 1] = b;
    data[this.length + 2] = c;
    data[this.length + 3] = d;
    this.length += 4;
  }

  push(value: number): void {
    if (this.length + 1 > this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[this.length++] = value;
  }

  take(): Float64Array {
    const out = this.#data.slice(0, this.length);
    this.length = 0;
    return out;
  }
}

class SimUser {
  readonly index: number;
  readonly id: string;
  readonly walker: Walker;
  readonly phase: number;
  /** Current position as last sent (stamped latitude). */
  lat = 0;
  lon = 0;
  /** Ring of own positions: times, lats, lons; `ringCount` entries, newest at `ringHead`. */
  readonly ringT = new Float64Array(RING);
  readonly ringLat = new Float64Array(RING);
  readonly ringLon = new Float64Array(RING);
  ringHead = -1;
  ringCount = 0;
  /** Friend index → send time of the newest position received from them. */
  readonly lastStamp = new Map<number, number>();
  /** Nearby: seq → whether that location frame was sent inside the window. */
  readonly pending = new Map<number, boolean>();
  seq = 0;
  ws: WebSocket | undefined;
  io: SocketIoSocket | undefined;
  open = false;

  constructor(scenario: Scenario, index: number) {
    this.index = index;
    this.id = Scenario.userId(index);
    this.walker = scenario.walker(index);
    this.phase = scenario.phase(index);
  }

  remember(time: number, lat: number, lon: number): void {
    this.ringHead = (this.ringHead + 1) % RING;
    this.ringT[this.ringHead] = time;
    this.ringLat[this.ringHead] = lat;
    this.ringLon[this.ringHead] = lon;
    if (this.ringCount < RING) this.ringCount++;
    this.lat = lat;
    this.lon = lon;
  }

  /** Ring slot of the position this user had at `time` (the oldest known when older). */
  slotAt(time: number): number {
    let slot = this.ringHead;
    for (let i = 0; i < this.ringCount; i++) {
      if (this.ringT[slot]! <= time) return slot;
      if (i < this.ringCount - 1) slot = (slot - 1 + RING) % RING;
    }
    return slot;
  }
}

interface Counters {
  sent: number;
  deliveries: number;
  frames: number;
}

class Generator {
  readonly #setup: GeneratorSetup;
  readonly #scenario: Scenario;
  readonly #contender: Contender;
  readonly #radiusKm: number;
  readonly #users: SimUser[] = [];
  /** Online user index → SimUser, for the users of this generator. */
  readonly #byIndex = new Map<number, SimUser>();
  #step: StepConfig | undefined;
  // Per step.
  #latencies = new GrowableF64();
  #sendLog = new GrowableF64();
  readonly #samples = new Float64Array(MAX_DELIVERY_SAMPLES * 4);
  #samplesSeen = 0;
  readonly #sampleRandom: () => number;
  #second: Counters = { sent: 0, deliveries: 0, frames: 0 };
  readonly #secondHistogram = new Histogram();
  #r = this.#emptyResult();
  #lags: number[] = [];
  #stepActive = false;
  #slowestFloor = 0;

  constructor(setup: GeneratorSetup) {
    this.#setup = setup;
    this.#scenario = new Scenario(setup.scenario);
    this.#contender = setup.contender;
    this.#radiusKm = setup.scenario.radiusKm;
    this.#sampleRandom = randomStream(hash32(setup.scenario.seed, Stream.sample, setup.slot));
    for (let index = setup.slot; index < setup.scenario.users; index += setup.slots) {
      const user = new SimUser(this.#scenario, index);
      this.#users.push(user);
      this.#byIndex.set(index, user);
    }
  }

  #emptyResult(): Omit<GeneratorResult, 'latencies' | 'sendLog' | 'deliverySamples' | 'sendLagP99Ms' | 'sendLagMaxMs' | 'cpuUs'> {
    return {
      step: -1,
      users: this.#users?.length ?? 0,
      sentInWindow: 0,
      sentTotal: 0,
      framesInWindow: 0,
      entriesInWindow: 0,
      filteredOutInWindow: 0,
      repeatedEntries: 0,
      viewerMoveEntries: 0,
      outOfOrder: 0,
      strangers: 0,
      friendLeft: 0,
      strangerEntriesInWindow: 0,
      strangerLeft: 0,
      strangerPrivacyViolations: 0,
      strangerPrivacyExamples: [],
      filterChecked: 0,
      filterViolations: 0,
      violationExamples: [],
      ackExpected: 0,
      unanswered: 0,
      errors: {},
      disconnects: 0,
      slowest: [],
    };
  }

  #error(code: string): void {
    this.#r.errors[code] = (this.#r.errors[code] ?? 0) + 1;
  }

  // ------------------------------------------------------------------ connecting

  async connectAll(): Promise<GeneratorReply> {
    const started = performance.now();
    let failed = 0;
    let firstError: string | undefined;
    const concurrency = this.#setup.connectConcurrency;
    for (let start = 0; start < this.#users.length; start += concurrency) {
      const batch = this.#users.slice(start, start + concurrency);
      const outcomes = await Promise.allSettled(batch.map((user) => this.#connect(user)));
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') {
          failed++;
          firstError ??= outcome.reason instanceof Error ? outcome.reason.message : String(outcome.reason);
        }
      }
    }
    return { type: 'connected', connected: this.#users.length - failed, failed, firstError, ms: performance.now() - started };
  }

  #connect(user: SimUser): Promise<void> {
    const now = wallNow();
    const lat = stampLatitude(user.walker.lat, now);
    user.remember(now, lat, user.walker.lon);
    switch (this.#contender) {
      case 'nearby':
      case 'nearby-memory':
      case 'nearby-metrics':
      case 'nearby-strangers':
      case 'ideal':
        return this.#connectNearby(user);
      case 'socketio':
        return this.#connectSocketIo(user);
      case 'ws-ceiling':
        return this.#connectWsCeiling(user);
    }
  }

  /** The loopback address this user connects from (several, so one address's ephemeral ports are not the limit). */
  #localAddress(user: SimUser): string | undefined {
    const addresses = this.#setup.sourceAddresses;
    return addresses.length === 0 ? undefined : addresses[user.index % addresses.length];
  }

  #openWs(user: SimUser, url: string, headers: Record<string, string>, ready: (resolve: () => void) => (data: WebSocket.RawData) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(url, { headers, perMessageDeflate: false, localAddress: this.#localAddress(user) });
      user.ws = ws;
      let settled = false;
      const timer = setTimeout(() => fail(new Error(`${user.id}: not ready within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.terminate();
        reject(error);
      };
      ws.on('error', (error) => {
        if (!settled) fail(error);
      });
      ws.on('close', (code) => {
        if (!settled) fail(new Error(`${user.id}: closed with ${code} before it was ready`));
        else if (user.open) {
          user.open = false;
          this.#r.disconnects++;
        }
      });
      ws.on(
        'message',
        ready(() => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          user.open = true;
          resolve();
        }),
      );
      ws.once('open', () => {
        if (filtersOnServer(this.#contender)) {
          const discovery = seesStrangers(this.#contender) ? ',"discoverable":true,"seeStrangers":true' : '';
          ws.send(`{"type":"init","v":1,"location":{"lat":${user.lat},"lon":${user.lon},"timestamp":${Math.floor(user.ringT[user.ringHead]!)}}${discovery}}`);
        } else {
          settled = true;
          clearTimeout(timer);
          user.open = true;
          resolve();
        }
      });
    });
  }

  #connectNearby(user: SimUser): Promise<void> {
    return this.#openWs(user, this.#setup.baseUrl, { authorization: `Bearer ${user.id}` }, (resolve) => (data) => {
      this.#onNearbyFrame(user, data.toString(), resolve);
    });
  }

  #connectWsCeiling(user: SimUser): Promise<void> {
    return this.#openWs(user, `${this.#setup.baseUrl}?u=${user.id}`, {}, () => (data) => {
      const now = wallNow();
      this.#countFrame(now);
      const message = JSON.parse(data.toString()) as { u: string; lat: number; lon: number };
      this.#onEntry(user, Scenario.indexOf(message.u), message.lat, message.lon, now, true);
    });
  }

  #connectSocketIo(user: SimUser): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const socket = connectSocketIo(this.#setup.baseUrl, {
        transports: ['websocket'],
        auth: { token: user.id },
        reconnection: false,
        forceNew: true,
        timeout: CONNECT_TIMEOUT_MS,
        // engine.io-client passes `localAddress` on to `ws` in Node.js; its types do not list it.
        ...({ localAddress: this.#localAddress(user) } as object),
      });
      user.io = socket;
      let settled = false;
      socket.once('connect', () => {
        settled = true;
        user.open = true;
        resolve();
      });
      socket.once('connect_error', (error) => {
        if (settled) return;
        settled = true;
        socket.close();
        reject(error);
      });
      socket.on('disconnect', () => {
        if (user.open) {
          user.open = false;
          this.#r.disconnects++;
        }
      });
      socket.on('friend', (message: { userId: string; lat: number; lon: number }) => {
        const now = wallNow();
        this.#countFrame(now);
        this.#onEntry(user, Scenario.indexOf(message.userId), message.lat, message.lon, now, true);
      });
    });
  }

  // ------------------------------------------------------------------ receiving

  #countFrame(now: number): void {
    this.#second.frames++;
    const step = this.#step;
    if (step !== undefined && now >= step.windowStart && now < step.windowEnd) this.#r.framesInWindow++;
  }

  #onNearbyFrame(user: SimUser, text: string, ready: () => void): void {
    const now = wallNow();
    const frame = JSON.parse(text) as {
      type: string;
      friends?: Array<{ userId: string; lat: number; lon: number }>;
      strangers?: Array<{ id: string; lat: number; lon: number; distanceKm: number }>;
      seq?: number;
      code?: string;
    };
    switch (frame.type) {
      case 'friend_update':
        this.#countFrame(now);
        for (const entry of frame.friends!) this.#onEntry(user, Scenario.indexOf(entry.userId), entry.lat, entry.lon, now, false);
        return;
      case 'ack': {
        const windowFrame = user.pending.get(frame.seq!);
        if (windowFrame !== undefined) user.pending.delete(frame.seq!);
        return;
      }
      case 'snapshot':
        // Positions already known when the session started: remembered, not timed.
        for (const entry of frame.friends ?? []) {
          const sender = Scenario.indexOf(entry.userId);
          if (sender >= 0) user.lastStamp.set(sender, sentAtOf(entry.lat, now));
        }
        ready();
        return;
      case 'friend_left':
        this.#r.friendLeft++;
        return;
      case 'stranger_update':
        this.#onStrangers(frame.strangers!, now);
        return;
      case 'stranger_left':
        this.#r.strangerLeft++;
        return;
      case 'error':
        this.#error(frame.code ?? 'unknown');
        if (frame.seq !== undefined) user.pending.delete(frame.seq);
        return;
      default:
        return;
    }
  }

  /**
   * Stranger entries: counted, and checked to carry only the coarsened position the protocol
   * promises (a cell centre at 4 decimals, distance in whole km): the exact positions this
   * generator sends have the send time in their low latitude digits, so one leaking through
   * would have more decimals.
   */
  #onStrangers(entries: Array<{ id: string; lat: number; lon: number; distanceKm: number }>, now: number): void {
    const step = this.#step;
    if (step !== undefined && now >= step.windowStart && now < step.windowEnd) this.#r.strangerEntriesInWindow += entries.length;
    for (const entry of entries) {
      const coarse = Math.round(entry.lat * 1e4) / 1e4 === entry.lat && Math.round(entry.lon * 1e4) / 1e4 === entry.lon && Number.isInteger(entry.distanceKm);
      if (coarse) continue;
      this.#r.strangerPrivacyViolations++;
      if (this.#r.strangerPrivacyExamples.length < 5) this.#r.strangerPrivacyExamples.push(JSON.stringify(entry));
    }
  }

  /** One friend position received by `user`. `clientFilter`: Socket.IO and ws-ceiling, which send every update. */
  #onEntry(user: SimUser, sender: number, lat: number, lon: number, now: number, clientFilter: boolean): void {
    const step = this.#step;
    const inWindow = step !== undefined && now >= step.windowStart && now < step.windowEnd;
    if (inWindow) this.#r.entriesInWindow++;
    if (!this.#scenario.isOnlineFriend(user.index, sender)) {
      this.#r.strangers++;
      return;
    }
    if (clientFilter && !withinRadius(distanceKm(user.lat, user.lon, lat, lon), this.#radiusKm)) {
      // What an application does with a room broadcast: drop friends beyond the radius (most of them).
      if (inWindow) this.#r.filteredOutInWindow++;
      return;
    }
    const sentAt = sentAtOf(lat, now);
    const previous = user.lastStamp.get(sender);
    const repeated = previous === sentAt;
    if (!clientFilter) {
      // The server filtered: the friend must be within the radius of a position the receiver held
      // at some time between the friend's send (or, for a repeat caused by the receiver's own
      // move, the last moments) and now, give or take frames in flight.
      this.#r.filterChecked++;
      const since = (repeated ? now : sentAt) - FILTER_SLACK_MS;
      let slot = user.ringHead;
      let within = false;
      for (let i = 0; i < user.ringCount; i++) {
        if (distanceKm(user.ringLat[slot]!, user.ringLon[slot]!, lat, lon) <= this.#radiusKm + TOLERANCE_KM) {
          within = true;
          break;
        }
        if (user.ringT[slot]! <= since) break;
        slot = (slot - 1 + RING) % RING;
      }
      if (!within) {
        this.#r.filterViolations++;
        if (this.#r.violationExamples.length < 5) {
          const d = distanceKm(user.lat, user.lon, lat, lon);
          this.#r.violationExamples.push(
            `${user.id} received ${Scenario.userId(sender)} at ${d.toFixed(3)} km from its current position (${repeated ? 'repeat' : 'new position'}, sent ${(now - sentAt).toFixed(1)} ms earlier)`,
          );
        }
      }
    }
    if (repeated) {
      if (inWindow) this.#r.repeatedEntries++;
      return;
    }
    if (previous !== undefined && previous > sentAt) {
      this.#r.outOfOrder++;
      return;
    }
    user.lastStamp.set(sender, sentAt);
    if (!clientFilter) {
      // Where was the receiver when the friend sent? Out of range then: the viewer moved into range.
      const at = user.slotAt(sentAt);
      if (!withinRadius(distanceKm(user.ringLat[at]!, user.ringLon[at]!, lat, lon), this.#radiusKm)) {
        if (inWindow) this.#r.viewerMoveEntries++;
        return;
      }
    }
    // A delivery.
    const latency = now - sentAt;
    this.#second.deliveries++;
    this.#secondHistogram.record(latency);
    if (step !== undefined && sentAt >= step.windowStart && sentAt < step.windowEnd) {
      this.#latencies.push(latency);
      if (latency > this.#slowestFloor) this.#noteSlow(user, sender, sentAt, latency, lat, lon, clientFilter);
      // Reservoir sample of deliveries for the parent's exactness check.
      const seen = this.#samplesSeen++;
      let slot = seen;
      if (seen >= MAX_DELIVERY_SAMPLES) {
        slot = Math.floor(this.#sampleRandom() * (seen + 1));
        if (slot >= MAX_DELIVERY_SAMPLES) return;
      }
      const samples = this.#samples;
      samples[slot * 4] = sender;
      samples[slot * 4 + 1] = sentAt;
      samples[slot * 4 + 2] = lat;
      samples[slot * 4 + 3] = lon;
    }
  }

  /** Keeps the 5 slowest deliveries of the window, described, for the report. */
  #noteSlow(user: SimUser, sender: number, sentAt: number, latency: number, lat: number, lon: number, clientFilter: boolean): void {
    const slowest = this.#r.slowest;
    const at = user.slotAt(sentAt);
    const own = user.ringCount;
    slowest.push({
      latencyMs: latency,
      text:
        `${latency.toFixed(1)} ms: ${Scenario.userId(sender)} → ${user.id}, sent at +${(sentAt - this.#step!.t0).toFixed(1)} ms, ` +
        `${distanceKm(user.ringLat[at]!, user.ringLon[at]!, lat, lon).toFixed(3)} km from where the receiver was then, ` +
        `${distanceKm(user.lat, user.lon, lat, lon).toFixed(3)} km from its position at receipt (receiver's last send at +${(user.ringT[user.ringHead]! - this.#step!.t0).toFixed(1)} ms, ${own} positions known)` +
        (clientFilter ? '' : ''),
    });
    slowest.sort((a, b) => b.latencyMs - a.latencyMs);
    if (slowest.length > 5) slowest.length = 5;
    if (slowest.length === 5) this.#slowestFloor = slowest[4]!.latencyMs;
  }

  // ------------------------------------------------------------------ sending

  #send(user: SimUser, now: number, inWindow: boolean): void {
    user.walker.step();
    const lat = stampLatitude(user.walker.lat, now);
    const lon = user.walker.lon;
    user.remember(now, lat, lon);
    this.#sendLog.push4(user.index, now, lat, lon);
    switch (this.#contender) {
      case 'nearby':
      case 'nearby-memory':
      case 'nearby-metrics':
      case 'nearby-strangers':
      case 'ideal': {
        const seq = user.seq++;
        // The ideal server does not answer; only Nearby's acks are awaited.
        if (this.#contender !== 'ideal') user.pending.set(seq, inWindow);
        user.ws!.send(`{"type":"location","seq":${seq},"samples":[{"lat":${lat},"lon":${lon},"timestamp":${Math.floor(now)}}]}`);
        return;
      }
      case 'socketio':
        user.io!.emit('loc', { lat, lon, t: Math.floor(now) });
        return;
      case 'ws-ceiling':
        user.ws!.send(`{"u":"${user.id}","lat":${lat},"lon":${lon},"t":${Math.floor(now)}}`);
        return;
    }
  }

  async run(step: StepConfig): Promise<GeneratorResult> {
    this.#step = step;
    this.#r = this.#emptyResult();
    this.#r.step = step.step;
    this.#latencies = new GrowableF64();
    this.#sendLog = new GrowableF64();
    this.#samplesSeen = 0;
    this.#slowestFloor = 0;
    this.#lags = [];
    this.#stepActive = true;
    // The first progress second counts from t0, not from the end of connecting.
    this.#second = { sent: 0, deliveries: 0, frames: 0 };
    this.#secondHistogram.reset();
    for (const user of this.#users) {
      // Where each user is when the step starts, for the parent's expected-delivery count.
      this.#sendLog.push4(user.index, step.t0 - 1, user.lat, user.lon);
      user.pending.clear();
    }
    const order = [...this.#users].filter((user) => user.open).sort((a, b) => a.phase - b.phase);
    const m = order.length;
    const period = step.periodMs;
    let n = 0;
    const due = (k: number): number => step.t0 + order[k % m]!.phase * period + Math.floor(k / m) * period;
    let cpuAtWindowStart: NodeJS.CpuUsage | undefined;
    let cpuUs = 0;
    const windowTimers = [
      setTimeout(() => (cpuAtWindowStart = process.cpuUsage()), Math.max(0, step.windowStart - wallNow())),
      setTimeout(() => {
        const used = process.cpuUsage(cpuAtWindowStart);
        cpuUs = used.user + used.system;
      }, Math.max(0, step.windowEnd - wallNow())),
    ];
    // Progress once a second, aligned to t0.
    let second = 0;
    const progressTimer = setInterval(() => {
      const now = wallNow();
      if (now < step.t0) return;
      const current = Math.floor((now - step.t0) / 1000);
      if (current <= second) return;
      second = current;
      void toParent({
        type: 'progress',
        progress: { step: step.step, second, ...this.#second, histogram: this.#secondHistogram.toSparse() },
      } satisfies GeneratorReply);
      this.#second = { sent: 0, deliveries: 0, frames: 0 };
      this.#secondHistogram.reset();
    }, 50);

    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const now = wallNow();
        if (m > 0) {
          for (;;) {
            const at = due(n);
            if (at > now || at >= step.sendEnd) break;
            const user = order[n % m]!;
            n++;
            if (!user.open) continue;
            const sendAt = wallNow();
            const inWindow = at >= step.windowStart && at < step.windowEnd;
            this.#send(user, sendAt, inWindow);
            this.#second.sent++;
            this.#r.sentTotal++;
            if (inWindow) {
              this.#r.sentInWindow++;
              this.#lags.push(sendAt - at);
              if (isNearby(this.#contender)) this.#r.ackExpected++;
            }
          }
        }
        const next = m > 0 ? due(n) : Number.POSITIVE_INFINITY;
        if (next >= step.sendEnd) {
          resolve();
          return;
        }
        setTimeout(tick, Math.max(0, next - wallNow() - 0.5));
      };
      setTimeout(tick, Math.max(0, step.t0 - wallNow()));
    });
    // Deliveries of the window's updates are awaited until `end`.
    const untilEnd = step.end - wallNow();
    if (untilEnd > 0) await new Promise((resolve) => setTimeout(resolve, untilEnd));
    clearInterval(progressTimer);
    for (const timer of windowTimers) clearTimeout(timer);
    this.#stepActive = false;

    if (isNearby(this.#contender)) {
      for (const user of this.#users) for (const windowFrame of user.pending.values()) if (windowFrame) this.#r.unanswered++;
    }
    const lags = Float64Array.from(this.#lags).sort();
    const result: GeneratorResult = {
      ...this.#r,
      users: this.#users.length,
      sendLagP99Ms: lags.length === 0 ? 0 : lags[Math.min(lags.length - 1, Math.ceil(lags.length * 0.99) - 1)]!,
      sendLagMaxMs: lags.length === 0 ? 0 : lags[lags.length - 1]!,
      latencies: this.#latencies.take(),
      cpuUs,
      sendLog: this.#sendLog.take(),
      deliverySamples: this.#samples.slice(0, Math.min(this.#samplesSeen, MAX_DELIVERY_SAMPLES) * 4),
    };
    this.#step = undefined;
    return result;
  }

  /** Closes every connection abruptly (the server is torn down next anyway). */
  closeAll(): void {
    for (const user of this.#users) {
      user.open = false;
      try {
        user.ws?.terminate();
        user.io?.disconnect();
      } catch {
        // ignore
      }
    }
  }

  get active(): boolean {
    return this.#stepActive;
  }
}

let generator: Generator | undefined;
exitWithParent(() => generator?.closeAll());

process.on('message', (request: GeneratorRequest) => {
  const fail = (error: unknown) =>
    void toParent({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies GeneratorReply);
  switch (request.type) {
    case 'connect':
      try {
        generator = new Generator(request.setup);
      } catch (error) {
        fail(error);
        return;
      }
      generator.connectAll().then((reply) => toParent(reply), fail);
      return;
    case 'clock':
      void toParent({ type: 'clock', parentNow: request.parentNow, childNow: wallNow() } satisfies GeneratorReply);
      return;
    case 'run':
      if (generator === undefined) return fail(new Error('run before connect'));
      generator.run(request.step).then((result) => toParent({ type: 'result', result } satisfies GeneratorReply), fail);
      return;
    case 'stop':
      generator?.closeAll();
      setTimeout(() => process.exit(0), 50);
      return;
  }
});
