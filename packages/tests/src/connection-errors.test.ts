import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Server as HttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, NearbyClient, type NearbyClientOptions, type NearbyError } from '@nearby/client';
import { createNearbyServer, type NearbyServer } from '@nearby/server';
import { ManualTimers } from '../../client/src/test-utils/manual-timers.js';
import { freePort } from './helpers/free-port.js';
import { requireProgram } from './helpers/requirements.js';
import { startServer, tokenFor, type ServerResource } from './helpers/server-resource.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

/**
 * What a developer sees when the client cannot connect, against real failures: a closed port,
 * a host name that does not resolve, a real server on the wrong path, a draining server, a TLS
 * server with a self-signed certificate, and refused credentials. The client uses `ws`, as in
 * Node, through the package's Node entry; its timers are manual, so "no retry" is shown by
 * "no timer left" rather than by waiting.
 */
const clients: NearbyClient[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function client(options: Partial<NearbyClientOptions> & { url: string }) {
  const timers = new ManualTimers();
  const instance = new NearbyClient({ random: () => 0.5, timers, ...options });
  clients.push(instance);
  const errors: NearbyError[] = [];
  instance.on('error', (error) => errors.push(error));
  /** Resolves with the next error event. */
  const nextError = () =>
    new Promise<NearbyError>((resolve) => {
      const off = instance.on('error', (error) => {
        off();
        resolve(error);
      });
    });
  return { client: instance, timers, errors, nextError };
}

async function proxied(env: ServerResource): Promise<TcpProxy> {
  const proxy = await TcpProxy.start(env.port);
  cleanups.push(() => proxy.close());
  return proxy;
}

async function server(options: Parameters<typeof startServer>[0] = {}): Promise<ServerResource> {
  const env = await startServer(options);
  cleanups.push(() => env.close());
  return env;
}

describe('connection errors a developer can act on', () => {
  it('a closed port: connection_refused, retried with backoff', async () => {
    const port = await freePort();
    const { client: c, timers, nextError } = client({ url: `ws://127.0.0.1:${port}/nearby`, token: 't' });
    const first = nextError();
    c.connect();
    const error = await first;
    expect(error).toMatchObject({ code: ErrorCode.CONNECTION_REFUSED, closeCode: 1006 });
    expect(error.message).toMatch(/connection refused.*ECONNREFUSED/);
    expect((error.cause as { error?: { code?: string } }).error?.code).toBe('ECONNREFUSED');
    expect(c.getSnapshot().state).toBe('reconnecting');
    const second = nextError();
    timers.advance(250); // backoff: 0.5 × 500 ms
    expect((await second).code).toBe(ErrorCode.CONNECTION_REFUSED);
  });

  it('a host name that does not resolve: host_not_found', async () => {
    const { client: c, nextError } = client({ url: 'ws://nearby-test.invalid/nearby', token: 't' });
    const first = nextError();
    c.connect();
    const error = await first;
    expect(error.code).toBe(ErrorCode.HOST_NOT_FOUND);
    expect(error.message).toMatch(/unknown host.*nearby-test\.invalid/);
    expect(c.getSnapshot().state).toBe('reconnecting');
  });

  it('a real server on the wrong path: endpoint_not_found, closed, and no second upgrade request', async () => {
    const env = await server();
    const proxy = await proxied(env);
    const { client: c, timers } = client({ url: `ws://127.0.0.1:${proxy.port}/wrong-path`, token: tokenFor('ann') });
    c.connect();
    const rejection = await c.whenConnected().catch((error: NearbyError) => error);
    expect(rejection).toMatchObject({ code: ErrorCode.CLOSED, cause: { code: ErrorCode.ENDPOINT_NOT_FOUND } });
    expect(c.getSnapshot()).toMatchObject({ state: 'closed', lastError: { code: ErrorCode.ENDPOINT_NOT_FOUND } });
    expect(c.getSnapshot().lastError?.message).toMatch(/HTTP 404/);
    expect(timers.pending).toBe(0); // nothing scheduled: no retry, ever
    timers.advance(3_600_000);
    expect(proxy.connections).toBe(1);
  });

  it('a draining server (HTTP 503 to the upgrade): server_unavailable, retried with backoff', async () => {
    const env = await server();
    await env.server.drain({ windowMs: 0 });
    const proxy = await proxied(env);
    const { client: c, timers, nextError } = client({ url: `ws://127.0.0.1:${proxy.port}/nearby`, token: tokenFor('ann') });
    const first = nextError();
    c.connect();
    const error = await first;
    expect(error.code).toBe(ErrorCode.SERVER_UNAVAILABLE);
    expect(error.message).toMatch(/HTTP 503/);
    expect(c.getSnapshot().state).toBe('reconnecting');
    const second = nextError();
    timers.advance(250);
    expect((await second).code).toBe(ErrorCode.SERVER_UNAVAILABLE);
    expect(proxy.connections).toBe(2);
  });

  it('a server that recovers: after connection_refused, the retry connects', async () => {
    const env = await server();
    const proxy = await proxied(env);
    proxy.refusing = true; // accepted and dropped at once: the client sees a reset
    const { client: c, timers, nextError } = client({ url: `${env.url.replace(String(env.port), String(proxy.port))}`, token: tokenFor('ann') });
    const first = nextError();
    c.connect();
    expect((await first).code).not.toBe(ErrorCode.ENDPOINT_NOT_FOUND);
    proxy.refusing = false;
    timers.advance(250);
    await c.whenConnected();
    expect(c.getSnapshot().state).toBe('connected');
  });

  it('refused credentials: unauthorized (4001), closed', async () => {
    const env = await server();
    const { client: c, timers } = client({ url: env.url, token: 'wrong' });
    c.connect();
    const rejection = await c.whenConnected().catch((error: NearbyError) => error);
    expect(rejection).toMatchObject({ code: ErrorCode.UNAUTHORIZED, closeCode: 4001 });
    expect(c.getSnapshot().state).toBe('closed');
    expect(timers.pending).toBe(0);
  });
});

describe('TLS failure', () => {
  const openssl = requireProgram('/usr/bin/openssl', 'openssl');
  let dir: string;
  let https: HttpsServer;
  let nearby: NearbyServer;
  let port: number;

  beforeAll(async () => {
    if (!openssl.available) return;
    // A certificate made for this run only: self-signed, so no client trusts it.
    dir = mkdtempSync(join(tmpdir(), 'nearby-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost',
    ], { stdio: 'ignore' });
    https = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) });
    nearby = createNearbyServer({ server: https as unknown as HttpServer, authenticate: () => 'ann', friends: { getFriends: async () => [] } });
    await nearby.listen();
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    port = (https.address() as { port: number }).port;
  });

  afterAll(async () => {
    if (!openssl.available) return;
    await nearby.close();
    await new Promise<void>((resolve) => https.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('a self-signed certificate: tls_failed, with the platform error as cause, retried with backoff', async (context) => {
    if (!openssl.available) return context.skip();
    const { client: c, nextError } = client({ url: `wss://localhost:${port}/nearby`, token: 't' });
    const first = nextError();
    c.connect();
    const error = await first;
    expect(error.code).toBe(ErrorCode.TLS_FAILED);
    expect(error.message).toMatch(/TLS failed.*self-signed certificate/);
    expect((error.cause as { error?: { code?: string } }).error?.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(c.getSnapshot().state).toBe('reconnecting');
  });

  it('wss:// to a plain ws:// port: tls_failed', async () => {
    const env = await server();
    const { client: c, nextError } = client({ url: `wss://127.0.0.1:${env.port}/nearby`, token: 't' });
    const first = nextError();
    c.connect();
    expect((await first).code).toBe(ErrorCode.TLS_FAILED);
  });
});
