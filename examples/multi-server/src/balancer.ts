/**
 * A round-robin TCP load balancer (layer 4). Each client connection is piped to the next
 * backend in turn, bytes untouched, so WebSocket upgrades and frames pass through as they are.
 * No sticky sessions: a reconnecting user may land on any server, and Nearby does not mind
 * (state lives in Redis and is rebuilt by the client's `init`).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface Balancer {
  readonly port: number;
  /** Connections accepted so far, per backend (by index). */
  readonly accepted: number[];
  close(): Promise<void>;
}

export async function startBalancer(backendPorts: readonly number[], host = '127.0.0.1'): Promise<Balancer> {
  const sockets = new Set<Socket>();
  const accepted = backendPorts.map(() => 0);
  let next = 0;

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  // Tries backends in turn, starting with the next one in the rotation, skipping any that refuse.
  const forward = (client: Socket, attempt: number) => {
    const index = next;
    next = (next + 1) % backendPorts.length;
    const upstream = connect({ host, port: backendPorts[index]! });
    track(upstream);
    upstream.once('error', () => {
      // Refused before connecting (that server is down or restarting): try the next one.
      if (attempt + 1 < backendPorts.length && !client.destroyed) forward(client, attempt + 1);
      else client.destroy();
    });
    upstream.once('connect', () => {
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      accepted[index]!++;
      // From here on an error on either side ends both.
      upstream.removeAllListeners('error');
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      // A close on one side ends the other after its pending bytes are written.
      upstream.once('close', () => client.end());
      client.once('close', () => upstream.end());
      client.pipe(upstream);
      upstream.pipe(client);
    });
  };

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    track(client);
    client.on('error', () => client.destroy()); // until piped
    forward(client, 0);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  return {
    port,
    accepted,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
