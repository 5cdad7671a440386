/** Starts a throwaway redis-server on a free loopback port (no persistence, temp directory). */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_SERVER = '/usr/bin/redis-server';

export interface RedisServer {
  readonly url: string;
  readonly pid: number | undefined;
  /** SIGTERM, then SIGKILL after 3 s; removes the temp directory. */
  stop(): Promise<void>;
  /** Synchronous last resort for `process.on('exit')`. */
  killNow(): void;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => resolve());
  });
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  if (typeof address !== 'object' || address === null) throw new Error('could not find a free port');
  return address.port;
}

export async function startRedisServer(): Promise<RedisServer> {
  if (!existsSync(REDIS_SERVER)) {
    throw new Error(
      `${REDIS_SERVER} not found. Install the Debian package redis-server (sudo apt-get install redis-server), ` +
        'or set REDIS_URL to use a Redis you already run.',
    );
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'nearby-multi-server-'));
  const child: ChildProcess = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    // Its own process group: Ctrl+C must not stop Redis before the servers have shut down.
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (/Ready to accept connections/.test(output)) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`redis-server exited with code ${code}:\n${output.trim()}`)));
      setTimeout(() => reject(new Error(`redis-server did not start within 10 s:\n${output.trim()}`)), 10_000).unref();
    });
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  // Stop reading its log, but keep draining the pipes so redis-server never blocks on them.
  child.stdout!.removeAllListeners('data').resume();
  child.stderr!.removeAllListeners('data').resume();

  let running = true;
  void exited.then(() => (running = false));
  const killNow = () => {
    if (running) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    killNow,
    async stop() {
      if (running) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
