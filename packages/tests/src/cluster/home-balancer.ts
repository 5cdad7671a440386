import { connect, createServer, type Server, type Socket } from 'node:net';

/** Longest request line the balancer reads before giving up on a connection. */
const MAX_REQUEST_LINE = 8_192;

export interface HomeBalancerOptions {
  /** Ports of the server processes on 127.0.0.1, by process index. */
  backends: readonly number[];
  /** The user a request target (`/nearby?access_token=…`) belongs to; `undefined` for none. */
  userOf(target: string): string | undefined;
  /** The process a user belongs on. */
  homeOf(userId: string): number;
}

/**
 * A loopback TCP balancer in front of the processes of a cluster. It reads the request line of
 * each new connection to learn whose it is and relays the connection to that user's home
 * process; when the home is out of rotation or refuses the connection (the process is dead), to
 * the next process in index order, wrapping around. Apart from that it relays bytes untouched,
 * so WebSocket upgrades and frames pass through as they are, and a connection that ends on one
 * side ends on the other.
 */
export class HomeBalancer {
  readonly port: number;
  /** The process each user's latest connection went to. */
  readonly backendOf = new Map<string, number>();
  readonly #options: HomeBalancerOptions;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #out = new Set<number>();

  private constructor(options: HomeBalancerOptions, server: Server, port: number) {
    this.#options = options;
    this.#server = server;
    this.port = port;
    server.on('connection', (client) => this.#accept(client));
  }

  static async start(options: HomeBalancerOptions): Promise<HomeBalancer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new HomeBalancer(options, server, (server.address() as { port: number }).port);
  }

  /** Takes process `index` out of rotation, as a failed health check would: new connections go elsewhere. */
  takeOut(index: number): void {
    this.#out.add(index);
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  #accept(client: Socket): void {
    this.#track(client);
    client.on('error', () => client.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n');
      if (end === -1) {
        if (head.length > MAX_REQUEST_LINE) client.destroy();
        return;
      }
      client.off('data', onData);
      client.pause();
      const target = head.subarray(0, end).toString('latin1').split(' ')[1] ?? '';
      const userId = this.#options.userOf(target);
      this.#forward(client, head, userId, this.#candidates(userId));
    };
    client.on('data', onData);
  }

  /** Processes to try, home first, skipping those out of rotation. */
  #candidates(userId: string | undefined): number[] {
    const size = this.#options.backends.length;
    const home = userId === undefined ? 0 : this.#options.homeOf(userId);
    const order = Array.from({ length: size }, (_, i) => (home + i) % size);
    return order.filter((index) => !this.#out.has(index));
  }

  #forward(client: Socket, head: Buffer, userId: string | undefined, candidates: number[]): void {
    const [index, ...rest] = candidates;
    if (index === undefined || client.destroyed) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: this.#options.backends[index]! });
    this.#track(upstream);
    // Refused before connecting: that process is down, try the next one.
    upstream.once('error', () => this.#forward(client, head, userId, rest));
    upstream.once('connect', () => {
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      if (userId !== undefined) this.backendOf.set(userId, index);
      upstream.removeAllListeners('error');
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.once('close', () => client.end());
      client.once('close', () => upstream.end());
      upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }
}
