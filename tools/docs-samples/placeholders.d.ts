// Names the documentation samples take from the app around them: its session check, database,
// rendering, the web framework it already runs, and the server or client a sample continues
// from. Declared here so the samples typecheck as written.
import type { ServerFrame } from '@nearby/protocol';
import type { NearbyClient, NearbyClientOptions, NearbyFriend, NearbyStranger } from '@nearby/client';
import type {
  FriendGraph,
  HistoryStore,
  LocationCache,
  NearbyServer,
  NearbyServerOptions,
  PresenceRegistry,
  PubSubTransport,
  SettingsStore,
} from '@nearby/server';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ReactElement } from 'react';

/** A socket of some other transport (the engine's bring-your-own-transport samples). */
interface AppSocket {
  readonly bufferedAmount: number;
  send(text: string, onWritten?: (error?: Error) => void): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  onmessage: ((text: string | undefined) => void) | null;
  onclose: ((code: number) => void) | null;
}

declare global {
  // The app's authentication and data.
  function verifySession(token: string | null | undefined): Promise<string | null>;
  const db: {
    friendIdsOf(userId: string): Promise<string[]>;
    addFriendship(a: string, b: string): Promise<void>;
    removeFriendship(a: string, b: string): Promise<void>;
  };
  const auth: { token(): Promise<string>; getAccessToken(): Promise<string>; currentAccessToken(): string; userId: string };
  function signOut(): void;
  // Stores of the app's own, shaped as each sample uses them.
  const accounts: any;
  const blocks: any;
  const profiles: any;
  const sessions: any;
  const myBackend: any;
  const log: { info(...args: unknown[]): void; warn(...args: unknown[]): void; error(...args: unknown[]): void };

  // The app's UI.
  function render(friends: readonly NearbyFriend[]): void;
  function renderPeople(people: readonly NearbyStranger[]): void;
  function showNotAllowed(): void;
  function forget(userId: string): void;
  function markOffline(userId: string): void;
  function handle(frame: ServerFrame): void;

  // A web framework the app already runs (an Express or Fastify instance).
  const app: ((req: IncomingMessage, res: ServerResponse) => void) & {
    get(path: string, handler: (req: any, res: any) => unknown): void; use(...handlers: any[]): void;
  };
  const fastify: { get(path: string, handler: (request: any, reply: any) => unknown): void };
  function NearbyScreen(): ReactElement;

  // What a sample continues from: the app's server and its options, or its client.
  const nearby: NearbyServer;
  const server: NearbyServer;
  const options: NearbyServerOptions;
  const authenticate: NearbyServerOptions['authenticate'];
  const friends: FriendGraph;
  const client: NearbyClient;
  const getToken: NearbyClientOptions['getToken'];
  const userId: string;
  const url: string;
  const connectionString: string;
  const table: string;

  // Adapters a sample wires in: instances, and the classes of adapters the app writes.
  const cache: LocationCache;
  const pubsub: PubSubTransport;
  const settings: SettingsStore;
  const presence: PresenceRegistry;
  class MyCache {
    constructor(...args: any[]);
  }
  interface MyCache extends LocationCache {}
  class MyPubSub {
    constructor(...args: any[]);
  }
  interface MyPubSub extends PubSubTransport {}
  class MyHistory {
    constructor(...args: any[]);
  }
  interface MyHistory extends HistoryStore {}
  class MySettings {
    constructor(...args: any[]);
  }
  interface MySettings extends SettingsStore {}
  class MyPresence {
    constructor(...args: any[]);
    /** Stops all work and removes nothing, as a crashed process would. */
    kill(): Promise<void>;
  }
  interface MyPresence extends PresenceRegistry {}
  /** The storage a hand-written adapter sits on. */
  type SampleTable = any;

  // The history samples continue from `const history = createPostgresHistoryStore(…)`. The DOM's
  // global `history` is in scope too, so its interface takes the store's methods.
  interface History extends HistoryStore {}
  const socket: AppSocket;
  /** A frame's text as received. */
  const text: string;
}

export {};
