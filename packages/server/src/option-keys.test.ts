import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Etcd3 } from 'etcd3';
import { ErrorCode, NearbyError } from '@nearby/protocol';
import { resolveOptions, type NearbyServerOptions } from './options.js';
import { createNearbyServer } from './server.js';
import { createNearbyEngine } from './core/engine.js';
import { MemoryHistoryStore } from './adapters/memory/history-store.js';
import { MemoryLocationCache } from './adapters/memory/location-cache.js';
import { MemoryPresenceRegistry } from './adapters/memory/presence-registry.js';
import { MemoryPubSub, MemoryPubSubHub } from './adapters/memory/pubsub.js';
import { MemorySettingsStore } from './adapters/memory/settings-store.js';
import {
  RedisClusterPubSub,
  RedisLocationCache,
  RedisPresenceRegistry,
  RedisPubSub,
  RedisSettingsStore,
  RedisShardPool,
  ShardedRedisLocationCache,
  ShardedRedisPubSub,
  createRedisAdapters,
  createShardedRedisAdapters,
} from './adapters/redis/index.js';
import { PostgresHistoryStore, createPostgresHistoryStore } from './adapters/postgres/index.js';
import { createPgliteHistoryStore } from './adapters/pglite/index.js';
import { EtcdDiscovery } from './adapters/etcd/index.js';
import { HashRing } from './sharding/hash-ring.js';
import { StaticDiscovery } from './sharding/static-discovery.js';
import { manualTimers } from './manual-timers.test-support.js';

/**
 * Unknown option keys are refused at every level, naming the key with its path and the nearest
 * known key; every documented option is still accepted. Nothing here connects: the Redis,
 * PostgreSQL and etcd clients are real ones that connect lazily, and are closed after each test.
 */

type Options = Record<string, unknown>;

