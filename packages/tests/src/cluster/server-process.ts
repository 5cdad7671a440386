/**
 * Entry of one server process of a test cluster, forked by `cluster.ts` with
 * `--import tsx --conditions=@nearby/source`. It runs a real `createNearbyServer` on Redis
 * adapters, listening on a free loopback port; its friend graph lives in the parent (asked over
 * IPC), and the parent drives it with IPC calls (friendAdded, friendRemoved, stats, drain, fence,
 * close). It exits as soon as the parent goes away, so a crashed test never leaves it behind.
 */
import { createNearbyServer, tokenFromRequest, type FriendGraph, type NearbyServerOptions } from '@nearby/server';
import { createRedisAdapters, createShardedRedisAdapters, RedisClusterPubSub } from '@nearby/server/redis';
import { EtcdDiscovery } from '@nearby/server/etcd';
import {
  ENV,
  RemoteError,
  toWireError,
  type ChildMessage,
  type ChildStats,
  type ParentMessage,
  type ServerOp,
  type ShardedConfig,
} from './ipc.js';

/** Longest the child waits for the parent to answer a getFriends. */
const GET_FRIENDS_TIMEOUT_MS = 10_000;

if (process.send === undefined) {
  console.error('server-process.ts must be started with child_process.fork (it needs an IPC channel)');
  process.exit(2);
}

// The parent is gone (finished, crashed or killed): never outlive it.
process.on('disconnect', () => process.exit(0));

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) {
      resolve();
      return;
    }
    process.send!(message, undefined, {}, () => resolve());
  });
}

const redisUrl = process.env[ENV.redisUrl];
const serverId = process.env[ENV.serverId] ?? `child-${process.pid}`;
const debug = process.env[ENV.debug] !== undefined && process.env[ENV.debug] !== '';
const extraOptions = JSON.parse(process.env[ENV.options] ?? '{}') as Partial<NearbyServerOptions>;
const connectTimeoutMs = Number(process.env[ENV.connectTimeoutMs] ?? 5_000);
const livenessTtl = process.env[ENV.livenessTtlMs];
const liveness = livenessTtl === undefined || livenessTtl === '' ? {} : { livenessTtlMs: Number(livenessTtl) };

let nextRequestId = 1;
const pendingFriends = new Map<number, { resolve: (friends: string[]) => void; reject: (error: Error) => void }>();

/** The parent's TestFriendGraph, asked over IPC. */
const friends: FriendGraph = {
  getFriends(userId) {
    const id = nextRequestId++;
    return new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        pendingFriends.delete(id);
        reject(new Error(`the test process did not answer getFriends(${userId}) within ${GET_FRIENDS_TIMEOUT_MS} ms`));
      }, GET_FRIENDS_TIMEOUT_MS);
      pendingFriends.set(id, {
        resolve: (list) => {
          clearTimeout(timer);
          resolve(list);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      void send({ type: 'getFriends', id, userId });
    });
  },
};

let errorCount = 0;
const lastErrors: string[] = [];

/** The adapters, single-Redis or sharded, behind one face for stats, fences and shutdown. */
interface Adapters {
  cache: NonNullable<NearbyServerOptions['cache']>;
  pubsub: NonNullable<NearbyServerOptions['pubsub']> & { readonly stats: ChildStats['pubsub'] };
  settings: NonNullable<NearbyServerOptions['settings']>;
  presence: NonNullable<NearbyServerOptions['presence']>;
  connections(): Record<string, string>;
  ring(): string[] | undefined;
  fence(connection: 'commands' | 'subscriber'): Promise<void>;
  close(): Promise<void>;
}

function singleRedis(): Adapters {
  const redis = createRedisAdapters({ url: redisUrl, connectTimeoutMs, ...liveness });
  return {
    cache: redis.cache,
    pubsub: redis.pubsub,
    settings: redis.settings,
    presence: redis.presence,
    connections: () => ({ commands: redis.commands.status, subscriber: redis.subscriber.status }),
    ring: () => undefined,
    fence: async (connection) => void (await (connection === 'commands' ? redis.commands : redis.subscriber).ping()),
    close: () => redis.close(),
  };
}

function shardedRedis(config: ShardedConfig): Adapters {
  const discovery = new EtcdDiscovery({ hosts: config.etcdUrl, prefix: config.prefix, connectTimeoutMs });
  const redis = createShardedRedisAdapters({
    discovery,
    primaryUrl: config.primaryUrl,
    transitionMs: config.transitionMs,
    handoverMs: config.handoverMs,
    connectTimeoutMs,
    ...liveness,
    onError: (error) => {
      if (debug) console.error(`[${serverId}] redis`, error instanceof Error ? error.message : error);
    },
  });
  const shards = () => redis.pool.current();
  return {
    cache: redis.cache,
    pubsub: redis.pubsub,
    settings: redis.settings,
    presence: redis.presence,
    connections: () => Object.fromEntries(shards().map((shard) => [shard.node.id, `${shard.commands.status}/${shard.subscriber.status}`])),
    ring: () => redis.pool.ring.nodes.map((node) => node.id),
    fence: async (connection) => {
      await Promise.all(shards().map((shard) => (connection === 'commands' ? shard.commands : shard.subscriber).ping() as Promise<unknown>));
    },
    close: async () => {
      await redis.close();
      await discovery.close();
    },
  };
}

