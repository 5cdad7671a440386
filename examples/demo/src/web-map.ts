import { resolve } from 'node:path';
import type { LatLon } from '@nearby/protocol';
import { buildWebMap, serveWebMap, type StaticSite } from '@nearby/example-web-map/build';

/** Where the demo builds the map (rebuilt at every start; a second or two). */
export const WEB_MAP_DIR = '.nearby-demo/web-map';

export interface DemoMap {
  /** The page showing the chosen user, to open in a browser. */
  readonly url: string;
  close(): Promise<void>;
}

/** Builds examples/web-map with Vite into {@link WEB_MAP_DIR}. */
export function buildDemoMap(): Promise<string> {
  const dir = resolve(WEB_MAP_DIR);
  return buildWebMap(dir).then(() => dir);
}

/**
 * Serves the built map on loopback at `port` (a free one if it is taken), for `user` on the
 * demo server at `serverUrl`. The demo's tokens are the user ids. The user's own position comes
 * from `/viewer.json`, since the demo, not the browser, walks them.
 */
export async function serveDemoMap(options: {
  dir: string;
  port: number;
  serverUrl: string;
  user: string;
  position: () => LatLon;
  progress: (step: string) => void;
}): Promise<DemoMap> {
  const handle: Parameters<typeof serveWebMap>[1] = {
    handle: (request, response) => {
      if (new URL(request.url ?? '/', 'http://x').pathname !== '/viewer.json') return false;
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      response.end(JSON.stringify(options.position()));
      return true;
    },
  };
  let site: StaticSite;
  try {
    site = await serveWebMap(options.dir, { ...handle, port: options.port });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    options.progress(`port ${options.port} is taken; serving the map on a free port instead`);
    site = await serveWebMap(options.dir, { ...handle, port: 0 });
  }
  // ':' and '/' may stand unescaped in a query: the printed URL stays readable.
  const param = (value: string) => encodeURIComponent(value).replace(/%3A/g, ':').replace(/%2F/g, '/');
  const query = `server=${param(options.serverUrl)}&user=${param(options.user)}&token=${param(options.user)}&viewer=/viewer.json`;
  return { url: `${site.url}?${query}`, close: () => site.close() };
}
