/**
 * Runs the benchmark's redis-server (a real one on a free loopback port, no persistence, in a
 * temp directory: RedisServerProcess from the test helpers) and stops it when told to — or when
 * the parent disappears, however it died, so no redis-server outlives a run.
 */
import { RedisServerProcess } from '@nearby/tests/helpers/redis-server';
import { exitWithParent, toParent } from '../common/child.js';
import type { KeeperReply, KeeperRequest } from './ipc.js';

let redis: RedisServerProcess | undefined;
let stopping: Promise<void> | undefined;

function stop(): Promise<void> {
  stopping ??= (redis?.stop() ?? Promise.resolve()).catch(() => undefined);
  return stopping;
}

// On a lost parent or a signal: SIGTERM to redis-server right away (it exits by itself), then exit.
exitWithParent(() => void stop());

process.on('message', (request: KeeperRequest) => {
  if (request.type === 'stop') void stop().then(() => process.exit(0));
});

RedisServerProcess.start().then(
  (started) => {
    redis = started;
    void toParent({ type: 'ready', url: started.url, port: started.port } satisfies KeeperReply);
  },
  (error: unknown) => {
    void toParent({ type: 'failed', message: error instanceof Error ? error.message : String(error) } satisfies KeeperReply).then(() => process.exit(1));
  },
);
