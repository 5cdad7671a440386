/**
 * Contender 3: the ceiling of raw fan-out. A bare `ws` server, no validation, no Redis, no
 * radius filter: an in-memory map from each user to their online friends' sockets, and every
 * inbound message is relayed verbatim (the same bytes) to each of them. The user id is the
 * `u` query parameter.
 */
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { Scenario } from '../scenario.js';
import type { StartServer } from './types.js';
import { listenOnLoopback } from './listen.js';

export const startWsCeiling: StartServer = async (scenario) => {
  const counters = { connections: 0, messagesIn: 0, messagesOut: 0 };
  const sockets = new Map<number, WebSocket>();
  /** user → sockets of their online friends. */
  const fanout = new Map<number, Set<WebSocket>>();
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, clientTracking: false });
  wss.on('connection', (ws, request) => {
    const query = request.url?.split('?')[1] ?? '';
    const index = Scenario.indexOf(new URLSearchParams(query).get('u') ?? '');
    if (index < 0 || index >= scenario.params.users || sockets.has(index)) return ws.close(4001, 'unknown user');
    counters.connections++;
    const friends = scenario.onlineFriends(index);
    const mine = new Set<WebSocket>();
    sockets.set(index, ws);
    fanout.set(index, mine);
    for (const friend of friends) {
      const peer = sockets.get(friend);
      if (peer === undefined) continue;
      mine.add(peer);
      fanout.get(friend)!.add(ws);
    }
    ws.on('message', (data, isBinary) => {
      counters.messagesIn++;
      for (const peer of mine) peer.send(data, { binary: isBinary });
      counters.messagesOut += mine.size;
    });
    ws.on('close', () => {
      counters.connections--;
      sockets.delete(index);
      fanout.delete(index);
      for (const friend of friends) fanout.get(friend)?.delete(ws);
    });
    ws.on('error', () => {});
  });
  const port = await listenOnLoopback(http);
  return {
    port,
    url: `ws://127.0.0.1:${port}/`,
    counters: () => ({ ...counters }),
    async close() {
      for (const ws of sockets.values()) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
};
