import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { startServer, tokenFor, type ServerResource } from './helpers/server-resource.js';
import { RawPeer, at } from './helpers/raw-peer.js';
import { ORIGIN, offsetKm } from './helpers/geo.js';
import { launchChromium, requireChromium, serveTestPage, type TestPage } from './helpers/chromium.js';

/**
 * The client as a browser app would ship it: bundled for the browser from its entry, loaded in
 * headless Chromium, talking to a real server over a real WebSocket.
 */
const chromiumCheck = requireChromium();

let env: ServerResource;
let page: TestPage;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!chromiumCheck.available) return;
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('../../client/src/index.ts', import.meta.url))],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'Nearby',
    conditions: ['@nearby/source'],
    write: false,
    target: 'es2020',
  });
  const script = bundle.outputFiles[0]!.text;
  page = await serveTestPage(
    '<!doctype html><html><head><script src="/client.js"></script></head><body></body></html>',
    '/client.js',
    script,
  );
  env = await startServer();
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (!chromiumCheck.available) return;
  await env.close();
  await page.close();
});

describe('@nearby/client in a browser', () => {
  it('connects, sends its location and shows a friend with the distance, using the browser WebSocket', async (context) => {
    if (!chromiumCheck.available) return context.skip();
    env.graph.link('alice', 'bob');
    const tab = await browser!.newPage();
    await tab.goto(page.url);
    await tab.evaluate(
      ({ url, token, origin }) => {
        const w = window as unknown as {
          Nearby: typeof import('@nearby/client');
          client: import('@nearby/client').NearbyClient;
          seen: string[];
        };
        w.seen = [];
        w.client = new w.Nearby.NearbyClient({ url, token });
        w.client.on('nearby', (friends) => w.seen.push(friends.map((f) => `${f.userId}@${f.distanceKm}`).join(',')));
        w.client.updateLocation(origin);
        w.client.connect();
      },
      { url: env.url, token: tokenFor('alice'), origin: ORIGIN },
    );
    await tab.waitForFunction(() => (window as unknown as { client: { getSnapshot(): { state: string } } }).client.getSnapshot().state === 'connected');

    const bob = await RawPeer.connect(env.urlFor('bob'));
    const bobAt = offsetKm(ORIGIN, 1.5);
    const snapshot = await bob.init({ location: at(bobAt.lat, bobAt.lon) });
    // Alice's position arrived from the browser: Bob's list has her.
    expect(snapshot.friends.map((f) => f.userId)).toEqual(['alice']);

    await tab.waitForFunction(() => (window as unknown as { seen: string[] }).seen.some((s) => s.startsWith('bob@')));
    const friends = await tab.evaluate(() =>
      (window as unknown as { client: import('@nearby/client').NearbyClient }).client.getSnapshot().friends.map((f) => ({ ...f })),
    );
    expect(friends).toHaveLength(1);
    expect(friends[0]!.userId).toBe('bob');
    expect(friends[0]!.distanceKm).toBeCloseTo(1.5, 1);
    bob.socket.terminate();
    await tab.evaluate(() => (window as unknown as { client: { close(): void } }).client.close());
    await tab.close();
  });

  it('a wrong path: the error says the browser does not expose why, and the client keeps retrying', async (context) => {
    if (!chromiumCheck.available) return context.skip();
    const tab = await browser!.newPage();
    await tab.goto(page.url);
    const error = await tab.evaluate(
      ({ url, token }) =>
        new Promise<{ code: string; message: string; state: string }>((resolve) => {
          const w = window as unknown as { Nearby: typeof import('@nearby/client') };
          const client = new w.Nearby.NearbyClient({ url, token });
          client.on('error', (e) => {
            resolve({ code: e.code, message: e.message, state: client.getSnapshot().state });
            client.close();
          });
          client.connect();
        }),
      { url: env.url.replace('/nearby', '/wrong-path'), token: tokenFor('alice') },
    );
    expect(error.code).toBe('connection_failed');
    expect(error.message).toMatch(/the browser does not expose why: server down, unknown host, wrong path, TLS failure and a refused upgrade look the same here/);
    expect(error.state).toBe('reconnecting');
    await tab.close();
  });

  it('offline (navigator.onLine and the offline event): reports offline, waits, and reconnects at once when online', async (context) => {
    if (!chromiumCheck.available) return context.skip();
    const browserContext = await browser!.newContext();
    const tab = await browserContext.newPage();
    await tab.goto(page.url);
    await browserContext.setOffline(true);
    await tab.evaluate(
      ({ url, token }) => {
        const w = window as unknown as { Nearby: typeof import('@nearby/client'); client: import('@nearby/client').NearbyClient; codes: string[] };
        w.codes = [];
        // A long backoff: only the network coming back can explain a quick reconnect.
        w.client = new w.Nearby.NearbyClient({ url, token, reconnect: { initialDelayMs: 600_000, maxDelayMs: 600_000 } });
        w.client.on('error', (e) => w.codes.push(e.code));
        w.client.connect();
      },
      { url: env.url, token: tokenFor('alice') },
    );
    await tab.waitForFunction(() => (window as unknown as { codes: string[] }).codes.length > 0);
    expect(await tab.evaluate(() => (window as unknown as { codes: string[] }).codes)).toEqual(['offline']);
    await browserContext.setOffline(false);
    await tab.waitForFunction(() => (window as unknown as { client: { getSnapshot(): { state: string } } }).client.getSnapshot().state === 'connected');
    await tab.evaluate(() => (window as unknown as { client: { close(): void } }).client.close());
    await browserContext.close();
  });
});
