/** Where the map puts the viewer. */
export type ViewerSource =
  /** A fixed position from the URL; this tab shares it as the user's location. */
  | { kind: 'fixed'; lat: number; lon: number }
  /** The browser's geolocation; this tab shares it. */
  | { kind: 'geolocation' }
  /** Another device shares the user's location; this tab polls a JSON `{ lat, lon }` to draw it. */
  | { kind: 'poll'; url: string }
  /** Not drawn: the list still comes from the position another device shares. */
  | { kind: 'none' };

/** The map's configuration, read from the page's query string. */
export interface MapConfig {
  /** `ws://` or `wss://` endpoint of a Nearby server. */
  server: string;
  /** The user this page shows; only a label (the server authenticates the token). */
  user: string;
  token: string;
  /** Radius to ask for, km; the account's saved radius when absent. */
  radiusKm: number | undefined;
  /** The client's `inactiveAfterMs` option: the expiry rule until the first snapshot brings the server's. */
  inactiveAfterMs: number;
  /** `{z}/{x}/{y}` tile URL; a drawn grid when absent. */
  tiles: string | undefined;
  viewer: ViewerSource;
}

/** The default of `inactiveAfterMs` in the client and the server: 10 minutes. */
export const DEFAULT_INACTIVE_AFTER_MS = 600_000;

/** A configuration the page cannot start with; the message names the parameter. */
export class MapConfigError extends Error {
  override name = 'MapConfigError';
}

function numberParam(params: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = params.get(name);
  if (raw === null || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new MapConfigError(`${name} must be a number in [${min}, ${max}], got "${raw}"`);
  }
  return value;
}

/**
 * Reads the configuration from a query string such as
 * `?server=ws://127.0.0.1:8080/nearby&user=alice&token=…&tiles=…`. `defaultTiles` is the
 * build's `VITE_TILE_URL`, used when the query has no `tiles`. Throws {@link MapConfigError}.
 */
export function parseConfig(search: string, defaultTiles?: string): MapConfig {
  const params = new URLSearchParams(search);
  const server = params.get('server') ?? '';
  if (!/^wss?:\/\/[^#]+$/.test(server)) {
    throw new MapConfigError(`server must be a ws:// or wss:// URL without a #fragment, got "${server}"`);
  }
  const token = params.get('token') ?? '';
  if (token === '') throw new MapConfigError('token is required');
  const user = params.get('user') ?? '';
  const tiles = params.get('tiles') || defaultTiles || undefined;
  if (tiles !== undefined && !/^https?:\/\//.test(tiles)) {
    throw new MapConfigError(`tiles must be an http:// or https:// URL template, got "${tiles}"`);
  }
  const lat = numberParam(params, 'lat', -90, 90);
  const lon = numberParam(params, 'lon', -180, 180);
  if ((lat === undefined) !== (lon === undefined)) throw new MapConfigError('lat and lon go together');
  const viewerUrl = params.get('viewer');
  let viewer: ViewerSource;
  if (lat !== undefined && lon !== undefined) viewer = { kind: 'fixed', lat, lon };
  else if (params.get('geolocation') === '1') viewer = { kind: 'geolocation' };
  else if (viewerUrl !== null && viewerUrl !== '') viewer = { kind: 'poll', url: viewerUrl };
  else viewer = { kind: 'none' };
  return {
    server,
    user,
    token,
    radiusKm: numberParam(params, 'radius', 0.1, 50),
    inactiveAfterMs: numberParam(params, 'inactiveAfterMs', 1000, 86_400_000) ?? DEFAULT_INACTIVE_AFTER_MS,
    tiles,
    viewer,
  };
}