/** The message of the invalid_argument NearbyError `run` throws. */
function refusal(run: () => unknown): string {
  let error: unknown;
  try {
    run();
  } catch (caught) {
    error = caught;
  }
  expect(error, 'expected an invalid_argument NearbyError').toBeInstanceOf(NearbyError);
  expect((error as NearbyError).code).toBe(ErrorCode.INVALID_ARGUMENT);
  return (error as Error).message;
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function lazyRedis(): Redis {
  const client = new Redis({ lazyConnect: true, port: 1 });
  cleanups.push(() => client.disconnect());
  return client;
}

const timers = () => manualTimers();
const friends = { getFriends: async () => [] as string[] };
const discovery = () => new StaticDiscovery([{ id: 'a', url: 'redis://127.0.0.1:1' }]);

/** Every option of the engine, each with a valid value. */
function fullEngineOptions(): Options {
  return {
    friends,
    cache: new MemoryLocationCache(),
    pubsub: new MemoryPubSub(),
    settings: new MemorySettingsStore(),
    presence: new MemoryPresenceRegistry(),
    history: new MemoryHistoryStore(),
    radiusKm: 5,
    maxRadiusKm: 40,
    inactiveAfterMs: 60_000,
    maxFriends: 100,
    distanceRefreshKm: 0.2,
    inboundSliceFrames: 16,
    rateLimit: {
      frames: { capacity: 10, refillPerSecond: 5 },
      locations: { capacity: 5, refillPerSecond: 1 },
      maxConsecutiveDrops: 10,
    },
    idleTimeoutMs: 30_000,
    sweepIntervalMs: 1_000,
    drainWindowMs: 1_000,
    historyWriter: { maxBatchSamples: 100, maxPendingSamples: 1_000, timeoutMs: 5_000 },
    channelPrefix: 'n:u:',
    busProbeIntervalMs: 500,
    probeChannelPrefix: 'n:probe:',
    serverId: 'srv-1',
    onError: () => {},
    timers: timers(),
    random: () => 0.5,
    logger: undefined,
    telemetry: undefined,
    strangers: {
      enabled: true,
      precision: 5,
      displayPrecision: 6,
      maxPerViewer: 10,
      refreshMs: 2_000,
      publishIntervalMs: 2_000,
      canSeeCacheMs: 30_000,
      secret: 'a-secret-of-sixteen-plus',
      allow: () => true,
      canSee: () => true,
      identify: () => undefined,
      channelPrefix: 'n:g:',
    },
  };
}

function fullServerOptions(): Options {
  return { ...fullEngineOptions(), authenticate: () => 'u', port: 0, host: '127.0.0.1', path: '/ws', maxPayloadBytes: 4096 };
}

const resolveServer = (options: Options) => resolveOptions(options as unknown as NearbyServerOptions);
const makeEngine = (options: Options) => createNearbyEngine(options as never);

/** The server and the engine, whose options nest. */
const makeServer = (options: Options) => {
  const server = createNearbyServer(options as unknown as NearbyServerOptions);
  cleanups.push(() => server.close());
  return server;
};

const nesting: { name: string; make: (options: Options) => unknown; full: () => Options }[] = [
  { name: 'createNearbyServer options', make: makeServer, full: fullServerOptions },
  { name: 'resolveOptions (the server’s)', make: resolveServer, full: fullServerOptions },
  { name: 'createNearbyEngine options', make: makeEngine, full: fullEngineOptions },
];

describe.each(nesting)('$name', ({ make, full }) => {
  it('accept every documented option', () => {
    expect(() => make(full())).not.toThrow();
  });

  it('refuse a misspelled top-level key, suggesting the right one', () => {
    expect(refusal(() => make({ ...full(), radiusKM: 5 }))).toBe('unknown option radiusKM — did you mean radiusKm?');
    expect(refusal(() => make({ ...full(), drainWindow: 5 }))).toBe('unknown option drainWindow — did you mean drainWindowMs?');
    expect(refusal(() => make({ ...full(), bananas: 1 }))).toBe('unknown option bananas');
  });

  it('refuse a misspelled nested key, naming its path', () => {
    const options = full();
    const rateLimit = options.rateLimit as Options;
    expect(refusal(() => make({ ...options, rateLimit: { ...rateLimit, frame: { capacity: 1 } } }))).toBe(
      'unknown option rateLimit.frame — did you mean rateLimit.frames?',
    );
    expect(refusal(() => make({ ...options, rateLimit: { ...rateLimit, maxConsecutiveDrop: 1 } }))).toBe(
      'unknown option rateLimit.maxConsecutiveDrop — did you mean rateLimit.maxConsecutiveDrops?',
    );
    expect(refusal(() => make({ ...options, rateLimit: { frames: { capacity: 1, refilPerSecond: 1 } } }))).toBe(
      'unknown option rateLimit.frames.refilPerSecond — did you mean rateLimit.frames.refillPerSecond?',
    );
    expect(refusal(() => make({ ...options, rateLimit: { locations: { Capacity: 1 } } }))).toBe(
      'unknown option rateLimit.locations.Capacity — did you mean rateLimit.locations.capacity?',
    );
    expect(refusal(() => make({ ...options, historyWriter: { maxBatch: 10 } }))).toBe(
      'unknown option historyWriter.maxBatch — did you mean historyWriter.maxBatchSamples?',
    );
    expect(refusal(() => make({ ...options, historyWriter: { flushEvery: 10 } }))).toBe('unknown option historyWriter.flushEvery');
    expect(refusal(() => make({ ...options, rateLimit: 5 }))).toMatch(/^rateLimit must be an object/);
    const strangers = options.strangers as Options;
    expect(refusal(() => make({ ...options, strangers: { ...strangers, maxPerviewer: 5 } }))).toBe(
      'unknown option strangers.maxPerviewer — did you mean strangers.maxPerViewer?',
    );
    expect(refusal(() => make({ ...options, strangers: { ...strangers, precission: 5 } }))).toBe(
      'unknown option strangers.precission — did you mean strangers.precision?',
    );
  });

  it('do not look into objects the host supplies', () => {
    const options = full();
    // Extra members of the host's own objects are theirs.
    const withExtras = {
      ...options,
      friends: { ...friends, extra: 1 },
      timers: Object.assign(timers(), { extra: 1 }),
      cache: Object.assign(new MemoryLocationCache(), { extra: 1 }),
    };
    expect(() => make(withExtras)).not.toThrow();
  });
});

describe('createNearbyServer options', () => {
  it('know the server-only keys and the attached http server', () => {
    const server = createServer();
    const { port: _port, ...options } = fullServerOptions();
    expect(() => resolveServer({ ...options, server })).not.toThrow();
    expect(refusal(() => resolveServer({ ...options, server, maxPayload: 1 }))).toBe(
      'unknown option maxPayload — did you mean maxPayloadBytes?',
    );
    expect(refusal(() => resolveServer({ ...fullServerOptions(), Path: '/x' }))).toBe('unknown option Path — did you mean path?');
  });

  it('are checked for unknown keys before anything else', () => {
    expect(refusal(() => resolveServer({ authenticat: () => 'u' }))).toBe(
      'unknown option authenticat — did you mean authenticate?',
    );
  });

  it('are refused by the engine when they are not the engine’s', () => {
    expect(refusal(() => makeEngine({ ...fullEngineOptions(), maxPayloadBytes: 1 }))).toBe('unknown option maxPayloadBytes');
  });
});

describe('drain options', () => {
  it('accept windowMs and waves, and refuse anything else with a suggestion', async () => {
    const engine = createNearbyEngine({ friends, timers: timers() });
    await expect(engine.drain({ windowMS: 0 } as never)).rejects.toThrow('unknown option windowMS — did you mean windowMs?');
    await expect(engine.drain({ wave: 2 } as never)).rejects.toThrow('unknown option wave — did you mean waves?');
    await expect(engine.drain({ hurry: true } as never)).rejects.toThrow(/^unknown option hurry$/);
    expect(engine.state).toBe('idle');
    await engine.drain({ windowMs: 0, waves: 2 });
    await engine.close();
  });
});

interface Factory {
  name: string;
  /** Every documented option with a valid value. */
  full: () => Options;
  make: (options: Options) => { close?: () => Promise<unknown> | unknown } | void;
  /** A misspelled key, and the key it should be. */
  typo: [given: string, meant: string];
}

const factories: Factory[] = [
  {
    name: 'createRedisAdapters',
    full: () => ({
      url: 'redis://127.0.0.1:1',
      redis: { password: 'x' },
      keyPrefix: 'n:',
      connectTimeoutMs: 100,
      livenessTtlMs: 3_000,
      onError: () => {},
      timers: timers(),
    }),
    make: (options) => createRedisAdapters(options),
    typo: ['keyprefix', 'keyPrefix'],
  },
  {
    name: 'RedisLocationCache',
    full: () => ({ client: lazyRedis(), keyPrefix: 'n:', connectTimeoutMs: 100, ownsClient: false, timers: timers() }),
    make: (options) => new RedisLocationCache(options as never),
    typo: ['connectTimeout', 'connectTimeoutMs'],
  },
  {
    name: 'RedisSettingsStore',
    full: () => ({ client: lazyRedis(), keyPrefix: 'n:', connectTimeoutMs: 100, ownsClient: false, timers: timers() }),
    make: (options) => new RedisSettingsStore(options as never),
    typo: ['ownClient', 'ownsClient'],
  },
  {
    name: 'RedisPresenceRegistry',
    full: () => ({
      client: lazyRedis(),
      keyPrefix: 'n:',
      connectTimeoutMs: 100,
      ownsClient: false,
      livenessTtlMs: 3_000,
      timers: timers(),
    }),
    make: (options) => new RedisPresenceRegistry(options as never),
    typo: ['livenessTTLMs', 'livenessTtlMs'],
  },
  {
    name: 'RedisPubSub',
    full: () => ({
      publisher: lazyRedis(),
      subscriber: lazyRedis(),
      batchSize: 10,
      connectTimeoutMs: 100,
      ownsClients: false,
      timers: timers(),
    }),
    make: (options) => new RedisPubSub(options as never),
    typo: ['batchsize', 'batchSize'],
  },
  {
    name: 'RedisShardPool',
    full: () => ({
      discovery: discovery(),
      redis: { password: 'x' },
      virtualNodes: 8,
      connectTimeoutMs: 100,
      handoverMs: 1_000,
      onError: () => {},
      timers: timers(),
    }),
    make: (options) => new RedisShardPool(options as never),
    typo: ['handover', 'handoverMs'],
  },
  {
    name: 'ShardedRedisPubSub',
    full: () => ({
      discovery: discovery(),
      redis: { password: 'x' },
      virtualNodes: 8,
      connectTimeoutMs: 100,
      onError: () => {},
      transitionMs: 100,
      channelPrefix: 'n:u:',
      timers: timers(),
    }),
    make: (options) => new ShardedRedisPubSub(options as never),
    typo: ['transitonMs', 'transitionMs'],
  },
  {
    name: 'ShardedRedisLocationCache',
    full: () => ({ pool: new RedisShardPool({ discovery: discovery() }), keyPrefix: 'n:' }),
    make: (options) => void new ShardedRedisLocationCache(options as never),
    typo: ['prefix', 'keyPrefix'],
  },
  {
    name: 'createShardedRedisAdapters',
    full: () => ({
      discovery: discovery(),
      primaryUrl: 'redis://127.0.0.1:1',
      redis: { password: 'x' },
      keyPrefix: 'n:',
      channelPrefix: 'n:u:',
      virtualNodes: 8,
      connectTimeoutMs: 100,
      livenessTtlMs: 3_000,
      transitionMs: 100,
      handoverMs: 1_000,
      onError: () => {},
      timers: timers(),
    }),
    make: (options) => createShardedRedisAdapters(options as never),
    typo: ['primaryURL', 'primaryUrl'],
  },
  {
    name: 'RedisClusterPubSub',
    full: () => ({
      nodes: ['redis://127.0.0.1:1', { host: '127.0.0.1', port: 2 }],
      redis: { password: 'x' },
      connectTimeoutMs: 100,
      onError: () => {},
      batchSize: 10,
      verifyIntervalMs: 1_000,
      timers: timers(),
    }),
    make: (options) => new RedisClusterPubSub(options as never),
    typo: ['verifyInterval', 'verifyIntervalMs'],
  },
  {
    name: 'PostgresHistoryStore',
    full: () => {
      const pool = new pg.Pool({ connectionString: 'postgres://127.0.0.1:1/x' });
      cleanups.push(() => pool.end());
      return {
        client: pool,
        table: 'h',
        maxBatchSamples: 10,
        maxInFlightBatches: 1,
        pageSize: 10,
        migrate: false,
        describe: 'a test database',
        onClose: async () => {},
      };
    },
    make: (options) => new PostgresHistoryStore(options as never),
    typo: ['pagesize', 'pageSize'],
  },
  {
    name: 'createPostgresHistoryStore',
    full: () => ({
      connectionString: 'postgres://127.0.0.1:1/x',
      pool: { max: 1 },
      table: 'h',
      maxBatchSamples: 10,
      maxInFlightBatches: 1,
      pageSize: 10,
      migrate: false,
    }),
    make: (options) => createPostgresHistoryStore(options as never),
    typo: ['connectionURL', 'connectionString'],
  },
  {
    name: 'createPgliteHistoryStore',
    full: () => ({ table: 'h', maxBatchSamples: 10, maxInFlightBatches: 1, pageSize: 10, migrate: false }),
    make: (options) => createPgliteHistoryStore(options as never),
    typo: ['datadir', 'dataDir'],
  },
  {
    name: 'EtcdDiscovery',
    full: () => ({
      hosts: ['http://127.0.0.1:1'],
      etcd: { dialTimeout: 100 },
      prefix: 'n/nodes/',
      connectTimeoutMs: 100,
      maxReconnectDelayMs: 100,
      onError: () => {},
      timers: timers(),
    }),
    make: (options) => new EtcdDiscovery(options),
    typo: ['host', 'hosts'],
  },
  {
    name: 'EtcdDiscovery with a client',
    full: () => {
      const client = new Etcd3({ hosts: 'http://127.0.0.1:1' });
      cleanups.push(() => client.close());
      return { client, prefix: 'n/nodes/' };
    },
    make: (options) => new EtcdDiscovery(options),
    typo: ['prefx', 'prefix'],
  },
  {
    name: 'HashRing',
    full: () => ({ virtualNodes: 4 }),
    make: (options) => void new HashRing([{ id: 'a' }], options),
    typo: ['virtualnode', 'virtualNodes'],
  },
  {
    name: 'MemoryLocationCache',
    full: () => ({ timers: timers(), now: () => 0 }),
    make: (options) => void new MemoryLocationCache(options),
    typo: ['timer', 'timers'],
  },
  {
    name: 'MemoryPubSub',
    full: () => ({ hub: new MemoryPubSubHub() }),
    make: (options) => new MemoryPubSub(options),
    typo: ['Hub', 'hub'],
  },
  {
    name: 'MemoryHistoryStore',
    full: () => ({ maxSamplesPerUser: 10 }),
    make: (options) => void new MemoryHistoryStore(options),
    typo: ['maxSamples', 'maxSamplesPerUser'],
  },
];

describe.each(factories)('$name options', ({ full, make, typo: [given, meant] }) => {
  function made(options: Options): void {
    const result = make(options);
    if (result && typeof result.close === 'function') cleanups.push(() => result.close?.());
  }

  it('accept every documented option', () => {
    expect(() => made(full())).not.toThrow();
  });

  it('refuse a misspelled key, suggesting the right one', () => {
    expect(refusal(() => made({ ...full(), [given]: 1 }))).toBe(`unknown option ${given} — did you mean ${meant}?`);
  });

  it('refuse a far-off key without a suggestion', () => {
    expect(refusal(() => made({ ...full(), wobble: 1 }))).toBe('unknown option wobble');
  });
});
