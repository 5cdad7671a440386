import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNearbyServer, NearbyError } from '@nearby/server';
import { createRedisAdapters } from '@nearby/server/redis';
import type { ServerFrame } from '@nearby/protocol';
import { defineBehaviourSuite } from '../behaviours.js';
import { RedisServerProcess, redisAvailable } from '../helpers/redis-server.js';
import { TestFriendGraph } from '../helpers/server-resource.js';
import { RawPeer, at } from '../helpers/raw-peer.js';
import { ORIGIN, offsetKm } from '../helpers/geo.js';
import { freePort } from '../helpers/free-port.js';
import { startCluster, type ClusterEnv, type ClusterServerOptions } from './cluster.js';
import { behaviourEnvOf, lease, quiesce, range, until } from './behaviour-env.js';

/**
 * Real server processes (forked, each with its own Redis connections) sharing one real
 * redis-server: the behaviour suite, a Redis outage, the Redis work per update, and startup
 * without Redis.
 */

/** Location frames are limited to one per 2 s by default; these tests send them faster on purpose. */
const FAST_LOCATIONS: ClusterServerOptions = { rateLimit: { locations: { capacity: 1000, refillPerSecond: 1000 } } };

describe('3 server processes over one redis-server', () => {
  let redis: RedisServerProcess | undefined;
  let cluster: ClusterEnv | undefined;

  beforeAll(async () => {
    if (!redisAvailable()) return;
    redis = await RedisServerProcess.start();
    cluster = await startCluster({ servers: 3, redis, serverOptions: FAST_LOCATIONS });
  }, 30_000);

  afterAll(async () => {
    await cluster?.close();
    await redis?.stop();
  });

  defineBehaviourSuite('3 processes, one redis-server', async (ctx) => {
    if (cluster === undefined || redis === undefined) return ctx.skip();
    return behaviourEnvOf(cluster);
  });

  it('costs one SET and one PUBLISH per location update, with 5 online friends as with 60; MGET only at session start', async (ctx) => {
    if (cluster === undefined || redis === undefined) return ctx.skip();
    const c = cluster;
    const r = redis;
    const slate = lease(c);
    const peers: RawPeer[] = [];
    const connect = async (userId: string, serverIndex: number): Promise<RawPeer> => {
      const p = await RawPeer.connect(c.urlFor(userId, serverIndex));
      peers.push(p);
      return p;
    };
    const N = 20;

    /**
     * Redis work in a window: the `INFO commandstats` delta between its two ends, and, from
     * MONITOR, which of those commands name a user of the test. Commands that name none are
     * the processes' background work (a liveness refresh may fall in the window) or the test's
     * own (fences, the inspection client), and are taken out of the delta.
     */
    const measure = async (users: { hub: string; fans: string[] }, run: () => Promise<void>) => {
      const base = r.client();
      const monitor = await base.monitor(); // a second connection, in monitor mode
      const log: string[][] = [];
      monitor.on('monitor', (_time: string, args: string[]) => log.push(args.map(String)));
      const snapshots = () => log.flatMap((args, i) => (args[0]?.toLowerCase() === 'info' && args[1] === 'commandstats' ? [i] : []));
      try {
        const before = await r.commandCalls();
        await run();
        const after = await r.commandCalls();
        // MONITOR lists commands in execution order (its feed may lag the replies): keep those between the two snapshots.
        await until(() => snapshots().length === 2, 'MONITOR has seen both INFO commandstats');
        const [first, second] = snapshots() as [number, number];
        const inWindow = log.slice(first + 1, second);
        const names = (args: string[]) => args.some((arg) => arg.includes(users.hub) || users.fans.some((fan) => arg.includes(fan)));
        const background: Record<string, number> = {};
        for (const args of inWindow) {
          if (names(args)) continue;
          const name = args[0]!.toLowerCase();
          background[name] = (background[name] ?? 0) + 1;
        }
        const work: Record<string, number> = {};
        for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
          const base = name.split('|')[0]!;
          const calls = (after[name] ?? 0) - (before[name] ?? 0) - (name.includes('|') ? 0 : (background[base] ?? 0));
          // The inspection client's handshake (CLIENT SETINFO …, INFO) is not the servers' work either.
          if (calls !== 0 && !name.startsWith('client') && name !== 'info') work[name] = calls;
        }
        const aboutFans = inWindow.filter((args) => users.fans.some((fan) => args.some((arg) => arg.includes(fan))));
        return { work, background, aboutFans };
      } finally {
        monitor.disconnect();
        base.disconnect();
      }
    };

    const perUpdate: Record<string, Record<string, number>> = {};
    try {
      for (const friendCount of [5, 60]) {
        const hub = `hub${friendCount}`;
        const fans = range(friendCount).map((i) => `${hub}-fan${i}`);
        for (const fan of fans) c.graph.link(hub, fan);
        // Friends on every process (round robin); the hub on process 0.
        const fanPeers: RawPeer[] = [];
        for (const [i, fan] of fans.entries()) {
          const p = await connect(fan, i % c.size);
          await p.init({ location: at(offsetKm(ORIGIN, 1 + (i % 5) * 0.1).lat, ORIGIN.lon) });
          fanPeers.push(p);
        }
        const hubPeer = await connect(hub, 0);

        const atInit = await measure({ hub, fans }, async () => {
          const snapshot = await hubPeer.init({ location: at(ORIGIN.lat, ORIGIN.lon) });
          expect(snapshot.friends).toHaveLength(friendCount);
          await quiesce(c, friendCount + 1);
        });
        expect(atInit.work.mget).toBe(1); // every friend's position in one read

        // One fan on each process: the last update must reach all three.
        const witnesses = range(c.size).map((i) => fanPeers[i]!);
        const marks = witnesses.map((w) => w.frames.length);
        const updates = await measure({ hub, fans }, async () => {
          let last = ORIGIN;
          for (let i = 1; i <= N; i++) {
            last = offsetKm(ORIGIN, 0.01 * i);
            hubPeer.send({ type: 'location', seq: i, samples: [at(last.lat, last.lon)] });
          }
          await until(() => hubPeer.count('ack') === N, `${N} acks`);
          expect(hubPeer.ofType('error')).toEqual([]);
          const reached = last;
          await Promise.all(
            witnesses.map((w, i) =>
              w.waitFor((f) => f.type === 'friend_update' && f.friends.some((x) => x.userId === hub && x.lat === reached.lat), marks[i]),
            ),
          );
          await quiesce(c, friendCount + 1);
        });
        perUpdate[hub] = Object.fromEntries(Object.entries(updates.work).map(([name, calls]) => [name, calls / N]));
        console.log(
          `REDIS_COMMANDS_PER_UPDATE friends=${friendCount} ${JSON.stringify(perUpdate[hub])} background=${JSON.stringify(updates.background)}`,
        );
        // Exactly one cache write and one publish per update, and nothing else: no command per friend.
        expect(updates.work).toEqual({ set: N, publish: N });
        expect(updates.aboutFans).toEqual([]);

        for (const p of peers.splice(0)) p.socket.terminate();
        await slate.release();
        c.graph = new TestFriendGraph();
      }
      expect(perUpdate.hub5).toEqual(perUpdate.hub60);
    } finally {
      for (const p of peers.splice(0)) p.socket.terminate();
    }
  });
});

