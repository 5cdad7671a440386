/**
 * Multi-server example: a redis-server, three Nearby server processes sharing it, a round-robin
 * TCP load balancer in front of them, and a crowd of walking users connected through it.
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startBalancer, type Balancer } from './balancer.js';
import { startCrowd, type Crowd } from './crowd.js';
import { startRedisServer, type RedisServer } from './redis-server.js';
import { crossProcessSightings, render, type View } from './render.js';
import { startServer, type ServerProcess } from './servers.js';
import { YOU, buildFriendGraph } from './world.js';

const SERVER_COUNT = 3;

const { values } = parseArgs({
  options: {
    users: { type: 'string' },
    duration: { type: 'string' },
    seed: { type: 'string' },
    'metrics-port-base': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help === true) {
  console.log(`Usage: pnpm --filter @nearby/example-multi-server start [--users N] [--duration SECONDS] [--seed N]
       [--metrics-port-base PORT]

Starts a redis-server (unless REDIS_URL is set), ${SERVER_COUNT} Nearby server processes on it, a
round-robin TCP load balancer in front of them and a crowd of walking users. Prints, every
second, each server's counters and what the user "${YOU}" sees. Runs until Ctrl+C, or for
--duration seconds (then exits with 1 if no user ever saw a friend on another process).
With --metrics-port-base P, server #i also serves /metrics (Prometheus), /healthz and /readyz
on 127.0.0.1:P+i-1.`);
  process.exit(0);
}

function numberOption(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`--${name} must be an integer in [${min}, ${max}], got ${raw}`);
    process.exit(2);
  }
  return value;
}

const users = numberOption('users', values.users, 60, 2, 2000);
const seed = numberOption('seed', values.seed, 42, 0, 2 ** 31);
const durationS = values.duration === undefined ? undefined : numberOption('duration', values.duration, 0, 1, 86_400);
const metricsPortBase =
  values['metrics-port-base'] === undefined ? undefined : numberOption('metrics-port-base', values['metrics-port-base'], 0, 1024, 65_535 - SERVER_COUNT);
const friendsOfYou = buildFriendGraph(users, seed).get(YOU)!.size;

let redis: RedisServer | undefined;
const servers: ServerProcess[] = [];
let balancer: Balancer | undefined;
let crowd: Crowd | undefined;
let renderTimer: NodeJS.Timeout | undefined;
let mostCrossProcess = 0;
let startedAt = Date.now(); // reset when the crowd starts
let lastShownAt = 0;

// Whatever happens, leave no process behind.
process.on('exit', () => {
  for (const server of servers) server.killNow();
  redis?.killNow();
});

async function view(): Promise<View> {
  return {
    elapsedS: Math.round((Date.now() - startedAt) / 1000),
    redisUrl: redisUrl(),
    balancerUrl: balancerUrl(),
    servers: await Promise.all(
      servers.map(async (server) => ({ index: server.index, port: server.port, stats: await server.stats() })),
    ),
    accepted: balancer?.accepted ?? [],
    clients: crowd?.clients ?? new Map(),
    friendsOfYou,
    now: Date.now(),
  };
}

const redisUrl = () => process.env.REDIS_URL ?? redis?.url ?? '?';
const balancerUrl = () => `ws://127.0.0.1:${balancer?.port ?? '?'}/nearby`;
const tty = process.stdout.isTTY === true;

let showing: Promise<void> = Promise.resolve();
function show(): Promise<void> {
  lastShownAt = Date.now();
  showing = (async () => {
    const current = await view();
    mostCrossProcess = Math.max(mostCrossProcess, crossProcessSightings(current).crossProcess);
    // On a terminal, redraw in place; otherwise (piped, CI) print a block per second.
    process.stdout.write(tty ? `\x1b[H\x1b[2J${render(current)}\n` : `${render(current)}\n\n`);
  })();
  return showing;
}

let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(renderTimer);
  if (crowd !== undefined) {
    await showing; // a block being printed must see the users before they are closed
    if (Date.now() - lastShownAt > 500) await show(); // the final state, unless just printed
    crowd.stop();
    console.log('stopping: users closed');
    await sleep(300); // let their close frames reach the servers
  }
  await Promise.all(servers.map((server) => server.stop()));
  if (servers.length > 0) console.log('stopping: servers drained and closed');
  await balancer?.close();
  if (redis !== undefined) {
    await redis.stop();
    console.log('stopping: redis-server stopped');
  }
  if (code === 0 && durationS !== undefined && crowd !== undefined) {
    if (mostCrossProcess === 0) {
      console.error('no user saw a friend connected to another server process');
      code = 1;
    } else {
      console.log(`ok: up to ${mostCrossProcess} list entries at once showed a friend on another process`);
    }
  }
  process.exit(code);
}

process.on('SIGINT', () => {
  if (stopping) {
    console.error('forced exit');
    process.exit(130); // the 'exit' handler kills what is left
  }
  void shutdown(0);
});
process.on('SIGTERM', () => void shutdown(0));

try {
  if (process.env.REDIS_URL === undefined) {
    redis = await startRedisServer();
    console.log(`redis-server pid ${redis.pid} on ${redis.url}`);
  } else {
    console.log(`using REDIS_URL ${process.env.REDIS_URL}`);
  }
  const started = await Promise.allSettled(
    Array.from({ length: SERVER_COUNT }, (_, i) =>
      startServer({
        index: i + 1,
        redisUrl: redisUrl(),
        users,
        seed,
        ...(metricsPortBase === undefined ? {} : { metricsPort: metricsPortBase + i }),
      }),
    ),
  );
  for (const result of started) if (result.status === 'fulfilled') servers.push(result.value);
  const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  for (const server of servers) {
    const operations = metricsPortBase === undefined ? '' : `, /metrics /healthz /readyz on 127.0.0.1:${metricsPortBase + server.index - 1}`;
    console.log(`server #${server.index} pid ${server.pid} on 127.0.0.1:${server.port} (serverId ${server.serverId})${operations}`);
  }
  balancer = await startBalancer(servers.map((server) => server.port));
  console.log(`balancer on 127.0.0.1:${balancer.port}; starting ${users + 1} users`);
  crowd = startCrowd(balancerUrl(), users, seed);
  startedAt = Date.now();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  await shutdown(1);
}

renderTimer = setInterval(() => void show(), 1_000);
if (durationS !== undefined) setTimeout(() => void shutdown(0), durationS * 1000);
