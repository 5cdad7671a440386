import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ORIGIN, offsetKm } from '../../../packages/tests/src/helpers/geo.js';
import { RawPeer, at } from '../../../packages/tests/src/helpers/raw-peer.js';
import { launchChromium, requireChromium } from '../../../packages/tests/src/helpers/chromium.js';
import { startServer, tokenFor, type ServerResource } from '../../../packages/tests/src/helpers/server-resource.js';
import { buildWebMap, serveWebMap, type StaticSite } from './build.js';

/**
 * The map as Vite builds it, served from loopback and opened in headless Chromium against a real
 * Nearby server. Friends are raw protocol peers, so the test decides exactly where they are.
 * With NEARBY_SCREENSHOT set, the first test also writes docs/images/web-map.png.
 */
const chromiumCheck = requireChromium();
/** How long to wait for something the map must show; far above the time it takes. */
const UI_WAIT_MS = 15_000;
const SCREENSHOT = process.env.NEARBY_SCREENSHOT !== undefined && process.env.NEARBY_SCREENSHOT !== '';
const SCREENSHOT_PATH = fileURLToPath(new URL('../../../docs/images/web-map.png', import.meta.url));

let env: ServerResource;
let site: StaticSite;
let outDir = '';
let browser: Browser | undefined;
let context: BrowserContext | undefined;
const peers: RawPeer[] = [];

beforeAll(async () => {
  if (!chromiumCheck.available) return;
  outDir = mkdtempSync(join(tmpdir(), 'nearby-web-map-'));
  await buildWebMap(outDir);
  site = await serveWebMap(outDir);
  env = await startServer();
  browser = await launchChromium();
}, 60_000);

afterEach(async () => {
  await context?.close();
  context = undefined;
  for (const peer of peers.splice(0)) await peer.close();
});

afterAll(async () => {
  await browser?.close();
  if (!chromiumCheck.available) return;
  await env.close();
  await site.close();
  rmSync(outDir, { recursive: true, force: true });
});

/** Opens the map as `userId` standing at ORIGIN, with the page's console kept for failures. */
async function openMap(userId: string, extra = ''): Promise<{ page: Page; logs: string[] }> {
  context = await browser!.newContext({ viewport: { width: 1100, height: 720 } });
  const page = await context.newPage();
  // The page's clock runs at its natural pace until a test fast-forwards it.
  await page.clock.install();
  const logs: string[] = [];
  page.on('console', (message) => logs.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => logs.push(`pageerror: ${error.message}`));
  const query = new URLSearchParams({
    server: env.url,
    user: userId,
    token: tokenFor(userId),
    lat: String(ORIGIN.lat),
    lon: String(ORIGIN.lon),
    radius: '5',
  });
  await page.goto(`${site.url}?${query}${extra}`);
  await page.locator('[data-testid="status"][data-state="connected"]').waitFor({ timeout: UI_WAIT_MS });
  return { page, logs };
}

/** A friend as a raw peer at `point`; resolves once its position is live on the server. */
async function friendAt(userId: string, point: { lat: number; lon: number }): Promise<RawPeer> {
  const peer = await RawPeer.connect(env.urlFor(userId));
  peers.push(peer);
  await peer.init({ location: at(point.lat, point.lon) });
  return peer;
}

let seq = 0;
async function moveTo(peer: RawPeer, point: { lat: number; lon: number }): Promise<void> {
  const id = seq++;
  peer.send({ type: 'location', seq: id, samples: [at(point.lat, point.lon)] });
  await peer.waitFor((frame) => frame.type === 'ack' && frame.seq === id);
}

async function centreOf(page: Page, selector: string): Promise<{ x: number; y: number }> {
  const box = await page.locator(selector).boundingBox();
  if (box === null) throw new Error(`${selector} is not on the page`);
  return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
}

