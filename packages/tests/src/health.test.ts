import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode, createHealthHandlers, createNearbyServer, tokenFromRequest, type NearbyReadiness, type NearbyServer } from '@nearby/server';
import { createRedisAdapters, type RedisAdapters } from '@nearby/server/redis';
import { RedisServerProcess, redisAvailable } from './helpers/redis-server.js';
import { RawPeer, at } from './helpers/raw-peer.js';
import { TestFriendGraph, tokenFor } from './helpers/server-resource.js';

/**
 * Liveness, readiness and the structured log, end to end: an express app and a Nearby server
 * share one http.Server, the Nearby server runs on the Redis adapters of a real redis-server,
 * and a pino logger writes to a memory stream.
 */
const available = redisAvailable();
let redis: RedisServerProcess;

interface Record_ {
  level: number;
  event: string;
  msg: string;
  [field: string]: unknown;
}

interface Setup {
  http: Server;
  nearby: NearbyServer;
  adapters: RedisAdapters;
  base: string;
  records: Record_[];
  errors: unknown[];
  urlFor(userId: string): string;
}

let setup: Setup | undefined;

beforeAll(async () => {
  if (available) redis = await RedisServerProcess.start();
}, 30_000);

afterEach(async () => {
  const current = setup;
  setup = undefined;
  if (current === undefined) return;
  await current.nearby.close();
  await current.adapters.close();
  current.http.closeAllConnections();
  await new Promise<void>((resolve) => current.http.close(() => resolve()));
});

afterAll(async () => {
  if (available) await redis.stop();
});

