import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hash32, type NearbyServerOptions } from '@nearby/server';
import type { RedisServerProcess } from '../helpers/redis-server.js';
import { TestFriendGraph, tokenFor } from '../helpers/server-resource.js';
import {
  ENV,
  RemoteError,
  toWireError,
  type ChildMessage,
  type ChildStats,
  type ParentMessage,
  type ServerOp,
  type ShardedConfig,
} from './ipc.js';

/** Longest the whole cluster may take to start. */
const STARTUP_TIMEOUT_MS = 20_000;
/** Longest one IPC call may take (drain gets its window on top). */
const CALL_TIMEOUT_MS = 10_000;
/** Longest a child gets to close politely before it is killed. */
const CLOSE_TIMEOUT_MS = 5_000;

/** Server options a child can receive: plain data only (no functions, adapters or timers). */
export type ClusterServerOptions = Omit<
  Partial<NearbyServerOptions>,
  'authenticate' | 'friends' | 'cache' | 'pubsub' | 'history' | 'server' | 'port' | 'host' | 'serverId' | 'onError' | 'timers'
>;

export interface ClusterOptions {
  /** Number of server processes. Default 3. */
  servers?: number;
  /** The Redis every process connects to (ignored with `sharded`). */
  redis?: Pick<RedisServerProcess, 'url'>;
  /** Sharded adapters instead: nodes listed in etcd, settings and presence on a primary Redis. */
  sharded?: ShardedConfig;
  /** Pub/Sub on a Redis Cluster with these master URLs instead; the cache, settings and presence stay on `redis`. */
  redisCluster?: readonly string[];
  serverOptions?: ClusterServerOptions;
  /** `connectTimeoutMs` of each child's Redis adapters. Default 5 000. */
  connectTimeoutMs?: number;
  /** `livenessTtlMs` of each child's Redis adapters. Default: the adapters' own. */
  livenessTtlMs?: number;
}

/** A set of server processes sharing one Redis, and the friend graph they all read. */
export interface ClusterEnv {
  /** The friend graph; it lives in the test process and answers every child's getFriends. Replaceable between tests. */
  graph: TestFriendGraph;
  readonly size: number;
  readonly ports: readonly number[];
  readonly serverIds: readonly string[];
  /** The process a user lands on by default: a hash of the id, so friends usually land on different processes. */
  serverIndexOf(userId: string): number;
  /** WebSocket URL authenticating as `userId` on server `serverIndex` (default {@link serverIndexOf}). */
  urlFor(userId: string, serverIndex?: number): string;
  /** `server.friendAdded(a, b)` on process `serverIndex` (default: one where neither user lands, if any). */
  friendAdded(a: string, b: string, serverIndex?: number): Promise<void>;
  friendRemoved(a: string, b: string, serverIndex?: number): Promise<void>;
  stats(serverIndex: number): Promise<ChildStats>;
  drain(serverIndex: number, options?: { windowMs?: number; waves?: number }): Promise<void>;
  /** Round trip on every child's command connection, then on every child's subscriber connection. */
  fence(): Promise<void>;
  /** Whether process `serverIndex` is still running. */
  alive(serverIndex: number): boolean;
  /** Kills process `serverIndex` with SIGKILL, as a crash would, and waits for its exit. Not counted in `unexpectedExits`. */
  kill(serverIndex: number): Promise<void>;
  /** Processes that exited before `close()` other than by {@link kill}, with their exit code or signal and the end of their stderr. */
  readonly unexpectedExits: ReadonlyArray<{ serverIndex: number; code: number | null; signal: string | null; stderr: string }>;
  /** Closes every process politely, killing any that does not finish in time. Safe if some already died. */
  close(): Promise<void>;
}

