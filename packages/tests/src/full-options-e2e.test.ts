import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { Redis } from 'ioredis';
import { NearbyClient, type NearbyClientOptions, type WebSocketConstructor } from '@nearby/client';
import { ErrorCode, NearbyError } from '@nearby/protocol';
import { MemoryHistoryStore, createNearbyServer, tokenFromRequest, type NearbyServer } from '@nearby/server';
import { createRedisAdapters, type RedisAdapters } from '@nearby/server/redis';
import { RedisServerProcess, redisAvailable } from './helpers/redis-server.js';
import { TestFriendGraph, tokenFor } from './helpers/server-resource.js';
import { ORIGIN, offsetKm } from './helpers/geo.js';

/**
 * A server on a real redis-server and two clients, each configured with every documented
 * option: a full configuration is accepted and works, while a misspelled key is refused before
 * anything connects.
 */
const available = redisAvailable();
let redis: RedisServerProcess;
let adapters: RedisAdapters | undefined;
let server: NearbyServer | undefined;
const clients: NearbyClient[] = [];

/** The global timers, as an object of their own (the `timers` option is given explicitly). */
const timers = {
  now: () => Date.now(),
  setTimeout: (callback: () => void, ms: number) => setTimeout(callback, ms),
  clearTimeout: (handle: unknown) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

beforeAll(async () => {
  if (available) redis = await RedisServerProcess.start();
}, 30_000);

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await server?.close();
  server = undefined;
  await adapters?.close();
  adapters = undefined;
});

afterAll(async () => {
  if (available) await redis.stop();
});

function fullRedisOptions() {
  return {
    url: redis.url,
    redis: { db: 0 },
    keyPrefix: 'full:',
    connectTimeoutMs: 5_000,
    livenessTtlMs: 3_000,
    onError: () => {},
    timers,
  };
}

function clientWithEveryOption(userId: string, url: string): NearbyClient {
  const memory = new Map<string, string>();
  const listeners = { subscribe: () => () => {} };
  const options: Required<Omit<NearbyClientOptions, 'token'>> = {
    url,
    getToken: async () => tokenFor(userId),
    tokenParam: 'access_token',
    radiusKm: 20,
    sharing: true,
    discoverable: false,
    seeStrangers: false,
    flushIntervalMs: 200,
    significantMoveMeters: 100,
    maxBufferedSamples: 100,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200, multiplier: 2 },
    heartbeat: { intervalMs: 5_000, timeoutMs: 5_000 },
    connectTimeoutMs: 5_000,
    ackTimeoutMs: 10_000,
    inactiveAfterMs: 600_000,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    appState: { isForeground: () => true, ...listeners },
    network: { isOnline: () => true, ...listeners },
    backgroundTimeoutMs: 30_000,
    storage: {
      getItem: async (key) => memory.get(key) ?? null,
      setItem: async (key, value) => void memory.set(key, value),
      removeItem: async (key) => void memory.delete(key),
    },
    storageKey: `outbox:${userId}`,
    timers,
    random: () => 0.5,
    onListenerError: (error) => {
      throw error;
    },
  };
  const client = new NearbyClient(options);
  client.on('error', () => {});
  clients.push(client);
  return client;
}

describe('every documented option at once', () => {
  it('a server on Redis and two clients, each given every option, see each other', async (ctx) => {
    if (!available) return ctx.skip();
    adapters = createRedisAdapters(fullRedisOptions());
    const graph = new TestFriendGraph();
    graph.link('alice', 'bob');
    const { cache, pubsub, settings, presence } = adapters;
    server = createNearbyServer({
      authenticate: (request) => tokenFromRequest(request)?.replace(/^token-/, '') ?? null,
      friends: graph,
      cache,
      pubsub,
      settings,
      presence,
      history: new MemoryHistoryStore({ maxSamplesPerUser: 100 }),
      radiusKm: 10,
      maxRadiusKm: 40,
      inactiveAfterMs: 600_000,
      maxFriends: 100,
      distanceRefreshKm: 0.05,
      inboundSliceFrames: 32,
      rateLimit: {
        frames: { capacity: 100, refillPerSecond: 50 },
        locations: { capacity: 50, refillPerSecond: 10 },
        maxConsecutiveDrops: 50,
      },
      idleTimeoutMs: 60_000,
      sweepIntervalMs: 1_000,
      drainWindowMs: 0,
      historyWriter: { maxBatchSamples: 100, maxPendingSamples: 1_000, timeoutMs: 5_000 },
      channelPrefix: 'full:u:',
      busProbeIntervalMs: 500,
      probeChannelPrefix: 'full:probe:',
      serverId: 'srv-full',
      onError: () => {},
      timers,
      random: () => 0.5,
      port: 0,
      host: '127.0.0.1',
      path: '/full',
      maxPayloadBytes: 8 * 1024,
    });
    const { port } = await server.listen();
    const url = `ws://127.0.0.1:${port}/full`;
    const alice = clientWithEveryOption('alice', url);
    const bob = clientWithEveryOption('bob', url);
    alice.updateLocation(ORIGIN);
    bob.updateLocation(offsetKm(ORIGIN, 3));
    alice.connect();
    bob.connect();
    await Promise.all([alice.whenConnected(), bob.whenConnected()]);
    await vi.waitFor(() => expect(alice.getSnapshot().friends.map((f) => f.userId)).toEqual(['bob']), { timeout: 5_000 });
    expect(alice.getSnapshot()).toMatchObject({ userId: 'alice', radiusKm: 20 });
    expect(alice.getSnapshot().friends[0]!.distanceKm).toBeCloseTo(3, 1);
    await server.drain({ windowMs: 0, waves: 1 });
  });

  it('a misspelled Redis option is refused before any connection is opened', async (ctx) => {
    if (!available) return ctx.skip();
    const observer = new Redis(redis.url);
    try {
      const before = (await observer.client('LIST')) as string;
      let error: unknown;
      try {
        createRedisAdapters({ ...fullRedisOptions(), keyprefix: 'x:' } as never);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(NearbyError);
      expect(error).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, message: 'unknown option keyprefix — did you mean keyPrefix?' });
      const after = (await observer.client('LIST')) as string;
      expect(after.trim().split('\n')).toHaveLength(before.trim().split('\n').length);
    } finally {
      observer.disconnect();
    }
  });
});
