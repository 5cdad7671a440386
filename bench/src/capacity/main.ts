/**
 * `pnpm bench:redis` — the two Redis constants of the capacity estimate in docs/scaling.md,
 * measured on a real redis-server on loopback:
 *
 * 1. Memory per Pub/Sub subscription: `used_memory` before and after subscriber connections
 *    (standing for server processes) subscribe to user channels, split into the cost of a
 *    channel with its first subscriber and of each further subscriber.
 * 2. Redis CPU per delivered message: publishers pipeline PUBLISH to channels that several
 *    subscriber connections follow; Redis's own CPU time (INFO cpu) ÷ messages the subscribers
 *    received. The load generator shares the machine, so the delivery rate is a floor; the CPU
 *    cost per delivery is the figure to use.
 *
 * Bounded: 200 000 channels, 4 subscriber connections, a 10 s publishing window; about 40 s.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisServerProcess } from '@nearby/tests/helpers/redis-server';

const CHANNELS = 200_000;
const EXTRA_SUBSCRIBERS = 3;
const FANOUT_CHANNELS = 10_000;
const FANOUT_SUBSCRIBERS = 8;
const PUBLISH_WINDOW_MS = 10_000;
const PIPELINE = 200;

const channel = (i: number) => `nearby:u:user-${i}`;

async function info(client: Redis, section: string, field: string): Promise<number> {
  const text = await client.info(section);
  const match = new RegExp(`^${field}:([0-9.]+)`, 'm').exec(text);
  if (match === null) throw new Error(`INFO ${section} has no ${field}`);
  return Number(match[1]);
}

async function subscribeAll(subscriber: Redis, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, count - i) }, (_, j) => channel(i + j));
    await subscriber.subscribe(...batch);
  }
}

async function measureMemory(server: RedisServerProcess): Promise<{ firstBytes: number; extraBytes: number }> {
  const admin = server.client();
  const subscribers = Array.from({ length: 1 + EXTRA_SUBSCRIBERS }, () => server.client());
  await admin.memory('PURGE').catch(() => undefined);
  const before = await info(admin, 'memory', 'used_memory');
  await subscribeAll(subscribers[0]!, CHANNELS);
  const afterFirst = await info(admin, 'memory', 'used_memory');
  for (const subscriber of subscribers.slice(1)) await subscribeAll(subscriber, CHANNELS);
  const afterAll = await info(admin, 'memory', 'used_memory');
  const result = {
    firstBytes: (afterFirst - before) / CHANNELS,
    extraBytes: (afterAll - afterFirst) / (CHANNELS * EXTRA_SUBSCRIBERS),
  };
  for (const subscriber of subscribers) subscriber.disconnect();
  admin.disconnect();
  await sleep(200);
  return result;
}

async function measureFanout(server: RedisServerProcess): Promise<{ deliveries: number; redisCpuSeconds: number; perSecond: number }> {
  const admin = server.client();
  const subscribers = Array.from({ length: FANOUT_SUBSCRIBERS }, () => server.client());
  let received = 0;
  for (const subscriber of subscribers) {
    subscriber.on('message', () => received++);
    await subscribeAll(subscriber, FANOUT_CHANNELS);
  }
  const publisher = server.client();
  const cpu = async () => (await info(admin, 'cpu', 'used_cpu_user')) + (await info(admin, 'cpu', 'used_cpu_sys'));
  const cpuBefore = await cpu();
  const receivedBefore = received;
  const started = performance.now();
  let next = 0;
  const payload = '{"k":"loc","s":"server-1","u":"user-1","lat":37.56631,"lon":126.97794,"t":1763769600000}';
  while (performance.now() - started < PUBLISH_WINDOW_MS) {
    const pipeline = publisher.pipeline();
    for (let i = 0; i < PIPELINE; i++) pipeline.publish(channel(next++ % FANOUT_CHANNELS), payload);
    await pipeline.exec();
  }
  await sleep(500); // let the subscribers drain what Redis already sent
  const elapsed = (performance.now() - started) / 1000;
  const deliveries = received - receivedBefore;
  const redisCpuSeconds = (await cpu()) - cpuBefore;
  for (const client of [...subscribers, publisher, admin]) client.disconnect();
  return { deliveries, redisCpuSeconds, perSecond: deliveries / elapsed };
}

const server = await RedisServerProcess.start();
try {
  const memory = await measureMemory(server);
  const fanout = await measureFanout(server);
  const cpuPerMillion = (fanout.redisCpuSeconds / fanout.deliveries) * 1_000_000;
  console.log(`redis-server ${server.url} (no persistence), ${new Date().toISOString()}`);
  console.log(`memory: ${CHANNELS} channels; first subscriber ${memory.firstBytes.toFixed(1)} B per channel, each further subscriber ${memory.extraBytes.toFixed(1)} B`);
  console.log(
    `fan-out: ${FANOUT_CHANNELS} channels x ${FANOUT_SUBSCRIBERS} subscribers, ${fanout.deliveries} messages delivered in ${PUBLISH_WINDOW_MS / 1000} s ` +
      `(${Math.round(fanout.perSecond)}/s, load generator on the same machine); Redis CPU ${fanout.redisCpuSeconds.toFixed(2)} s = ${cpuPerMillion.toFixed(2)} CPU-s per million deliveries ` +
      `(${Math.round(1_000_000 / cpuPerMillion)} deliveries per Redis CPU-second)`,
  );
} finally {
  await server.stop();
}
