import type { Scenario } from '../scenario.js';

/** A contender's server, running in the server child process. */
export interface ContenderServer {
  /** Port on 127.0.0.1. */
  port: number;
  /** URL clients connect to, without the user's credentials. */
  url: string;
  counters(): Record<string, number>;
  close(): Promise<void>;
}

export type StartServer = (scenario: Scenario, redisUrl: string) => Promise<ContenderServer>;
