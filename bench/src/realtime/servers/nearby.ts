/**
 * Contender 1: Nearby as a host application embeds it — `createNearbyServer` with the Redis
 * adapters (location cache, Pub/Sub, settings and presence on the benchmark's redis-server), the scenario's friend
 * graph, the token as the user id, relaxed rate limits and the in-memory history store capped
 * at 16 samples per user so memory stays flat. `nearby-memory` is the same server on its
 * in-memory defaults (cache, Pub/Sub, settings, presence): one process, no Redis.
 * `nearby-metrics` is the Redis one with the Prometheus exporter of `@nearby/server/metrics`
 * on its own registry, scraped every 5 s as a Prometheus server would, so that the cost of
 * metrics shows as the difference between the two in the same run. `nearby-strangers` is the
 * Redis one with nearby people on (`strangers`), every user discoverable and seeing strangers.
 */
import { createNearbyServer, MemoryHistoryStore, tokenFromRequest } from '@nearby/server';
import { createPrometheusMetrics } from '@nearby/server/metrics';
import { createRedisAdapters } from '@nearby/server/redis';
import { Registry } from 'prom-client';
import type { Scenario } from '../scenario.js';
import type { ContenderServer, StartServer } from './types.js';

export const startNearby: StartServer = (scenario, redisUrl) => start(scenario, redisUrl, true, false);
export const startNearbyMemory: StartServer = (scenario, redisUrl) => start(scenario, redisUrl, false, false);
export const startNearbyMetrics: StartServer = (scenario, redisUrl) => start(scenario, redisUrl, true, true);
export const startNearbyStrangers: StartServer = (scenario, redisUrl) => start(scenario, redisUrl, true, false, true);

/** How often the `nearby-metrics` contender's registry is read, like a Prometheus scrape interval. */
const SCRAPE_INTERVAL_MS = 5_000;

async function start(scenario: Scenario, redisUrl: string, onRedis: boolean, withMetrics: boolean, withStrangers = false): Promise<ContenderServer> {
  const redis = onRedis ? createRedisAdapters({ url: redisUrl }) : undefined;
  const metrics = withMetrics ? createPrometheusMetrics({ registry: new Registry() }) : undefined;
  let scrapeBytes = 0;
  const scraper = metrics === undefined ? undefined : setInterval(() => void metrics.registry.metrics().then((text) => (scrapeBytes = text.length)), SCRAPE_INTERVAL_MS);
  let onErrorCalls = 0;
  const server = createNearbyServer({
    port: 0,
    host: '127.0.0.1',
    authenticate: (request) => tokenFromRequest(request),
    friends: { getFriends: async (userId) => scenario.friendIds(userId) },
    ...(redis === undefined ? {} : { cache: redis.cache, pubsub: redis.pubsub, settings: redis.settings, presence: redis.presence }),
    history: new MemoryHistoryStore({ maxSamplesPerUser: 16 }),
    ...(metrics === undefined ? {} : { telemetry: metrics }),
    // The processes sharing a bus must derive the same pseudonymous ids: one secret for all.
    ...(withStrangers ? { strangers: { enabled: true, secret: 'nearby-bench-stranger-ids' } } : {}),
    rateLimit: {
      locations: { capacity: 1e6, refillPerSecond: 1e6 },
      frames: { capacity: 1e6, refillPerSecond: 1e6 },
    },
    onError: (error) => {
      if (onErrorCalls++ < 3) console.error('  [nearby server] onError:', error);
    },
  });
  try {
    const { port } = await server.listen();
    return {
      port,
      url: `ws://127.0.0.1:${port}/nearby`,
      counters() {
        const { pubsub, state: _state, ...stats } = server.stats();
        const counters: Record<string, number> = { onErrorCalls, ...(metrics === undefined ? {} : { scrapeBytes }) };
        for (const [name, value] of Object.entries(stats)) if (typeof value === 'number') counters[name] = value;
        for (const [name, value] of Object.entries(pubsub ?? {})) counters[`pubsub.${name}`] = value;
        return counters;
      },
      async close() {
        clearInterval(scraper);
        metrics?.close();
        await server.close();
        await redis?.close();
      },
    };
  } catch (error) {
    clearInterval(scraper);
    metrics?.close();
    await redis?.close();
    throw error;
  }
}
