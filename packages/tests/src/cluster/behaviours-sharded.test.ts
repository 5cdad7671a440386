import { afterAll, beforeAll, describe } from 'vitest';
import { runNodesCommand } from '@nearby/server/etcd';
import { defineBehaviourSuite } from '../behaviours.js';
import { RedisServerProcess, redisAvailable } from '../helpers/redis-server.js';
import { EtcdServerProcess, etcdAvailable } from '../helpers/etcd-server.js';
import { startCluster, type ClusterEnv } from './cluster.js';
import { behaviourEnvOf } from './behaviour-env.js';

/**
 * The behaviour suite on three server processes whose Pub/Sub and location cache are sharded
 * over three redis-servers on a hash ring listed in a real etcd, settings and presence on a
 * primary redis-server: the same user-visible behaviour as on one process.
 */
const PREFIX = 'behaviours/pubsub/nodes/';

describe('3 processes, sharded Redis on a hash ring in etcd', () => {
  const available = etcdAvailable() && redisAvailable();
  let etcd: EtcdServerProcess | undefined;
  const nodes: RedisServerProcess[] = [];
  let primary: RedisServerProcess | undefined;
  let cluster: ClusterEnv | undefined;

  beforeAll(async () => {
    if (!available) return;
    etcd = await EtcdServerProcess.start();
    primary = await RedisServerProcess.start();
    for (let i = 0; i < 3; i++) {
      nodes.push(await RedisServerProcess.start());
      const code = await runNodesCommand(['--etcd', etcd.url, '--prefix', PREFIX, 'add', `node-${i}`, nodes[i]!.url], { out: () => {}, err: () => {} }, {});
      if (code !== 0) throw new Error(`could not list node-${i} in etcd`);
    }
    cluster = await startCluster({
      servers: 3,
      sharded: { etcdUrl: etcd.url, prefix: PREFIX, primaryUrl: primary.url, transitionMs: 2_000, handoverMs: 4_000 },
    });
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
    await Promise.all([...nodes, primary, etcd].map((server) => server?.stop()));
  });

  defineBehaviourSuite('3 processes, sharded Redis', async (ctx) => {
    if (cluster === undefined) return ctx.skip();
    return behaviourEnvOf(cluster);
  });
});
