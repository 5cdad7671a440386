import { existsSync } from 'node:fs';
import { NearbyClient, type NearbyFriend } from '@nearby/client';
import type { LatLon } from '@nearby/protocol';
import { createNearbyServer, type FriendGraph, type NearbyServer, type NearbyServerStats } from '@nearby/server';
import { createPgliteHistoryStore } from '@nearby/server/pglite';
import { CITY_CENTRE, seededRandom } from './city.js';
import { Walker } from './walker.js';

export interface DemoOptions {
  /** Simulated users besides "you". */
  users: number;
  /** Friends each simulated user gets (roughly). */
  friendsPerUser: number;
  /** Seed of the random crowd. */
  seed: number;
  /** Simulated seconds per real second: walkers cover ground faster and batches flush sooner. */
  speedup: number;
  /** Real milliseconds between walker steps. */
  tickMs: number;
  radiusKm: number;
  /** Directory of the embedded history database (PGlite); kept between runs. */
  historyDir: string;
}

export const DEFAULT_DEMO_OPTIONS: DemoOptions = {
  users: 60,
  friendsPerUser: 10,
  seed: 42,
  speedup: 15,
  tickMs: 1000,
  radiusKm: 8,
  historyDir: '.nearby-demo/history',
};

/** What the chosen user sees, plus server counters, for rendering. */
export interface DemoView {
  you: string;
  url: string;
  state: string;
  radiusKm: number | null;
  sharing: boolean;
  friends: readonly NearbyFriend[];
  friendCount: number;
  pendingSamples: number;
  events: readonly string[];
  stats: NearbyServerStats;
  /** Samples the history store accepted (and the server acknowledged) in this run. */
  historySamples: number;
  historyDir: string;
  now: number;
}

export interface Demo {
  view(): DemoView;
  /** The WebSocket URL of the server. */
  readonly url: string;
  /** The chosen user's id, which is also their token. */
  readonly you: string;
  /** Where the chosen user is now. */
  yourPosition(): LatLon;
  stop(): Promise<void>;
}

const YOU = 'you';

/** The friend graph of the crowd: a map the demo edits as friendships change. */
class DemoFriendGraph implements FriendGraph {
  readonly edges = new Map<string, Set<string>>();

  async getFriends(userId: string): Promise<string[]> {
    return [...(this.edges.get(userId) ?? [])];
  }

  link(a: string, b: string): void {
    this.#of(a).add(b);
    this.#of(b).add(a);
  }

  unlink(a: string, b: string): void {
    this.#of(a).delete(b);
    this.#of(b).delete(a);
  }

  #of(id: string): Set<string> {
    let set = this.edges.get(id);
    if (set === undefined) this.edges.set(id, (set = new Set()));
    return set;
  }
}

const NAMES = ['mina', 'jun', 'seo', 'hana', 'tae', 'yuna', 'min', 'ji', 'eun', 'ho', 'soo', 'woo', 'ara', 'dan', 'rin', 'kyu'];

function nameOf(index: number): string {
  const base = NAMES[index % NAMES.length]!;
  const round = Math.floor(index / NAMES.length);
  return round === 0 ? base : `${base}${round + 1}`;
}

/**
 * Starts a Nearby server on the in-memory default and a crowd of walking clients over real
 * WebSockets on loopback. Tokens are the user ids (a demo, not an auth scheme).
 */
