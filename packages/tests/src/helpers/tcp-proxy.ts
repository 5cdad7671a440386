import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of a server, so a test can cut every connection at once the
 * way a network drop would (the client sees 1006, the server a dead socket), or black-hole them.
 */
export class TcpProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  port = 0;
  connections = 0;
  /** While true, new connections are accepted and dropped at once (the network is down). */
  refusing = false;

  private constructor(targetPort: number) {
    this.#server = createServer((client) => {
      if (this.refusing) {
        client.destroy();
        return;
      }
      this.connections++;
      const upstream = connect(targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', () => resolve()));
    proxy.port = (proxy.#server.address() as { port: number }).port;
    return proxy;
  }

  /**
   * Black-holes every open connection: bytes are still read on both sides but dropped, and no
   * socket is closed, the way a network that silently stops carrying packets looks to both
   * ends. Connections accepted afterwards are forwarded normally. Returns how many sockets
   * were black-holed.
   */
  blackhole(): number {
    for (const socket of this.#sockets) {
      socket.unpipe();
      socket.on('data', () => {});
      socket.resume();
    }
    return this.#sockets.size;
  }

  /** Destroys every open connection (both directions). */
  cutAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