/** The express app with both handlers, listening, and a Nearby server created on the same http.Server (not yet listening). */
async function start(): Promise<Setup> {
  const records: Record_[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') records.push(JSON.parse(line) as Record_);
      done();
    },
  });
  const logger = pino({ level: 'debug' }, stream);
  const adapters = createRedisAdapters({ url: redis.url, connectTimeoutMs: 2_000 });
  const app = express();
  const http = createServer(app);
  const errors: unknown[] = [];
  const graph = new TestFriendGraph();
  graph.link('alice', 'bob');
  const nearby = createNearbyServer({
    server: http,
    authenticate: (request) => {
      const token = tokenFromRequest(request);
      return token !== null && token.startsWith('token-') ? token.slice('token-'.length) : null;
    },
    friends: graph,
    cache: adapters.cache,
    pubsub: adapters.pubsub,
    settings: adapters.settings,
    presence: adapters.presence,
    busProbeIntervalMs: 100,
    rateLimit: { locations: { capacity: 1_000, refillPerSecond: 1_000 }, frames: { capacity: 1_000, refillPerSecond: 1_000 } },
    logger,
    onError: (error) => errors.push(error),
  });
  const handlers = createHealthHandlers(nearby);
  app.get('/livez', handlers.liveness);
  app.get('/readyz', handlers.readiness);
  app.get('/hello', (_request, response) => {
    response.send('the host app');
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  setup = {
    http,
    nearby,
    adapters,
    base,
    records,
    errors,
    urlFor: (userId) => `ws://127.0.0.1:${port}/nearby?access_token=${encodeURIComponent(tokenFor(userId))}`,
  };
  return setup;
}

async function get(url: string): Promise<{ status: number; cacheControl: string | null; body: Record<string, unknown> }> {
  const response = await fetch(url);
  return { status: response.status, cacheControl: response.headers.get('cache-control'), body: (await response.json()) as Record<string, unknown> };
}

async function readiness(base: string): Promise<{ status: number; body: NearbyReadiness }> {
  const { status, body } = await get(`${base}/readyz`);
  return { status, body: body as unknown as NearbyReadiness };
}

/** Repeats `step` until `check` holds (at most 15 s; a condition, never a speed, is asserted). */
async function until(what: string, check: () => Promise<boolean> | boolean, step: () => void = () => {}): Promise<void> {
  const deadline = performance.now() + 15_000;
  for (;;) {
    step();
    if (await check()) return;
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

describe('health and readiness handlers in an express app sharing the http.Server', () => {
  it('answers starting, ready, Redis down (naming cache and pubsub), ready again, draining, closed', async (ctx) => {
    if (!available) return ctx.skip();
    const { nearby, base, urlFor } = await start();

    const starting = await readiness(base);
    expect(starting.status).toBe(503);
    expect(starting.body).toMatchObject({ ready: false, state: 'idle', reasons: ['server starting'] });
    const live = await get(`${base}/livez`);
    expect(live).toEqual({ status: 200, cacheControl: 'no-store', body: { status: 'ok' } });

    await nearby.listen();
    const ready = await readiness(base);
    expect(ready.status).toBe(200);
    expect(ready.body.ready).toBe(true);
    expect(ready.body.reasons).toEqual([]);
    expect(ready.body.adapters.cache).toMatchObject({ up: true });
    expect((await get(`${base}/readyz`)).cacheControl).toBe('no-store');
    // The host's own routes and the WebSocket upgrade share the server.
    expect(await (await fetch(`${base}/hello`)).text()).toBe('the host app');
    const alice = await RawPeer.connect(urlFor('alice'));
    await alice.init({ location: at(37.5, 127) });

    let t = Date.now();
    const move = () => alice.send({ type: 'location', seq: 1, samples: [at(37.5, 127, ++t)] });
    await redis.kill();
    let down = await readiness(base);
    await until(
      'readiness names cache and pubsub',
      async () => {
        down = await readiness(base);
        return down.body.adapters.cache?.up === false && down.body.adapters.pubsub?.up === false;
      },
      move,
    );
    expect(down.status).toBe(503);
    expect(down.body.ready).toBe(false);
    expect(down.body.state).toBe('listening');
    expect(down.body.reasons).toEqual(expect.arrayContaining([expect.stringMatching(/^cache down: .+/), expect.stringMatching(/^pubsub down: .+/)]));
    expect(down.body.adapters.cache!.reason).toBeTruthy();
    // Alive all the while: a Redis outage is no reason to restart the process.
    expect((await get(`${base}/livez`)).status).toBe(200);

    await redis.restart();
    await until('readiness is back to 200', async () => (await readiness(base)).status === 200, move);
    expect((await readiness(base)).body.reasons).toEqual([]);

    await alice.close();
    const draining = nearby.drain({ windowMs: 0 });
    const whileDraining = await readiness(base);
    expect(whileDraining.status).toBe(503);
    expect(whileDraining.body.reasons).toEqual(['server draining']);
    expect((await get(`${base}/livez`)).status).toBe(200);
    await draining;

    await nearby.close();
    expect(await get(`${base}/livez`)).toEqual({ status: 503, cacheControl: 'no-store', body: { status: 'closed' } });
    expect((await readiness(base)).body.reasons).toEqual(['server closed']);
  });

  it('refuses createHealthHandlers without a server, naming it', () => {
    expect(() => createHealthHandlers(undefined as unknown as NearbyServer)).toThrow(/server must be a NearbyServer/);
  });
});

describe('the structured log on a pino logger', () => {
  it('sees the lifecycle, and a Redis outage as one unavailable, a repeat count and a recovery per operation', async (ctx) => {
    if (!available) return ctx.skip();
    const { nearby, records, errors, urlFor } = await start();
    const events = () => records.map((record) => record.event);
    await nearby.listen();
    expect(records.find((record) => record.event === 'server_listening')).toMatchObject({ level: 30, attached: true, path: '/nearby' });

    const refused = new RawPeer(`${urlFor('alice').split('?')[0]}?access_token=wrong`);
    expect((await refused.closed).code).toBe(CloseCode.UNAUTHORIZED);
    expect(records.find((record) => record.event === 'auth_refused')).toMatchObject({ level: 30, reason: 'null_user_id', code: 4001 });

    const alice = await RawPeer.connect(urlFor('alice'));
    await alice.init({ location: at(37.5, 127) });
    expect(records.find((record) => record.event === 'connection_accepted')).toMatchObject({ level: 20, userId: 'alice', connectionId: 1 });

    let t = Date.now();
    const move = () => alice.send({ type: 'location', seq: 1, samples: [at(37.5, 127, ++t)] });
    await redis.kill();
    const cacheWriteFailures = () => errors.filter((error) => String(error).includes('location cache write failed')).length;
    await until('several cache writes failed', () => cacheWriteFailures() >= 3, move);
    await until('the bus probe noticed', () => events().includes('bus_down'));
    await redis.restart();
    await until('the cache answered again', () => records.some((r) => r.event === 'adapter_recovered' && r.adapter === 'cache'), move);

    const cacheSet = records.filter((record) => record.adapter === 'cache' && (record.operation === 'set' || record.event === 'adapter_recovered'));
    expect(cacheSet.map((record) => record.event)).toEqual(['adapter_unavailable', 'adapter_errors_repeated', 'adapter_recovered']);
    const [unavailable, repeated, recovered] = cacheSet as [Record_, Record_, Record_];
    expect(unavailable).toMatchObject({ level: 50, operation: 'set' });
    expect(unavailable.err).toMatchObject({ message: expect.any(String) });
    expect(repeated.level).toBe(40);
    expect(repeated.count).toBeGreaterThanOrEqual(2);
    expect(recovered.level).toBe(30);
    expect(recovered.count).toBe((repeated.count as number) + 1);
    expect(recovered.durationMs).toBeGreaterThanOrEqual(0);
    // onError still received every failure; the log said it once, then counted.
    expect(cacheWriteFailures()).toBeGreaterThanOrEqual(recovered.count as number);
    expect(records.filter((record) => record.event === 'internal_error')).toEqual([]);
    await until('the bus is back', () => events().includes('bus_up'));
    expect(records.find((record) => record.event === 'bus_down')).toMatchObject({ level: 50, adapter: 'pubsub' });

    const drained = nearby.drain({ windowMs: 0 });
    expect((await alice.closed).code).toBe(CloseCode.SERVICE_RESTART);
    await drained;
    expect(records.find((record) => record.event === 'drain_started')).toMatchObject({ level: 30, count: 1 });
    expect(records.find((record) => record.event === 'drain_finished')).toMatchObject({ level: 30, count: 1, cut: 0 });
    expect(records.find((record) => record.event === 'connection_closed')).toMatchObject({ level: 20, userId: 'alice', code: 1012, reason: 'draining' });
  });
});
