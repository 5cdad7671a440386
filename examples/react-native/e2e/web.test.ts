import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ORIGIN, offsetKm } from '../../../packages/tests/src/helpers/geo.js';
import { RawPeer, at } from '../../../packages/tests/src/helpers/raw-peer.js';
import { launchChromium, requireChromium } from '../../../packages/tests/src/helpers/chromium.js';
import { startServer, tokenFor, type ServerResource } from '../../../packages/tests/src/helpers/server-resource.js';

/**
 * The example app as `expo export --platform web` builds it (react-native-web, Metro), served
 * from a loopback HTTP server and driven in headless Chromium against a real Nearby server.
 * The friend is a raw protocol peer, so the test decides exactly where it is.
 */
const chromiumCheck = requireChromium();
const WEB_BUILD = process.env.NEARBY_WEB_BUILD ?? fileURLToPath(new URL('../dist/web', import.meta.url));
/** How long to wait for something the app must show; far above the time it takes. */
const UI_WAIT_MS = 15_000;

let env: ServerResource;
let site: Server;
let siteUrl = '';
let browser: Browser | undefined;
let context: BrowserContext | undefined;
const peers: RawPeer[] = [];

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.css': 'text/css',
  '.png': 'image/png',
  '.ttf': 'font/ttf',
};

/** Serves the static export; unknown paths get index.html, as a single-page app expects. */
function serveStatic(root: string): Server {
  return createServer((request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname));
    let file = join(root, path);
    if (!file.startsWith(root) || !existsSync(file) || path === '/') file = join(root, 'index.html');
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    response.end(readFileSync(file));
  });
}

beforeAll(async () => {
  if (!chromiumCheck.available) return;
  if (!existsSync(join(WEB_BUILD, 'index.html'))) {
    throw new Error(`no web build in ${WEB_BUILD}: run examples/react-native/scripts/check.sh (or npx expo export --platform web) first`);
  }
  site = serveStatic(WEB_BUILD);
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', () => resolve()));
  siteUrl = `http://127.0.0.1:${(site.address() as { port: number }).port}`;
  env = await startServer();
  browser = await launchChromium();
});

afterEach(async () => {
  await context?.close();
  context = undefined;
  for (const peer of peers.splice(0)) await peer.close();
});

afterAll(async () => {
  await browser?.close();
  if (!chromiumCheck.available) return;
  await env.close();
  await new Promise<void>((resolve) => site.close(() => resolve()));
});

/** Opens the app as `userId`, with the page's console collected for failure messages. */
async function openApp(userId: string, options: { geolocation: boolean }): Promise<{ page: Page; logs: string[] }> {
  context = await browser!.newContext(
    options.geolocation ? { permissions: ['geolocation'], geolocation: { latitude: ORIGIN.lat, longitude: ORIGIN.lon } } : {},
  );
  const page = await context.newPage();
  // The page's clock runs at its natural pace until a test fast-forwards it.
  await page.clock.install();
  const logs: string[] = [];
  page.on('console', (message) => logs.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => logs.push(`pageerror: ${error.message}`));
  const query = new URLSearchParams({ url: env.url, token: tokenFor(userId) });
  await page.goto(`${siteUrl}/?${query}`);
  return { page, logs };
}

async function friendPeer(userId: string, position: { lat: number; lon: number }): Promise<RawPeer> {
  const peer = await RawPeer.connect(env.urlFor(userId));
  peers.push(peer);
  await peer.init({ location: at(position.lat, position.lon) });
  return peer;
}

let seq = 0;
function move(peer: RawPeer, position: { lat: number; lon: number }): void {
  seq += 1;
  peer.send({ type: 'location', seq, samples: [at(position.lat, position.lon)] });
}

describe('the example app, web build, in Chromium', () => {
  it('shows a friend with its distance and the age of its position, which keeps counting, follows its moves, and drops it when it leaves the radius', async (test) => {
    if (!chromiumCheck.available) return test.skip();
    env.graph.link('ana', 'ben');
    const ben = await friendPeer('ben', offsetKm(ORIGIN, 1.2));
    const { page, logs } = await openApp('ana', { geolocation: true });
    const explain = () => `page console:\n${logs.join('\n')}`;

    await expect.poll(() => page.getByTestId('connection-state').textContent(), { timeout: UI_WAIT_MS, message: explain() }).toBe('Live');
    // The app got the browser's position (granted above), sent it, and the server placed ben.
    await expect.poll(() => page.getByTestId('distance-ben').textContent(), { timeout: UI_WAIT_MS, message: explain() }).toBe('1.2 km');
    await expect.poll(() => page.getByTestId('age-ben').textContent(), { timeout: UI_WAIT_MS }).toMatch(/just now|s ago/);
    expect(await page.getByTestId('location-permission').count()).toBe(0);
    // The age keeps counting without new positions.
    await page.clock.fastForward('01:05');
    await expect.poll(() => page.getByTestId('age-ben').textContent(), { timeout: UI_WAIT_MS, message: explain() }).toBe('1 min ago');

    move(ben, offsetKm(ORIGIN, 0, 3.5));
    await expect.poll(() => page.getByTestId('distance-ben').textContent(), { timeout: UI_WAIT_MS, message: explain() }).toBe('3.5 km');

    // 20 km is outside the default 8 km radius: the server sends friend_left (out_of_range).
    move(ben, offsetKm(ORIGIN, 20));
    await expect.poll(() => page.getByTestId('friend-ben').count(), { timeout: UI_WAIT_MS, message: explain() }).toBe(0);
    expect(await page.getByTestId('no-friends').textContent()).toBe('No friends within 8.0 km right now.');
  });

  it('without location permission explains why it needs it and offers to ask, and lists nobody', async (test) => {
    if (!chromiumCheck.available) return test.skip();
    env.graph.link('cleo', 'dan');
    await friendPeer('dan', offsetKm(ORIGIN, 0.5));
    const { page, logs } = await openApp('cleo', { geolocation: false });
    const explain = () => `page console:\n${logs.join('\n')}`;

    await expect.poll(() => page.getByTestId('connection-state').textContent(), { timeout: UI_WAIT_MS, message: explain() }).toBe('Live');
    const panel = page.getByTestId('location-permission');
    await expect.poll(() => panel.count(), { timeout: UI_WAIT_MS, message: explain() }).toBe(1);
    expect(await panel.textContent()).toContain('Share your location');
    // Without a position of its own the server cannot tell who is near: dan is not listed.
    expect(await page.getByTestId('friend-dan').count()).toBe(0);
    expect(await page.getByTestId('no-friends').count()).toBe(1);

    // The browser refuses (nobody grants the prompt in headless Chromium): the app explains.
    await panel.getByRole('button').click();
    await expect.poll(() => panel.textContent(), { timeout: UI_WAIT_MS, message: explain() }).toMatch(/Try again|browser's settings/);
    expect(await panel.textContent()).toContain('cannot tell which friends are close to you');
  });
});
