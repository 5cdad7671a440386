/**
 * One Nearby server process: Redis adapters, the shared friend graph, token = user id.
 * Started by main.ts with `child_process.fork`; talks to it over the IPC channel (see ipc.ts).
 */
import { createServer as createHttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { createHealthHandlers, createNearbyServer, tokenFromRequest, type FriendGraph } from '@nearby/server';
import { createPrometheusMetrics } from '@nearby/server/metrics';
import { createRedisAdapters } from '@nearby/server/redis';
import { Registry } from 'prom-client';
import type { FromServer, ServerConfig, ToServer } from './ipc.js';
import { buildFriendGraph } from './world.js';

const config = JSON.parse(process.argv[2] ?? '{}') as ServerConfig;
const send = (message: FromServer) =>
  new Promise<void>((resolve) => {
    if (process.send === undefined) resolve();
    else process.send(message, undefined, undefined, () => resolve());
  });

// Same seed, same graph as every other process.
const graph = buildFriendGraph(config.users, config.seed);
const friends: FriendGraph = { getFriends: async (userId) => [...(graph.get(userId) ?? [])] };

let errors = 0;
let lastError: string | undefined;
const onError = (error: unknown) => {
  errors++;
  lastError = error instanceof Error ? error.message : String(error);
};

// Which users have a socket open here, only for the display (the server does not need it).
const local = new Map<string, Socket>();

const redis = createRedisAdapters({ url: config.redisUrl, onError });
// With --metrics-port-base: Prometheus metrics on a registry of this process's own.
const metrics = config.metricsPort === undefined ? undefined : createPrometheusMetrics({ registry: new Registry() });
const server = createNearbyServer({
  // A demo, not an auth scheme: the token is the user id.
  authenticate: (request) => {
    const userId = tokenFromRequest(request);
    if (userId === null || !graph.has(userId)) return null;
    const socket = request.socket as Socket;
    local.set(userId, socket);
    socket.once('close', () => {
      if (local.get(userId) === socket) local.delete(userId);
    });
    return userId;
  },
  friends,
  cache: redis.cache,
  pubsub: redis.pubsub,
  settings: redis.settings,
  presence: redis.presence,
  port: 0,
  host: '127.0.0.1',
  // The crowd flushes every 1.5 s (30 s sped up 20×); the default allows one location frame per 2 s.
  rateLimit: { locations: { capacity: 20, refillPerSecond: 2 } },
  onError,
  ...(metrics === undefined ? {} : { telemetry: metrics }),
});

// The operations port: what Prometheus scrapes and what a load balancer or orchestrator probes.
const health = createHealthHandlers(server);
const operations = createHttpServer((request, response) => {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  if (path === '/healthz') return health.liveness(request, response);
  if (path === '/readyz') return health.readiness(request, response);
  if (path === '/metrics' && metrics !== undefined) {
    void metrics.registry.metrics().then((text) => {
      response.writeHead(200, { 'content-type': metrics.registry.contentType });
      response.end(text);
    });
    return;
  }
  response.writeHead(404, { 'content-type': 'text/plain' });
  response.end('Not found\n');
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  // The crowd has normally closed its clients already; anyone left gets a reconnect frame and 1012.
  await server.drain({ windowMs: 0 });
  await server.close();
  await redis.close(); // adapters we passed in are ours to close, after server.close()
  metrics?.close();
  operations.close();
  process.exit(0);
}

process.on('message', (message: ToServer) => {
  if (message.type === 'stop') void stop();
  if (message.type === 'stats') {
    void send({ type: 'stats', stats: server.stats(), pubsub: redis.pubsub.stats, users: [...local.keys()], errors, lastError });
  }
});
// Ctrl+C reaches the whole process group; the main process decides the order of shutdown.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => void stop());
// The main process is gone (crashed or killed): do not linger as an orphan.
process.on('disconnect', () => void stop());

try {
  const { port } = await server.listen(); // waits for both Redis connections (5 s at most)
  if (config.metricsPort !== undefined) {
    await new Promise<void>((resolve, reject) => {
      operations.once('error', reject);
      operations.listen(config.metricsPort, '127.0.0.1', () => resolve());
    });
  }
  await send({ type: 'ready', port, serverId: server.serverId });
} catch (error) {
  await send({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
  await redis.close();
  process.exit(1);
}