describe('Redis outage', () => {
  it('keeps every process and connection up, delivers locally meanwhile, and resumes cross-process delivery by itself', async (ctx) => {
    if (!redisAvailable()) return ctx.skip();
    const redis = await RedisServerProcess.start();
    let cluster: ClusterEnv | undefined;
    const peers: RawPeer[] = [];
    let ticker: ReturnType<typeof setInterval> | undefined;
    try {
      cluster = await startCluster({ servers: 3, redis, serverOptions: FAST_LOCATIONS });
      const c = cluster;
      // Two users on each process, all friends of each other.
      const users = range(c.size).flatMap((s) => [`u${s}a`, `u${s}b`]);
      const serverOf = (userId: string) => Number(userId.charAt(1));
      for (const a of users) for (const b of users) if (a < b) c.graph.link(a, b);

      // Positions encode the tick they were sent in, so every received entry tells when it was sent.
      // Each user walks north at their own speed (about 1 m per tick times their rank), so distances
      // between friends change at every tick and every update is worth sending.
      const STEP = 1e-5;
      const speedOf = (userId: string) => users.indexOf(userId) + 1;
      const pointAt = (userId: string, tick: number) => ({
        lat: ORIGIN.lat + tick * STEP * speedOf(userId),
        lon: ORIGIN.lon + users.indexOf(userId) * 1e-3,
      });
      const tickOf = (userId: string, lat: number) => Math.round((lat - ORIGIN.lat) / (STEP * speedOf(userId)));
      type Seen = { viewer: string; friend: string; tick: number; at: number; cross: boolean };
      const seen: Seen[] = [];
      const byUser = new Map<string, RawPeer>();
      for (const userId of users) {
        const p = await RawPeer.connect(c.urlFor(userId, serverOf(userId)));
        peers.push(p);
        byUser.set(userId, p);
        p.socket.on('message', (data) => {
          const frame = JSON.parse(data.toString()) as ServerFrame;
          if (frame.type !== 'friend_update') return;
          const now = performance.now();
          for (const f of frame.friends) {
            seen.push({ viewer: userId, friend: f.userId, tick: tickOf(f.userId, f.lat), at: now, cross: serverOf(f.userId) !== serverOf(userId) });
          }
        });
        const start = pointAt(userId, 0);
        await p.init({ location: at(start.lat, start.lon) });
      }

      let tick = 0;
      let seq = 0;
      ticker = setInterval(() => {
        tick++;
        for (const userId of users) {
          const point = pointAt(userId, tick);
          byUser.get(userId)!.send({ type: 'location', seq: ++seq, samples: [at(point.lat, point.lon)] });
        }
      }, 100);

      /** Every viewer has seen every friend matching `pair` with a position sent at or after `fromTick`. */
      const allSeen = (fromTick: number, pair: (viewer: string, friend: string) => boolean) => () =>
        users.every((viewer) =>
          users.every(
            (friend) =>
              viewer === friend ||
              !pair(viewer, friend) ||
              seen.some((s) => s.viewer === viewer && s.friend === friend && s.tick >= fromTick),
          ),
        );
      const local = (v: string, f: string) => serverOf(v) === serverOf(f);
      const cross = (v: string, f: string) => serverOf(v) !== serverOf(f);
      const everyone = () => true;
      const allOpen = () => peers.every((p) => p.socket.readyState === p.socket.OPEN);

      await until(allSeen(1, everyone), 'updates flow between all users');

      // Outage.
      await redis.kill();
      const killedAt = tick;
      // Local delivery goes on: for ~1.5 s of updates, users on the same process keep seeing each other.
      await until(allSeen(killedAt + 15, local), 'local delivery during the outage', 10_000);
      // Nothing crossed processes without Redis: no cross-process position sent after the kill arrived.
      expect(seen.filter((s) => s.cross && s.tick > killedAt)).toEqual([]);
      expect(allOpen()).toBe(true);
      expect(c.unexpectedExits).toEqual([]);
      for (const i of range(c.size)) {
        const stats = await c.stats(i);
        expect(stats.server.state).toBe('listening');
        expect(stats.server.connections).toBe(2);
        expect(stats.redis.subscriber).not.toBe('ready');
      }

      // Recovery: no call from the test, the processes reconnect and resubscribe by themselves.
      const restartTick = tick;
      const restartAt = performance.now();
      await redis.restart();
      const redisUpMs = performance.now() - restartAt;
      await until(() => seen.some((s) => s.cross && s.tick >= restartTick), 'the first cross-process update after the restart', 15_000);
      const first = seen.find((s) => s.cross && s.tick >= restartTick)!;
      const recoveryMs = Math.round(first.at - restartAt);
      console.log(`REDIS_RECOVERY_MS=${recoveryMs} (redis-server answering after ${Math.round(redisUpMs)} ms)`);
      // ioredis retries with a backoff capped at 2 s, so a process is back within about 2 s of Redis.
      expect(recoveryMs).toBeLessThan(10_000);
      // Every process resubscribed: every user sees every friend on the other processes again.
      await until(allSeen(restartTick, cross), 'cross-process delivery between all users', 10_000);
      expect(allOpen()).toBe(true);
      expect(c.unexpectedExits).toEqual([]);
      for (const i of range(c.size)) {
        const stats = await c.stats(i);
        expect(stats.redis).toEqual({ commands: 'ready', subscriber: 'ready' });
        expect(stats.pubsub.resubscribed).toBeGreaterThan(0);
      }
    } finally {
      if (ticker !== undefined) clearInterval(ticker);
      for (const p of peers) p.socket.terminate();
      await cluster?.close();
      await redis.stop();
    }
  }, 60_000);
});