/** Pub/Sub on a Redis Cluster (sharded Pub/Sub), everything else on one Redis. */
function clusterPubSub(masters: string[]): Adapters {
  const redis = createRedisAdapters({ url: redisUrl, connectTimeoutMs, ...liveness });
  const pubsub = new RedisClusterPubSub({ nodes: masters, connectTimeoutMs });
  return {
    cache: redis.cache,
    pubsub,
    settings: redis.settings,
    presence: redis.presence,
    connections: () => ({ commands: redis.commands.status, subscribers: String(pubsub.stats.nodes) }),
    ring: () => undefined,
    fence: async (connection) => {
      // The single Redis carries no Pub/Sub here: only its command connection is in use.
      if (connection === 'commands') await Promise.all([redis.commands.ping(), pubsub.fence('publishers')]);
      else await pubsub.fence('subscribers');
    },
    close: async () => {
      await pubsub.close();
      await redis.close();
    },
  };
}

const shardedConfig = process.env[ENV.sharded];
const clusterConfig = process.env[ENV.redisCluster];
const redis =
  shardedConfig !== undefined && shardedConfig !== ''
    ? shardedRedis(JSON.parse(shardedConfig) as ShardedConfig)
    : clusterConfig !== undefined && clusterConfig !== ''
      ? clusterPubSub(JSON.parse(clusterConfig) as string[])
      : singleRedis();
const server = createNearbyServer({
  authenticate: (request) => {
    const token = tokenFromRequest(request);
    return token !== null && token.startsWith('token-') ? token.slice('token-'.length) : null;
  },
  friends,
  onError: (error) => {
    errorCount++;
    const message = error instanceof Error ? error.message : String(error);
    lastErrors.push(message);
    if (lastErrors.length > 5) lastErrors.shift();
    if (debug) console.error(`[${serverId}]`, message);
  },
  ...extraOptions,
  cache: redis.cache,
  pubsub: redis.pubsub,
  settings: redis.settings,
  presence: redis.presence,
  serverId,
  port: 0,
  host: '127.0.0.1',
});

async function run(call: ServerOp): Promise<unknown> {
  switch (call.op) {
    case 'friendAdded':
      return server.friendAdded(call.a, call.b);
    case 'friendRemoved':
      return server.friendRemoved(call.a, call.b);
    case 'stats': {
      const stats: ChildStats = {
        serverId,
        pid: process.pid,
        server: server.stats(),
        pubsub: redis.pubsub.stats,
        redis: redis.connections(),
        ...(redis.ring() === undefined ? {} : { ring: redis.ring()! }),
        errors: errorCount,
        lastErrors: [...lastErrors],
      };
      return stats;
    }
    case 'drain':
      return server.drain({
        ...(call.windowMs === undefined ? {} : { windowMs: call.windowMs }),
        ...(call.waves === undefined ? {} : { waves: call.waves }),
      });
    case 'fence':
      await redis.fence(call.connection);
      return undefined;
    case 'close':
      await shutdown();
      return undefined;
  }
}

let closing: Promise<void> | undefined;
function shutdown(): Promise<void> {
  closing ??= (async () => {
    await server.close();
    await redis.close();
  })();
  return closing;
}

process.on('message', (message: ParentMessage) => {
  if (message.type === 'friends') {
    const pending = pendingFriends.get(message.id);
    if (pending === undefined) return;
    pendingFriends.delete(message.id);
    if (message.ok) pending.resolve(message.friends);
    else pending.reject(new RemoteError(message.error, 'friend graph'));
    return;
  }
  if (message.type !== 'call') return;
  const { id } = message;
  run(message).then(
    async (value) => {
      await send({ type: 'result', id, ok: true, value: value ?? null });
      if (message.op === 'close') process.exit(0);
    },
    async (error: unknown) => {
      await send({ type: 'result', id, ok: false, error: toWireError(error) });
      if (message.op === 'close') process.exit(1);
    },
  );
});

try {
  const { port } = await server.listen();
  await send({ type: 'ready', port, serverId });
} catch (error) {
  await send({ type: 'fatal', error: toWireError(error) });
  await redis.close().catch(() => undefined);
  process.exit(1);
}
