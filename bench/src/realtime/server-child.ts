/**
 * The server child: runs one contender's server in a process of its own (so its CPU time and
 * memory can be read apart from the load generator and redis-server), answers stats requests,
 * and on `stop` closes the server and exits normally (which writes a `--cpu-prof` profile).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { exitWithParent, toParent } from '../common/child.js';
import type { ServerReply, ServerRequest } from './ipc.js';
import { Scenario } from './scenario.js';
import type { ContenderServer, StartServer } from './servers/types.js';

let server: ContenderServer | undefined;
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();

exitWithParent();

async function start(request: Extract<ServerRequest, { type: 'start' }>): Promise<void> {
  const scenario = new Scenario(request.scenario);
  let startServer: StartServer;
  switch (request.contender) {
    case 'nearby':
      startServer = (await import('./servers/nearby.js')).startNearby;
      break;
    case 'nearby-memory':
      startServer = (await import('./servers/nearby.js')).startNearbyMemory;
      break;
    case 'nearby-metrics':
      startServer = (await import('./servers/nearby.js')).startNearbyMetrics;
      break;
    case 'nearby-strangers':
      startServer = (await import('./servers/nearby.js')).startNearbyStrangers;
      break;
    case 'ideal':
      startServer = (await import('./servers/ideal.js')).startIdeal;
      break;
    case 'socketio':
      startServer = (await import('./servers/socketio.js')).startSocketIo;
      break;
    case 'ws-ceiling':
      startServer = (await import('./servers/ws-ceiling.js')).startWsCeiling;
      break;
  }
  server = await startServer(scenario, request.redisUrl);
  await toParent({ type: 'listening', port: server.port, url: server.url } satisfies ServerReply);
}

function stats(id: number, gc: boolean, resetLoopDelay: boolean): void {
  if (gc) {
    const collect = (globalThis as { gc?: () => void }).gc;
    collect?.();
    collect?.();
  }
  const memory = process.memoryUsage();
  void toParent({
    type: 'stats',
    id,
    stats: {
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      counters: server?.counters() ?? {},
      hrtimeUs: Number(process.hrtime.bigint() / 1000n),
      loopDelay: {
        p50Ms: loopDelay.percentile(50) / 1e6,
        p99Ms: loopDelay.percentile(99) / 1e6,
        maxMs: loopDelay.max / 1e6,
      },
    },
  } satisfies ServerReply);
  if (resetLoopDelay) loopDelay.reset();
}

async function stop(): Promise<void> {
  const timer = setTimeout(() => process.exit(0), 8_000);
  try {
    await server?.close();
  } catch (error) {
    console.error('  server close failed:', error);
  }
  clearTimeout(timer);
  process.exit(0);
}

process.on('message', (request: ServerRequest) => {
  switch (request.type) {
    case 'start':
      start(request).catch((error: unknown) => {
        void toParent({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies ServerReply).then(() =>
          process.exit(1),
        );
      });
      return;
    case 'stats':
      stats(request.id, request.gc, request.resetLoopDelay === true);
      return;
    case 'heap-snapshot': {
      const path = writeHeapSnapshot(request.path);
      void toParent({ type: 'heap-snapshot', id: request.id, path } satisfies ServerReply);
      return;
    }
    case 'stop':
      void stop();
      return;
  }
});
