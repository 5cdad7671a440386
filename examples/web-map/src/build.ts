import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, defaultClientConditions, type InlineConfig } from 'vite';

/** The example's folder (where index.html is). */
export const WEB_MAP_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Vite's configuration for the map. `@nearby/source` resolves the workspace packages to their
 * TypeScript source (as the tests do); Vite's own client conditions pick the `browser` entry of
 * `@nearby/client`.
 */
export function webMapViteConfig(outDir = join(WEB_MAP_ROOT, 'dist')): InlineConfig {
  return {
    root: WEB_MAP_ROOT,
    configFile: false,
    base: './',
    logLevel: 'warn',
    resolve: { conditions: ['@nearby/source', ...defaultClientConditions] },
    build: {
      outDir,
      emptyOutDir: true,
      chunkSizeWarningLimit: 1000,
      // A build that shares the CPU with other work (as in the demo) is not a plugin's fault.
      rolldownOptions: { checks: { bundlerTimings: false } },
    },
  };
}

/** Builds the map into `outDir` (a static site: index.html and assets/). */
export async function buildWebMap(outDir: string): Promise<void> {
  await build(webMapViteConfig(outDir));
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

export interface StaticSite {
  /** `http://HOST:PORT/`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** Answers a request itself (returns true) before the files are looked up. */
  handle?: (request: IncomingMessage, response: ServerResponse) => boolean;
}

/** Serves a built map from `root` over HTTP; `/` and unknown paths get index.html. */
export async function serveWebMap(root: string, options: ServeOptions = {}): Promise<StaticSite> {
  const server = createServer((request, response) => {
    if (options.handle?.(request, response) === true) return;
    const path = normalize(decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname));
    let file = join(root, path);
    if (!file.startsWith(root) || path.endsWith('/') || !existsSync(file)) file = join(root, 'index.html');
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    response.end(readFileSync(file));
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://${host}:${port}/`,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