/** The repository root: the nearest ancestor with pnpm-workspace.yaml (tsx and the workspace packages resolve from it). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no pnpm-workspace.yaml above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

const CHILD_ENTRY = fileURLToPath(new URL('./server-process.ts', import.meta.url));

/** One forked server process and its IPC bookkeeping. */
class ServerChild {
  readonly index: number;
  readonly serverId: string;
  readonly process: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  port = 0;
  #stderr = '';
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; op: string }>();
  #onReady: ((port: number) => void) | undefined;
  #onFatal: ((error: Error) => void) | undefined;

  constructor(index: number, serverId: string, env: NodeJS.ProcessEnv, graph: () => TestFriendGraph) {
    this.index = index;
    this.serverId = serverId;
    this.process = fork(CHILD_ENTRY, [], {
      cwd: repoRoot(),
      execArgv: ['--import', 'tsx', '--conditions=@nearby/source'],
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    // Keep the pipes drained (a full pipe would block the child) and the end of stderr for diagnostics.
    this.process.stdout?.on('data', (chunk: Buffer) => {
      if (env[ENV.debug]) process.stdout.write(chunk);
    });
    this.process.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4_000);
      if (env[ENV.debug]) process.stderr.write(chunk);
    });
    this.exited = new Promise((resolve) => {
      this.process.once('exit', (code, signal) => {
        const error = new Error(`server process ${index} (${serverId}) exited (code ${code}, signal ${signal}): ${this.stderr}`);
        for (const pending of this.#pending.values()) pending.reject(error);
        this.#pending.clear();
        this.#onFatal?.(error);
        resolve({ code, signal });
      });
    });
    this.process.on('error', () => {}); // reported through 'exit' or a failed send
    this.process.on('message', (message: ChildMessage) => {
      switch (message.type) {
        case 'ready':
          this.port = message.port;
          this.#onReady?.(message.port);
          return;
        case 'fatal':
          this.#onFatal?.(new RemoteError(message.error, `server process ${index} failed to start`));
          return;
        case 'result': {
          const pending = this.#pending.get(message.id);
          if (pending === undefined) return;
          this.#pending.delete(message.id);
          if (message.ok) pending.resolve(message.value);
          else pending.reject(new RemoteError(message.error, `server ${index}: ${pending.op}`));
          return;
        }
        case 'getFriends':
          graph()
            .getFriends(message.userId)
            .then(
              (friends) => this.#send({ type: 'friends', id: message.id, ok: true, friends }),
              (error: unknown) => this.#send({ type: 'friends', id: message.id, ok: false, error: toWireError(error) }),
            );
          return;
      }
    });
  }

  get stderr(): string {
    return this.#stderr.trim();
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Resolves with the port once the child listens; rejects if it fails, exits or takes too long. */
  ready(timeoutMs: number): Promise<number> {
    if (this.port !== 0) return Promise.resolve(this.port);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`server process ${this.index} not ready after ${timeoutMs} ms: ${this.stderr}`)),
        timeoutMs,
      );
      this.#onReady = (port) => {
        clearTimeout(timer);
        resolve(port);
      };
      this.#onFatal = (error) => {
        clearTimeout(timer);
        reject(error);
      };
      if (!this.running) reject(new Error(`server process ${this.index} exited before it was ready: ${this.stderr}`));
    });
  }

  call(operation: ServerOp, timeoutMs = CALL_TIMEOUT_MS): Promise<unknown> {
    if (!this.running || !this.process.connected) {
      return Promise.reject(new Error(`server process ${this.index} is not running: ${this.stderr}`));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`server process ${this.index}: ${operation.op} took more than ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        op: operation.op,
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.#send({ type: 'call', id, ...operation });
    });
  }

  /** Closes politely; kills the process if that fails or takes too long. Never rejects. */
  async close(): Promise<void> {
    if (this.running && this.process.connected) {
      await Promise.race([this.call({ op: 'close' }, CLOSE_TIMEOUT_MS).catch(() => undefined), this.exited]);
    }
    await this.kill();
  }

  /** SIGKILL (if still running) and wait for the exit. */
  async kill(): Promise<void> {
    if (this.running) this.process.kill('SIGKILL');
    await this.exited;
  }

  #send(message: ParentMessage): void {
    if (!this.process.connected) return;
    try {
      this.process.send(message, (error) => {
        if (error === null || error === undefined) return;
        if ('id' in message && message.type === 'call') {
          const pending = this.#pending.get(message.id);
          this.#pending.delete(message.id);
          pending?.reject(error);
        }
      });
    } catch {
      // The channel closed meanwhile; 'exit' rejects whatever is pending.
    }
  }
}

/**
 * Starts `servers` server processes on one Redis. Each listens on a free loopback port and asks
 * this process's {@link TestFriendGraph} for friend lists. Rejects (after killing whatever it
 * started) if any process fails to start within 20 s, with that process's error.
 */
export async function startCluster(options: ClusterOptions): Promise<ClusterEnv> {
  const size = options.servers ?? 3;
  let graph = new TestFriendGraph();
  const runId = Math.random().toString(36).slice(2, 8);
  const children: ServerChild[] = [];
  const unexpectedExits: Array<{ serverIndex: number; code: number | null; signal: string | null; stderr: string }> = [];
  const killed = new Set<number>();
  let closing = false;
  const killAll = (): void => {
    for (const child of children) if (child.running) child.process.kill('SIGKILL');
  };
  // Last resort if the test process exits without closing the cluster (the children also exit on 'disconnect').
  process.once('exit', killAll);

  for (let index = 0; index < size; index++) {
    const serverId = `s${index}-${runId}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      [ENV.redisUrl]: options.redis?.url ?? '',
      [ENV.sharded]: options.sharded === undefined ? '' : JSON.stringify(options.sharded),
      [ENV.redisCluster]: options.redisCluster === undefined ? '' : JSON.stringify(options.redisCluster),
      [ENV.serverId]: serverId,
      [ENV.options]: JSON.stringify(options.serverOptions ?? {}),
      [ENV.connectTimeoutMs]: String(options.connectTimeoutMs ?? 5_000),
      [ENV.livenessTtlMs]: options.livenessTtlMs === undefined ? '' : String(options.livenessTtlMs),
    };
    const child = new ServerChild(index, serverId, env, () => graph);
    children.push(child);
    void child.exited.then(({ code, signal }) => {
      if (!closing && !killed.has(index)) unexpectedExits.push({ serverIndex: index, code, signal, stderr: child.stderr });
    });
  }

  try {
    await Promise.all(children.map((child) => child.ready(STARTUP_TIMEOUT_MS)));
  } catch (error) {
    closing = true;
    await Promise.all(children.map((child) => child.kill()));
    process.off('exit', killAll);
    throw error;
  }

  const child = (serverIndex: number): ServerChild => {
    const found = children[serverIndex];
    if (found === undefined) throw new RangeError(`no server ${serverIndex} in a cluster of ${size}`);
    return found;
  };
  const serverIndexOf = (userId: string): number => hash32(userId) % size;
  /** Where a friend change is called by default: a process where neither user lands, to prove it travels. */
  const bystander = (a: string, b: string): number => {
    for (let index = 0; index < size; index++) if (index !== serverIndexOf(a) && index !== serverIndexOf(b)) return index;
    return 0;
  };

  return {
    get graph() {
      return graph;
    },
    set graph(next: TestFriendGraph) {
      graph = next;
    },
    size,
    ports: children.map((c) => c.port),
    serverIds: children.map((c) => c.serverId),
    serverIndexOf,
    urlFor(userId, serverIndex = serverIndexOf(userId)) {
      return `ws://127.0.0.1:${child(serverIndex).port}/nearby?access_token=${encodeURIComponent(tokenFor(userId))}`;
    },
    async friendAdded(a, b, serverIndex = bystander(a, b)) {
      await child(serverIndex).call({ op: 'friendAdded', a, b });
    },
    async friendRemoved(a, b, serverIndex = bystander(a, b)) {
      await child(serverIndex).call({ op: 'friendRemoved', a, b });
    },
    async stats(serverIndex) {
      return (await child(serverIndex).call({ op: 'stats' })) as ChildStats;
    },
    async drain(serverIndex, drainOptions = {}) {
      await child(serverIndex).call({ op: 'drain', ...drainOptions }, CALL_TIMEOUT_MS + (drainOptions.windowMs ?? 30_000));
    },
    async fence() {
      await Promise.all(children.map((c) => c.call({ op: 'fence', connection: 'commands' })));
      await Promise.all(children.map((c) => c.call({ op: 'fence', connection: 'subscriber' })));
    },
    alive: (serverIndex) => child(serverIndex).running,
    async kill(serverIndex) {
      const target = child(serverIndex);
      killed.add(serverIndex);
      await target.kill();
    },
    unexpectedExits,
    async close() {
      closing = true;
      await Promise.all(children.map((c) => c.close()));
      process.off('exit', killAll);
    },
  };
}
