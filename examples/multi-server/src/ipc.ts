import type { NearbyServerStats } from '@nearby/server';
import type { RedisPubSubStats } from '@nearby/server/redis';

/** What a server process is started with (as its one command-line argument, JSON). */
export interface ServerConfig {
  /** 1-based number of this process, for display. */
  index: number;
  redisUrl: string;
  users: number;
  seed: number;
  /** When set, serves /metrics, /healthz and /readyz on 127.0.0.1 at this port. */
  metricsPort?: number;
}

/** Messages from the main process to a server process. */
export type ToServer = { type: 'stats' } | { type: 'stop' };

/** Messages from a server process to the main process. */
export type FromServer =
  | { type: 'ready'; port: number; serverId: string }
  | { type: 'failed'; message: string }
  | {
      type: 'stats';
      stats: NearbyServerStats;
      pubsub: RedisPubSubStats;
      /** Users with an open WebSocket on this process. */
      users: string[];
      errors: number;
      lastError: string | undefined;
    };