describe('examples/web-map in Chromium', () => {
  it('shows a friend with distance and age, moves the marker with each update, removes it when the friend leaves the radius', async (test) => {
    if (!chromiumCheck.available) return test.skip();
    env.graph.link('alice', 'bob');
    env.graph.link('alice', 'carol');
    env.graph.link('alice', 'dave');
    const { page, logs } = await openMap('alice');
    try {
      await expect.poll(() => page.locator('[data-viewer="alice"]').count(), { timeout: UI_WAIT_MS }).toBe(1);
      await expect.poll(() => page.locator('.radius-circle').count(), { timeout: UI_WAIT_MS }).toBe(1);

      const bob = await friendAt('bob', offsetKm(ORIGIN, 1.5));
      const marker = page.locator('[data-friend="bob"]');
      await marker.waitFor({ timeout: UI_WAIT_MS });
      await expect.poll(() => marker.textContent(), { timeout: UI_WAIT_MS }).toMatch(/^bob 1\.5 km · \d+ s ago$/);
      const before = await centreOf(page, '[data-friend="bob"]');
      const viewer = await centreOf(page, '[data-viewer="alice"]');
      // North of the viewer: the same column, higher on the screen.
      expect(Math.abs(before.x - viewer.x)).toBeLessThan(3);
      expect(before.y).toBeLessThan(viewer.y);

      await moveTo(bob, offsetKm(ORIGIN, 0, 3));
      await expect.poll(() => marker.textContent(), { timeout: UI_WAIT_MS }).toMatch(/^bob 3\.0 km · /);
      const after = await centreOf(page, '[data-friend="bob"]');
      // Now east of the viewer: to the right, on the viewer's row.
      expect(after.x).toBeGreaterThan(viewer.x + 20);
      expect(Math.abs(after.y - viewer.y)).toBeLessThan(3);

      // The age label counts up with the page's clock.
      await page.clock.fastForward(12_000);
      await expect.poll(() => marker.locator('.age').textContent(), { timeout: UI_WAIT_MS }).toMatch(/^1[2-9] s ago$/);

      if (SCREENSHOT) {
        await friendAt('carol', offsetKm(ORIGIN, -2.2, -1.4));
        await friendAt('dave', offsetKm(ORIGIN, 3.1, -2.6));
        await page.locator('[data-friend="dave"]').waitFor({ timeout: UI_WAIT_MS });
        mkdirSync(dirname(SCREENSHOT_PATH), { recursive: true });
        await page.screenshot({ path: SCREENSHOT_PATH });
      }

      await moveTo(bob, offsetKm(ORIGIN, 0, 12));
      await marker.waitFor({ state: 'detached', timeout: UI_WAIT_MS });
      await expect.poll(() => page.locator('[data-testid="events"]').textContent(), { timeout: UI_WAIT_MS }).toContain('bob left (out_of_range)');
    } catch (error) {
      throw new Error(`${(error as Error).message}\npage console:\n${logs.join('\n')}`, { cause: error });
    }
  });

  it('fades a friend whose position ages toward inactiveAfterMs', async (test) => {
    if (!chromiumCheck.available) return test.skip();
    env.graph.link('erin', 'frank');
    const { page, logs } = await openMap('erin');
    try {
      await friendAt('frank', offsetKm(ORIGIN, 1));
      const marker = page.locator('[data-friend="frank"]');
      await marker.waitFor({ timeout: UI_WAIT_MS });
      await expect.poll(() => marker.getAttribute('data-opacity'), { timeout: UI_WAIT_MS }).toBe('1.00');

      // Half of the 10 minutes: half of the way from full opacity to the floor (0.25).
      await page.clock.fastForward('05:00');
      await expect.poll(() => marker.locator('.age').textContent(), { timeout: UI_WAIT_MS }).toMatch(/^5 min \d+ s ago$/);
      const opacity = Number(await marker.getAttribute('data-opacity'));
      expect(opacity).toBeGreaterThan(0.55);
      expect(opacity).toBeLessThan(0.7);
      expect(Number(await marker.evaluate((element) => getComputedStyle(element).opacity))).toBeCloseTo(opacity, 1);
    } catch (error) {
      throw new Error(`${(error as Error).message}\npage console:\n${logs.join('\n')}`, { cause: error });
    }
  });
});
