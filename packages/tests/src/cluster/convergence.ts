import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { NearbyClient } from '@nearby/client';
import type { LatLon } from '@nearby/protocol';
import { RedisServerProcess } from '../helpers/redis-server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { tokenFor } from '../helpers/server-resource.js';
import { ORIGIN, offsetKm } from '../helpers/geo.js';
import { startCluster, type ClusterEnv, type ClusterServerOptions } from './cluster.js';
import { HomeBalancer } from './home-balancer.js';
import { World, describeList } from './truth.js';
import { planChanges, type ChangePlan, type PlanOptions } from './change-plan.js';

/**
 * A convergence scenario: a few dozen real `NearbyClient`s on three forked server processes over
 * one real redis-server, and the ground truth of what every one of them should see. Each client
 * reaches the cluster through its own TCP proxy (its network, which can be black-holed) and then
 * one balancer that sends each user to their home process, or to the next live one.
 */

/** Small batches and a short heartbeat, so fixes go out quickly and a dead connection is noticed within 2.5 s. */
const CLIENT_OPTIONS = {
  flushIntervalMs: 250,
  heartbeat: { intervalMs: 1_000, timeoutMs: 1_500 },
  reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 },
} as const;

/** Idle connections are not closed while a test runs; `inactiveAfterMs` keeps its default (10 min), so nobody expires. */
const SERVER_OPTIONS: ClusterServerOptions = { idleTimeoutMs: 300_000 };

const POLL_MS = 100;
/** 100 % must hold this long to count: a ghost that comes back after a correct moment is not convergence. */
const HOLD_MS = 1_000;
/** Fixes are taken up to this far (each axis) from the device's place, so every fix is a new one. */
const JITTER_KM = 0.005;

export interface ScenarioOptions {
  /** Users on each of the three processes. Default 9. */
  usersPerServer?: number;
  seed?: number;
  /** `livenessTtlMs` of the Redis adapters. */
  livenessTtlMs?: number;
}

export interface Convergence {
  /** Time from the end of the fault until every list was right (and stayed so); `undefined` if that never happened in time. */
  reachedMs: number | undefined;
  /** Lowest share of right lists seen, and the last one. */
  minShare: number;
  lastShare: number;
  /** One line per wrong list at the last check that was not 100 %. */
  mismatches: string[];
}

/** Deterministic uniform [0, 1) source (mulberry32), so every run builds the same town. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The user a request target belongs to: tokens are `token-<userId>`. */
function userOf(target: string): string | undefined {
  const token = new URL(target, 'http://balancer').searchParams.get('access_token');
  return token?.startsWith('token-') ? token.slice('token-'.length) : undefined;
}

export class Scenario {
  readonly redis: RedisServerProcess;
  readonly cluster: ClusterEnv;
  readonly balancer: HomeBalancer;
  readonly world: World;
  readonly #clients = new Map<string, NearbyClient>();
  readonly #proxies = new Map<string, TcpProxy>();
  readonly #random: () => number;
  /** Friend changes whose call failed (the bus was down, the process draining): shown when lists do not converge. */
  readonly friendCallFailures: string[] = [];

  private constructor(redis: RedisServerProcess, cluster: ClusterEnv, balancer: HomeBalancer, next: () => number) {
    this.redis = redis;
    this.cluster = cluster;
    this.balancer = balancer;
    this.world = new World(cluster.graph);
    this.#random = next;
  }

  /** Starts Redis, the cluster and the balancer, and builds the town; no client connects yet. */
  static async start(options: ScenarioOptions = {}): Promise<Scenario> {
    const redis = await RedisServerProcess.start();
    let cluster: ClusterEnv | undefined;
    let balancer: HomeBalancer | undefined;
    try {
      const c = await startCluster({
        servers: 3,
        redis,
        serverOptions: SERVER_OPTIONS,
        ...(options.livenessTtlMs === undefined ? {} : { livenessTtlMs: options.livenessTtlMs }),
      });
      cluster = c;
      balancer = await HomeBalancer.start({ backends: c.ports, userOf, homeOf: (id) => c.serverIndexOf(id) });
    } catch (error) {
      await cluster?.close();
      await redis.stop();
      throw error;
    }
    const scenario = new Scenario(redis, cluster, balancer, random(options.seed ?? 7));
    try {
      await scenario.#populate(options.usersPerServer ?? 9);
    } catch (error) {
      await scenario.close();
      throw error;
    }
    return scenario;
  }