export async function startDemo(
  options: DemoOptions = DEFAULT_DEMO_OPTIONS,
  /** Told what the demo is doing while it starts. */
  progress: (step: string) => void = () => {},
): Promise<Demo> {
  progress(`seeding ${options.users} simulated users and their friendships…`);
  const random = seededRandom(options.seed);
  const graph = new DemoFriendGraph();
  const ids = Array.from({ length: options.users }, (_, i) => nameOf(i));
  for (const id of ids) {
    while ((graph.edges.get(id)?.size ?? 0) < options.friendsPerUser / 2) {
      const other = ids[Math.floor(random() * ids.length)]!;
      if (other !== id) graph.link(id, other);
    }
  }
  for (const id of ids.slice(0, Math.min(12, ids.length))) graph.link(YOU, id);

  // Location history persists in an embedded PostgreSQL (PGlite) in a local directory.
  progress(
    existsSync(options.historyDir)
      ? `starting the PGlite history store in ${options.historyDir}…`
      : `creating the PGlite history store in ${options.historyDir} (first run: several seconds)…`,
  );
  const history = createPgliteHistoryStore({ dataDir: options.historyDir });
  await history.connect();
  const server: NearbyServer = createNearbyServer({
    authenticate: (request) => new URL(request.url ?? '/', 'http://localhost').searchParams.get('access_token'),
    friends: graph,
    history,
    radiusKm: options.radiusKm,
    port: 0,
    host: '127.0.0.1',
    // Walkers flush every 30 simulated seconds, which is often in real time at this speed-up.
    rateLimit: { locations: { capacity: 20, refillPerSecond: 2 } },
    onError: () => {},
  });
  progress('opening the server on 127.0.0.1 (a free port)…');
  const { port } = await server.listen();
  const url = `ws://127.0.0.1:${port}/nearby`;
  progress(`server listening on ${url}; connecting ${options.users + 1} clients…`);

  // Simulated users walk at 1.4 m/s of simulated time; "you" strolls slowly around the centre.
  const WALKING_KM_PER_SECOND = 0.0014;
  const walkers = ids.map((id) => new Walker(id, random, WALKING_KM_PER_SECOND));
  const you = new Walker(YOU, random, WALKING_KM_PER_SECOND / 4, CITY_CENTRE);
  const flushIntervalMs = Math.max(500, Math.round(30_000 / options.speedup));
  const clients = new Map<string, NearbyClient>();
  for (const walker of [you, ...walkers]) {
    const client = new NearbyClient({ url, token: walker.userId, flushIntervalMs, radiusKm: options.radiusKm });
    client.on('error', () => {});
    client.updateLocation({ lat: walker.position.lat, lon: walker.position.lon });
    client.connect();
    clients.set(walker.userId, client);
  }

  const events: string[] = [];
  const log = (text: string) => {
    events.unshift(`${new Date().toISOString().slice(11, 19)}  ${text}`);
    events.length = Math.min(events.length, 6);
  };
  const yourClient = clients.get(YOU)!;
  yourClient.on('friendLeft', ({ userId, reason }) => log(`${userId} left your list (${reason})`));
  yourClient.on('friendAdded', (userId) => log(`${userId} is now your friend`));
  yourClient.on('friendRemoved', (userId) => log(`${userId} is no longer your friend`));
  yourClient.on('state', (state) => log(`connection ${state}`));

  // Now and then something happens in the social graph, to show live changes.
  let happening = 0;
  const yourFriends = () => [...(graph.edges.get(YOU) ?? [])];
  const happen = async () => {
    happening++;
    const step = happening % 3;
    if (step === 0) {
      const friend = yourFriends()[Math.floor(random() * yourFriends().length)];
      if (friend !== undefined) {
        const client = clients.get(friend)!;
        const sharing = client.getSnapshot().sharing;
        client.setSharing(!sharing);
        log(`${friend} turned sharing ${sharing ? 'off' : 'on'}`);
      }
    } else if (step === 1) {
      const stranger = ids.find((id) => !graph.edges.get(YOU)?.has(id));
      if (stranger !== undefined) {
        graph.link(YOU, stranger);
        await server.friendAdded(YOU, stranger);
      }
    } else {
      const friend = yourFriends()[0];
      if (friend !== undefined) {
        graph.unlink(YOU, friend);
        await server.friendRemoved(YOU, friend);
      }
    }
  };

  let ticks = 0;
  const timer = setInterval(() => {
    ticks++;
    for (const walker of [you, ...walkers]) {
      const position = walker.step((options.speedup * options.tickMs) / 1000);
      clients.get(walker.userId)!.updateLocation({ lat: position.lat, lon: position.lon });
    }
    if (ticks % 8 === 0) void happen();
  }, options.tickMs);

  return {
    url,
    you: YOU,
    yourPosition: () => ({ ...you.position }),
    view(): DemoView {
      const snapshot = yourClient.getSnapshot();
      return {
        you: YOU,
        url,
        state: snapshot.state,
        radiusKm: snapshot.radiusKm,
        sharing: snapshot.sharing,
        friends: snapshot.friends,
        friendCount: graph.edges.get(YOU)?.size ?? 0,
        pendingSamples: snapshot.pendingSamples,
        events,
        stats: server.stats(),
        historySamples: server.stats().samplesAcked,
        historyDir: options.historyDir,
        now: Date.now(),
      };
    },
    async stop() {
      clearInterval(timer);
      for (const client of clients.values()) client.close();
      await server.close();
      await history.close();
    },
  };
}
