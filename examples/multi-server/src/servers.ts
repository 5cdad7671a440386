/** Forks the server processes and talks to them over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromServer, ServerConfig, ToServer } from './ipc.js';

export type ServerStatsMessage = Extract<FromServer, { type: 'stats' }>;

export interface ServerProcess {
  readonly index: number;
  readonly pid: number | undefined;
  readonly port: number;
  /** The process's identity on the Pub/Sub bus (`server.serverId`). */
  readonly serverId: string;
  /** Asks for counters; undefined when the process does not answer within 800 ms. */
  stats(): Promise<ServerStatsMessage | undefined>;
  /** Asks the process to drain and close; SIGKILL after 8 s. */
  stop(): Promise<void>;
  /** Synchronous last resort for `process.on('exit')`. */
  killNow(): void;
}

const SERVER_ENTRY = fileURLToPath(new URL('./server.ts', import.meta.url));
// Resolved here rather than by name in the child, so it works whatever the working directory.
const TSX_LOADER = import.meta.resolve('tsx');

export async function startServer(config: ServerConfig): Promise<ServerProcess> {
  const child: ChildProcess = fork(SERVER_ENTRY, [JSON.stringify(config)], {
    execArgv: ['--import', TSX_LOADER, '--conditions=@nearby/source'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let running = true;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => (running = false));
  const post = (message: ToServer) => {
    if (child.connected) child.send(message);
  };

  const ready = await new Promise<Extract<FromServer, { type: 'ready' }>>((resolve, reject) => {
    child.on('message', (message: FromServer) => {
      if (message.type === 'ready') resolve(message);
      if (message.type === 'failed') reject(new Error(`server ${config.index}: ${message.message}`));
    });
    void exited.then(() => reject(new Error(`server ${config.index} exited before it was ready`)));
  }).catch(async (error: unknown) => {
    await exited;
    throw error;
  });

  return {
    index: config.index,
    pid: child.pid,
    port: ready.port,
    serverId: ready.serverId,
    stats() {
      if (!running) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        const timer = setTimeout(() => done(undefined), 800);
        const onMessage = (message: FromServer) => {
          if (message.type === 'stats') done(message);
        };
        const done = (value: ServerStatsMessage | undefined) => {
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve(value);
        };
        child.on('message', onMessage);
        post({ type: 'stats' });
      });
    },
    async stop() {
      if (!running) return;
      post({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 8_000);
      await exited;
      clearTimeout(timer);
    },
    killNow() {
      if (running) child.kill('SIGKILL');
    },
  };
}