  /**
   * A town of about 12 km across: everyone within 6 km of the origin, so some friends are well
   * beyond the default 8 km radius. Each user links to three others (about six friends each);
   * radii vary; one user per process starts with sharing off.
   */
  async #populate(perServer: number): Promise<void> {
    const next = this.#random;
    const byServer: string[][] = Array.from({ length: this.cluster.size }, () => []);
    for (let i = 0; byServer.some((ids) => ids.length < perServer); i++) {
      const id = `u${String(i).padStart(2, '0')}`;
      const ids = byServer[this.cluster.serverIndexOf(id)]!;
      if (ids.length < perServer) ids.push(id);
    }
    const radii = [3, 5, 8, 8, 10];
    for (const ids of byServer) {
      const off = ids[Math.floor(next() * ids.length)];
      for (const id of ids) {
        const r = 6 * Math.sqrt(next());
        const angle = 2 * Math.PI * next();
        const home = offsetKm(ORIGIN, r * Math.cos(angle), r * Math.sin(angle));
        const radiusKm = radii[Math.floor(next() * radii.length)]!;
        this.world.add({ id, home, radiusKm, sharing: id !== off });
      }
    }
    const ids = [...this.world.users.keys()];
    for (const id of ids) {
      for (let links = 0; links < 3; ) {
        const other = ids[Math.floor(next() * ids.length)]!;
        if (other === id || this.world.areFriends(id, other)) continue;
        this.world.link(id, other);
        links++;
      }
    }
    for (const id of ids) {
      const user = this.world.user(id);
      const proxy = await TcpProxy.start(this.balancer.port);
      this.#proxies.set(id, proxy);
      const client = new NearbyClient({
        ...CLIENT_OPTIONS,
        url: `ws://127.0.0.1:${proxy.port}/nearby`,
        token: tokenFor(id),
        WebSocket,
        radiusKm: user.radiusKm,
        sharing: user.sharing,
      });
      this.#clients.set(id, client);
    }
  }

  client(id: string): NearbyClient {
    const client = this.#clients.get(id);
    if (client === undefined) throw new Error(`no client ${id}`);
    return client;
  }

  /** The proxy that is `id`'s network. */
  network(id: string): TcpProxy {
    return this.#proxies.get(id)!;
  }

  homeOf(id: string): number {
    return this.cluster.serverIndexOf(id);
  }

  /** Users whose home is process `serverIndex`. */
  usersOn(serverIndex: number): string[] {
    return [...this.world.users.keys()].filter((id) => this.homeOf(id) === serverIndex);
  }

  plan(options: PlanOptions = {}): ChangePlan {
    return planChanges(this.world, options);
  }

  /** Every client takes a first fix (if it shares) and connects; resolves once all are connected. */
  async connectAll(): Promise<void> {
    for (const id of this.world.users.keys()) {
      this.locate(id);
      this.client(id).connect();
    }
    await this.untilConnected([...this.world.users.keys()]);
  }

  /** `id`'s device reports a fix near its place; the truth records exactly what was sent. */
  locate(id: string): void {
    const { home } = this.world.user(id);
    const fix: LatLon = offsetKm(home, (this.#random() - 0.5) * 2 * JITTER_KM, (this.#random() - 0.5) * 2 * JITTER_KM);
    this.client(id).updateLocation(fix);
    this.world.located(id, fix);
  }

  /** After a fault: every client still signed in sends a fresh fix. */
  freshFixes(): void {
    for (const id of this.world.viewers()) this.locate(id);
  }

  /**
   * Makes every change of `plan` except the sign-off: friendships through the host graph and a
   * `friendAdded` / `friendRemoved` call on process `friendServer` (a failed call is recorded,
   * not thrown: the host graph is the truth), the settings through the clients. Resolves when
   * the friend calls have settled.
   */
  async change(plan: ChangePlan, friendServer: number): Promise<void> {
    const [a, b] = plan.unfriend;
    const [c, d] = plan.befriend;
    this.world.unlink(a, b);
    const removed = this.cluster.friendRemoved(a, b, friendServer).catch((error: unknown) => this.#failed(`friendRemoved(${a}, ${b})`, error));
    this.world.link(c, d);
    const added = this.cluster.friendAdded(c, d, friendServer).catch((error: unknown) => this.#failed(`friendAdded(${c}, ${d})`, error));
    this.client(plan.sharingOff).setSharing(false);
    this.world.user(plan.sharingOff).sharing = false;
    this.client(plan.sharingOn).setSharing(true);
    this.world.user(plan.sharingOn).sharing = true;
    this.locate(plan.sharingOn);
    this.client(plan.radius.userId).setRadius(plan.radius.km);
    this.world.user(plan.radius.userId).radiusKm = plan.radius.km;
    await Promise.all([removed, added]);
  }

  /** `id` signs off: the client closes with 1000. */
  signOff(id: string): void {
    this.client(id).close();
    this.world.user(id).signedOff = true;
  }

  #failed(call: string, error: unknown): void {
    this.friendCallFailures.push(`${call}: ${error instanceof Error ? error.message : String(error)}`);
  }

  async untilConnected(ids: readonly string[], timeoutMs = 20_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      // Connected, and through a process that runs: a client may not have noticed yet that its process died.
      const waiting = ids.filter((id) => {
        const backend = this.balancer.backendOf.get(id);
        return this.client(id).getSnapshot().state !== 'connected' || backend === undefined || !this.cluster.alive(backend);
      });
      if (waiting.length === 0) return;
      if (performance.now() > deadline) throw new Error(`not connected after ${timeoutMs} ms: ${waiting.join(', ')}`);
      await sleep(20);
    }
  }

  /** `u07@s1`: a user and the process their latest connection went to. */
  where(id: string): string {
    const via = this.balancer.backendOf.get(id);
    return `${id}@${via === undefined ? '?' : `s${via}`}${this.world.user(id).signedOff ? ' (signed off)' : ''}`;
  }

  /** One line per client whose list is wrong (or who is not connected), with expected and actual lists. */
  mismatches(): string[] {
    const lines: string[] = [];
    for (const id of this.world.viewers()) {
      const snapshot = this.client(id).getSnapshot();
      const problems = this.world.diff(id, snapshot.friends, (friendId) => this.where(friendId));
      if (snapshot.state !== 'connected') problems.unshift(`state ${snapshot.state}`);
      if (problems.length === 0) continue;
      const user = this.world.user(id);
      const settings = `sharing ${user.sharing}/${snapshot.sharing}, radius ${user.radiusKm}/${snapshot.radiusKm} (truth/client)`;
      lines.push(
        `${this.where(id)} home s${this.homeOf(id)}, ${settings}: ${problems.join('; ')}` +
          ` | expected ${describeList(this.world.expected(id))} got ${describeList(snapshot.friends.map((f) => [f.userId, f.distanceKm]))}`,
      );
    }
    return lines;
  }

  /** One line per running process with the counters of its fault handling, for failure messages. */
  async processReport(): Promise<string[]> {
    const lines: string[] = [];
    for (let index = 0; index < this.cluster.size; index++) {
      if (!this.cluster.alive(index)) {
        lines.push(`s${index}: not running`);
        continue;
      }
      try {
        const { server, errors, lastErrors } = await this.cluster.stats(index);
        const counters = `busOutages ${server.busOutages}, reconciliations ${server.reconciliations}, changesRepublished ${server.changesRepublished}, writeRetries ${server.writeRetries}`;
        lines.push(`s${index} (${server.state}, ${server.connections} connections): ${counters}, ${errors} errors, last: ${lastErrors.join(' / ')}`);
      } catch (error) {
        lines.push(`s${index}: stats failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return lines;
  }

  /**
   * Polls every 100 ms, from `since` (the end of the fault), the share of connected clients
   * whose list is right, until it is 100 % and stays so for a second, or `boundMs` (plus that
   * second) has passed.
   */
  async converge(since: number, boundMs: number): Promise<Convergence> {
    const total = this.world.viewers().length;
    let minShare = 1;
    let lastShare = 0;
    let streakFrom: number | undefined;
    let mismatches: string[] = [];
    for (;;) {
      const now = performance.now();
      const wrong = this.mismatches();
      lastShare = (total - wrong.length) / total;
      minShare = Math.min(minShare, lastShare);
      if (wrong.length === 0) {
        streakFrom ??= now;
        if (now - streakFrom >= HOLD_MS) return { reachedMs: Math.round(streakFrom - since), minShare, lastShare, mismatches };
      } else {
        streakFrom = undefined;
        mismatches = wrong;
      }
      if (now - since > boundMs + HOLD_MS) return { reachedMs: undefined, minShare, lastShare, mismatches };
      await sleep(POLL_MS);
    }
  }

  async close(): Promise<void> {
    for (const client of this.#clients.values()) client.close();
    for (const proxy of this.#proxies.values()) await proxy.close();
    await this.balancer.close();
    await this.cluster.close();
    await this.redis.stop();
  }
}
