import { afterAll, beforeAll, describe } from 'vitest';
import { defineBehaviourSuite } from '../behaviours.js';
import { RedisServerProcess } from '../helpers/redis-server.js';
import { RedisClusterProcess, redisClusterAvailable } from '../helpers/redis-cluster.js';
import { startCluster, type ClusterEnv } from './cluster.js';
import { behaviourEnvOf } from './behaviour-env.js';

/**
 * The behaviour suite on three server processes whose Pub/Sub is sharded Pub/Sub on a real
 * three-master Redis Cluster (location cache, settings and presence on one redis-server): the
 * same user-visible behaviour as on one process.
 */
describe('3 processes, Pub/Sub on a Redis Cluster', () => {
  const available = redisClusterAvailable();
  let redis: RedisServerProcess | undefined;
  let redisCluster: RedisClusterProcess | undefined;
  let cluster: ClusterEnv | undefined;

  beforeAll(async () => {
    if (!available) return;
    redis = await RedisServerProcess.start();
    redisCluster = await RedisClusterProcess.start({ masters: 3 });
    cluster = await startCluster({ servers: 3, redis, redisCluster: redisCluster.urls });
  }, 90_000);

  afterAll(async () => {
    await cluster?.close();
    await Promise.all([redis, redisCluster].map((server) => server?.stop()));
  });

  defineBehaviourSuite('3 processes, Redis Cluster Pub/Sub', async (ctx) => {
    if (cluster === undefined) return ctx.skip();
    return behaviourEnvOf(cluster);
  });
});
