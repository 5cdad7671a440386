import 'leaflet/dist/leaflet.css';
import './style.css';
import { NearbyClient } from '@nearby/client';
import { parseConfig, MapConfigError } from './config.js';
import { startMap } from './map.js';

const status = document.getElementById('status')!;
try {
  const config = parseConfig(location.search, import.meta.env.VITE_TILE_URL as string | undefined);
  const client = new NearbyClient({
    url: config.server,
    token: config.token,
    inactiveAfterMs: config.inactiveAfterMs,
    ...(config.radiusKm !== undefined ? { radiusKm: config.radiusKm } : {}),
  });
  startMap(document.getElementById('map')!, client, config);
  client.connect();
  // Leaving the page signs this device off (close code 1000).
  addEventListener('pagehide', () => client.close());
} catch (error) {
  status.className = 'error';
  status.textContent =
    error instanceof MapConfigError
      ? `${error.message}. Open the page as ?server=ws://HOST:PORT/nearby&user=ID&token=TOKEN (see the README).`
      : String(error);
  throw error;
}
