import { createServer } from 'node:http';
import { chromium, type Browser } from 'playwright-core';
import { requireProgram } from './requirements.js';

/** Debian's Chromium; browsers are never downloaded. */
export const CHROMIUM = '/usr/bin/chromium';

/** Whether Chromium is installed (in CI a missing one fails the suite; see {@link requireProgram}). */
export function requireChromium(): { available: boolean; reason: string } {
  return requireProgram(CHROMIUM, 'chromium');
}

/**
 * Headless Chromium with no background networking: on a closed network its own connections to
 * update and sync services would be refused, many at a time.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run'],
  });
}

/** A loopback HTTP server for a test page. */
export interface TestPage {
  /** `http://127.0.0.1:PORT/`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves `html` at every path but `scriptPath`, which serves `script` as JavaScript: a page
 * whose whole app is one bundle.
 */
export async function serveTestPage(html: string, scriptPath: string, script: string): Promise<TestPage> {
  const server = createServer((request, response) => {
    if (request.url === scriptPath) {
      response.writeHead(200, { 'content-type': 'text/javascript' });
      response.end(script);
      return;
    }
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
