import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { LeaveReason } from '@nearby/protocol';
import { tokenFromRequest } from '@nearby/server';
import { startServer, tokenFor, type ServerResource } from './helpers/server-resource.js';
import { RawPeer, at } from './helpers/raw-peer.js';
import { ORIGIN, offsetKm } from './helpers/geo.js';
import { launchChromium, requireChromium, serveTestPage, type TestPage } from './helpers/chromium.js';

/**
 * `@nearby/client/react` as a browser app ships it: a React app bundled for the browser in
 * development mode (so StrictMode mounts, unmounts and remounts every component), run in
 * headless Chromium against a real server, with the browser's own WebSocket.
 */
const chromiumCheck = requireChromium();

let env: ServerResource;
let page: TestPage;
let browser: Browser | undefined;
/** Upgrade requests the server authenticated, per user. */
const upgrades = new Map<string, number>();

beforeAll(async () => {
  if (!chromiumCheck.available) return;
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('./fixtures/react-friends-app.tsx', import.meta.url))],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    conditions: ['@nearby/source'],
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"development"' },
    write: false,
    target: 'es2020',
    logLevel: 'silent',
  });
  const script = bundle.outputFiles[0]!.text;
  page = await serveTestPage(
    '<!doctype html><html><body><div id="root"></div><script type="module" src="/app.js"></script></body></html>',
    '/app.js',
    script,
  );
  env = await startServer({
    authenticate: (request) => {
      const token = tokenFromRequest(request);
      if (token === null || !token.startsWith('token-')) return null;
      const userId = token.slice('token-'.length);
      upgrades.set(userId, (upgrades.get(userId) ?? 0) + 1);
      return userId;
    },
  });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (!chromiumCheck.available) return;
  await env.close();
  await page.close();
});

interface Observed {
  states: string[];
  effects: string[];
}

describe('@nearby/client/react in a browser', () => {
  it('a StrictMode app shows a live list over one connection, and signs off only when it unmounts', async (context) => {
    if (!chromiumCheck.available) return context.skip();
    env.graph.link('alice', 'bob');
    const bob = await RawPeer.connect(env.urlFor('bob'));
    const start = offsetKm(ORIGIN, 1.5);
    await bob.init({ location: at(start.lat, start.lon) });
    let seq = 0;
    const moveBob = (northKm: number) => {
      const point = offsetKm(ORIGIN, northKm);
      bob.send({ type: 'location', seq: ++seq, samples: [at(point.lat, point.lon)] });
    };

    const tab = await browser!.newPage();
    const pageErrors: string[] = [];
    tab.on('pageerror', (error) => pageErrors.push(error.message));
    tab.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    const query = new URLSearchParams({ url: env.url, token: tokenFor('alice'), lat: String(ORIGIN.lat), lon: String(ORIGIN.lon) });
    await tab.goto(`${page.url}?${query.toString()}`);

    const bobRow = (text: string) =>
      tab.waitForFunction((expected) => document.querySelector('li[data-user="bob"]')?.textContent === expected, text, { timeout: 5_000 });
    await bobRow('bob 1.5 km');
    expect(await tab.textContent('#state')).toBe('connected');
    // Bob sees alice: her position came from the browser.
    await bob.waitFor((frame) => frame.type === 'friend_update' && frame.friends.some((f) => f.userId === 'alice'));

    moveBob(3);
    await bobRow('bob 3.0 km');
    moveBob(20); // beyond alice's 8 km
    await tab.waitForFunction(() => document.querySelector('li[data-user="bob"]') === null, undefined, { timeout: 5_000 });
    expect(await tab.$$eval('#friends li', (items) => items.length)).toBe(0);

    // StrictMode really did mount, unmount and remount, and the client went through it on one
    // connection: one upgrade, no `closed` in between, and bob never heard alice went offline.
    const observed = await tab.evaluate(() => ({ states: window.nearby.states, effects: window.nearby.effects }) satisfies Observed);
    expect(observed.effects).toEqual(['mount', 'unmount', 'mount']);
    expect(observed.states).toEqual(['connecting', 'connected']);
    expect(upgrades.get('alice')).toBe(1);
    await bob.sync();
    // (bob moving away made alice leave *his* list too, out of range: that is not a sign-off.)
    const aliceLeft = () => bob.ofType('friend_left').flatMap((frame) => (frame.userId === 'alice' ? [frame.reason] : []));
    expect(aliceLeft()).toEqual([LeaveReason.OUT_OF_RANGE]);

    // Leaving the screen for real closes the provider's client: now bob is told.
    moveBob(1.5);
    await bobRow('bob 1.5 km');
    await tab.evaluate(() => window.nearby.unmount());
    await bob.waitFor((frame) => frame.type === 'friend_left' && frame.userId === 'alice' && frame.reason === LeaveReason.OFFLINE);
    expect(aliceLeft()).toEqual([LeaveReason.OUT_OF_RANGE, LeaveReason.OFFLINE]);
    expect(await tab.evaluate(() => window.nearby.client!.getSnapshot().state)).toBe('closed');
    expect(pageErrors).toEqual([]);
    bob.socket.terminate();
    await tab.close();
  });
});