describe('cluster lifecycle', () => {
  it('draining a process moves its clients to another one; friends elsewhere never see them go offline', async (ctx) => {
    if (!redisAvailable()) return ctx.skip();
    const redis = await RedisServerProcess.start();
    let cluster: ClusterEnv | undefined;
    const peers: RawPeer[] = [];
    try {
      cluster = await startCluster({ servers: 3, redis });
      const c = cluster;
      c.graph.link('alice', 'bob');
      const alice = await RawPeer.connect(c.urlFor('alice', 0));
      const bob = await RawPeer.connect(c.urlFor('bob', 1));
      peers.push(alice, bob);
      await alice.init({ location: at(ORIGIN.lat, ORIGIN.lon) });
      await bob.init({ location: at(offsetKm(ORIGIN, 1).lat, ORIGIN.lon) });
      await alice.waitFor((f) => f.type === 'friend_update');

      const bobMark = bob.frames.length;
      await c.drain(0, { windowMs: 0 });
      expect(await alice.waitFor((f) => f.type === 'reconnect')).toMatchObject({ reason: 'draining' });
      expect((await alice.closed).code).toBe(1012);
      expect((await c.stats(0)).server.state).toBe('draining');
      // A draining process takes no new connections.
      const refused = new RawPeer(c.urlFor('alice', 0));
      await expect(refused.opened).rejects.toThrow(/503/);

      // Alice reconnects to another process and carries on; Bob sees her next position.
      const again = await RawPeer.connect(c.urlFor('alice', 2));
      peers.push(again);
      await again.init();
      const there = offsetKm(ORIGIN, 0.5);
      again.send({ type: 'location', seq: 1, samples: [at(there.lat, there.lon)] });
      await bob.waitFor((f) => f.type === 'friend_update' && f.friends.some((x) => x.userId === 'alice' && x.lat === there.lat), bobMark);
      await quiesce(c, 2);
      await bob.sync();
      expect(bob.frames.slice(bobMark).filter((f) => f.type === 'friend_left')).toEqual([]);
    } finally {
      for (const p of peers) p.socket.terminate();
      await cluster?.close();
      await redis.stop();
    }
  });

  it('a crashed server process is reported, and close() still ends the others', async (ctx) => {
    if (!redisAvailable()) return ctx.skip();
    const redis = await RedisServerProcess.start();
    const cluster = await startCluster({ servers: 2, redis });
    try {
      const { pid } = await cluster.stats(1);
      process.kill(pid, 'SIGKILL');
      await until(() => !cluster.alive(1), 'the killed process is gone');
      expect(cluster.unexpectedExits).toMatchObject([{ serverIndex: 1, signal: 'SIGKILL' }]);
      await expect(cluster.stats(1)).rejects.toThrow(/not running/);
      expect((await cluster.stats(0)).server.state).toBe('listening');
    } finally {
      await cluster.close();
      await redis.stop();
    }
    expect(cluster.alive(0)).toBe(false);
  });
});

describe('Redis unreachable at startup', () => {
  it('listen() fails with adapter_unavailable naming the Redis address', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const adapters = createRedisAdapters({ url, connectTimeoutMs: 500 });
    const server = createNearbyServer({
      authenticate: () => null,
      friends: new TestFriendGraph(),
      cache: adapters.cache,
      pubsub: adapters.pubsub,
      settings: adapters.settings,
      presence: adapters.presence,
      port: 0,
      host: '127.0.0.1',
      onError: () => {},
    });
    try {
      const error: unknown = await server.listen().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(NearbyError);
      expect(error).toMatchObject({ code: 'adapter_unavailable' });
      expect((error as Error).message).toContain(url);
      expect(server.state).not.toBe('listening');
    } finally {
      await server.close();
      await adapters.close();
    }
  });

  it('a server process that cannot reach Redis reports it and exits; the cluster start fails with its error', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const started = performance.now();
    const error: unknown = await startCluster({ servers: 1, redis: { url }, connectTimeoutMs: 500 }).then(
      async (unexpected) => {
        await unexpected.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'adapter_unavailable' });
    expect((error as Error).message).toContain(url);
    expect(performance.now() - started).toBeLessThan(20_000);
  });
});
