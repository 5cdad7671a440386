/**
 * Contender 4: the ideal in-process server — the least work that still gives every viewer what
 * Nearby gives it. The subset of Nearby's wire protocol the load generator speaks (the bearer
 * token is the user id; `init` → an empty `snapshot`; `location` frames), each user's latest
 * position in a Map, and on every location frame the server-side radius filter (the same
 * distance and rounding as Nearby's) against the sender's online friends: one
 * `JSON.stringify` + `send` of a `friend_update` per viewer in range. No validation, no acks, no
 * Redis, no history, no batching, no repeats when the viewer moves: nothing else. Its CPU per
 * delivery is the floor a server with a radius filter can reach on this machine.
 */
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { distanceKm, withinRadius } from '../geo.js';
import { Scenario } from '../scenario.js';
import type { StartServer } from './types.js';
import { listenOnLoopback } from './listen.js';

interface Session {
  ws: WebSocket;
  friends: number[];
  /** Latest position, NaN until the first one. */
  lat: number;
  lon: number;
}

export const startIdeal: StartServer = async (scenario) => {
  const counters = { connections: 0, locationsIn: 0, framesOut: 0 };
  const radiusKm = scenario.params.radiusKm;
  const sessions = new Map<number, Session>();
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, clientTracking: false });
  wss.on('connection', (ws, request) => {
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
    const index = Scenario.indexOf(token);
    if (index < 0 || index >= scenario.params.users || sessions.has(index)) return ws.close(4001, 'unauthorized');
    counters.connections++;
    const session: Session = { ws, friends: scenario.onlineFriends(index), lat: Number.NaN, lon: Number.NaN };
    sessions.set(index, session);
    const userId = Scenario.userId(index);
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string; location?: { lat: number; lon: number; timestamp: number }; samples?: Array<{ lat: number; lon: number; timestamp: number }> };
      if (frame.type === 'init') {
        if (frame.location !== undefined) {
          session.lat = frame.location.lat;
          session.lon = frame.location.lon;
        }
        ws.send(JSON.stringify({ type: 'snapshot', userId, radiusKm, friends: [] }));
        return;
      }
      if (frame.type !== 'location' || frame.samples === undefined || frame.samples.length === 0) return;
      counters.locationsIn++;
      const sample = frame.samples[frame.samples.length - 1]!;
      session.lat = sample.lat;
      session.lon = sample.lon;
      for (const friend of session.friends) {
        const viewer = sessions.get(friend);
        if (viewer === undefined || Number.isNaN(viewer.lat)) continue;
        const distance = distanceKm(viewer.lat, viewer.lon, sample.lat, sample.lon);
        if (!withinRadius(distance, radiusKm)) continue;
        viewer.ws.send(
          JSON.stringify({
            type: 'friend_update',
            friends: [{ userId, lat: sample.lat, lon: sample.lon, distanceKm: Math.round(distance * 1000) / 1000, updatedAt: sample.timestamp }],
          }),
        );
        counters.framesOut++;
      }
    });
    ws.on('close', () => {
      counters.connections--;
      if (sessions.get(index) === session) sessions.delete(index);
    });
    ws.on('error', () => {});
  });
  const port = await listenOnLoopback(http);
  return {
    port,
    url: `ws://127.0.0.1:${port}/`,
    counters: () => ({ ...counters }),
    async close() {
      for (const session of sessions.values()) session.ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
};
