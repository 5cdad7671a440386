import {
  createNearbyServer,
  tokenFromRequest,
  type FriendGraph,
  type NearbyServer,
  type NearbyServerOptions,
} from '@nearby/server';

/** A friend graph the test can edit; the server reads it at init. */
export class TestFriendGraph implements FriendGraph {
  readonly #friends = new Map<string, Set<string>>();
  failFor = new Set<string>();

  async getFriends(userId: string): Promise<string[]> {
    if (this.failFor.has(userId)) throw new Error(`friend graph unavailable for ${userId}`);
    return [...(this.#friends.get(userId) ?? [])];
  }

  /** Records a friendship both ways (without telling any server). */
  link(a: string, b: string): void {
    this.#set(a).add(b);
    this.#set(b).add(a);
  }

  unlink(a: string, b: string): void {
    this.#set(a).delete(b);
    this.#set(b).delete(a);
  }

  #set(userId: string): Set<string> {
    let set = this.#friends.get(userId);
    if (set === undefined) {
      set = new Set();
      this.#friends.set(userId, set);
    }
    return set;
  }
}

/** Tokens in tests are `token-<userId>`; anything else is refused. */
export function tokenFor(userId: string): string {
  return `token-${userId}`;
}

export interface ServerResource {
  server: NearbyServer;
  graph: TestFriendGraph;
  port: number;
  /** WebSocket URL without a token. */
  url: string;
  /** WebSocket URL authenticating as `userId`. */
  urlFor(userId: string): string;
  errors: unknown[];
  close(): Promise<void>;
}

/** Starts a real server on a free loopback port. */
export async function startServer(
  options: Partial<NearbyServerOptions> & { graph?: TestFriendGraph } = {},
): Promise<ServerResource> {
  const { graph = new TestFriendGraph(), ...serverOptions } = options;
  const errors: unknown[] = [];
  const server = createNearbyServer({
    authenticate: (request) => {
      const token = tokenFromRequest(request);
      return token !== null && token.startsWith('token-') ? token.slice('token-'.length) : null;
    },
    friends: graph,
    onError: (error) => errors.push(error),
    ...serverOptions,
    port: 0,
    host: '127.0.0.1',
  });
  const { port } = await server.listen();
  const url = `ws://127.0.0.1:${port}/nearby`;
  return {
    server,
    graph,
    port,
    url,
    urlFor: (userId) => `${url}?access_token=${encodeURIComponent(tokenFor(userId))}`,
    errors,
    close: () => server.close(),
  };
}
