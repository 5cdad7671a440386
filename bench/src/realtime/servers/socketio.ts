/**
 * Contender 2: the feature written the way a Socket.IO user would write it. Socket.IO 4 with
 * the Redis adapter on the benchmark's redis-server; the user id comes from the handshake's
 * `auth.token`; every socket joins one room per friend (`u:<friendId>`, online or not); a `loc`
 * event stores the latest position in Redis (SET … PX, like the book's location cache) and is
 * broadcast to the sender's room. A room broadcast cannot apply a radius per recipient, so the
 * clients filter (the load generator discards entries beyond the radius). No history.
 */
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import type { StartServer } from './types.js';
import { listenOnLoopback } from './listen.js';

const INACTIVE_AFTER_MS = 600_000;

export const startSocketIo: StartServer = async (scenario, redisUrl) => {
  const pub = new Redis(redisUrl);
  const sub = pub.duplicate();
  const counters = { connections: 0, locIn: 0, invalidIn: 0, broadcasts: 0, redisErrors: 0 };
  const http = createServer();
  const io = new Server(http, {
    transports: ['websocket'],
    serveClient: false,
    adapter: createAdapter(pub, sub),
  });
  io.use((socket, next) => {
    const token: unknown = socket.handshake.auth?.token;
    if (typeof token !== 'string' || token.length === 0) return next(new Error('unauthorized'));
    socket.data.userId = token;
    next();
  });
  io.on('connection', (socket) => {
    counters.connections++;
    const userId = socket.data.userId as string;
    void socket.join(scenario.friendIds(userId).map((friendId) => `u:${friendId}`));
    const room = `u:${userId}`;
    const key = `loc:${userId}`;
    socket.on('loc', (message: { lat?: unknown; lon?: unknown; t?: unknown } | null) => {
      if (typeof message !== 'object' || message === null) return void counters.invalidIn++;
      const { lat, lon, t } = message;
      if (typeof lat !== 'number' || typeof lon !== 'number' || typeof t !== 'number') return void counters.invalidIn++;
      counters.locIn++;
      pub.set(key, JSON.stringify({ lat, lon, t }), 'PX', INACTIVE_AFTER_MS).catch(() => counters.redisErrors++);
      socket.to(room).emit('friend', { userId, lat, lon, t });
      counters.broadcasts++;
    });
    socket.on('disconnect', () => counters.connections--);
  });
  const port = await listenOnLoopback(http);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    counters: () => ({ ...counters }),
    async close() {
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
      pub.disconnect();
      sub.disconnect();
    },
  };
};
