import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { RestartableProcess } from './child-process.js';
import { requireProgram } from './requirements.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

/** Whether redis-server is installed; in CI its absence fails the suite instead of skipping it. */
export function redisAvailable(): boolean {
  return requireProgram(REDIS_SERVER, 'redis-server').available;
}

/**
 * A real redis-server on a free loopback port, without persistence, in a temp directory.
 * It can be killed and started again on the same port to test outages.
 */
export class RedisServerProcess {
  readonly port: number;
  readonly url: string;
  readonly #dir: string;
  readonly #process = new RestartableProcess('redis-server');
  #paused = false;

  private constructor(port: number) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.#dir = mkdtempSync(join(tmpdir(), 'nearby-redis-'));
  }

  static async start(): Promise<RedisServerProcess> {
    const server = new RedisServerProcess(await freePort());
    await server.restart();
    return server;
  }

  /** Starts redis-server (again) on this port and waits until it answers PING. */
  async restart(): Promise<void> {
    this.#process.spawn(REDIS_SERVER, [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.#dir,
      '--protected-mode',
      'no',
    ]);
    await this.#waitUntilAnswering();
  }

  /** Kills redis-server at once (SIGKILL), as a crash would, and waits for it to exit. */
  async kill(): Promise<void> {
    await this.#process.signal('SIGKILL');
    this.#paused = false;
  }

  /**
   * Freezes redis-server (SIGSTOP): its sockets stay open but nothing is answered, as with a
   * server stuck in a long command or a stalled VM.
   */
  pause(): void {
    this.#process.send('SIGSTOP');
    this.#paused = true;
  }

  /** Lets a paused redis-server run again (SIGCONT); it then answers what queued up meanwhile. */
  resume(): void {
    this.#process.send('SIGCONT');
    this.#paused = false;
  }

  /** Stops redis-server and removes its directory. */
  async stop(): Promise<void> {
    // A stopped process keeps SIGTERM pending until it runs again.
    if (this.#paused) this.resume();
    await this.#process.signal('SIGTERM');
    rmSync(this.#dir, { recursive: true, force: true });
  }

  /** A fresh client for the test's own inspection (INFO, KEYS, …); the caller quits it. */
  client(): Redis {
    return new Redis(this.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  }

  /** `INFO commandstats` as `{ set: calls, publish: calls, … }`. */
  async commandCalls(): Promise<Record<string, number>> {
    const client = this.client();
    try {
      const info = await client.info('commandstats');
      const calls: Record<string, number> = {};
      for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]!] = Number(match[2]);
      return calls;
    } finally {
      client.disconnect();
    }
  }

  async #waitUntilAnswering(): Promise<void> {
    const deadline = performance.now() + 10_000;
    for (;;) {
      const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on('error', () => {});
      try {
        await client.connect();
        if ((await client.ping()) === 'PONG') return;
      } catch {
        // not up yet
      } finally {
        client.disconnect();
      }
      if (!this.#process.running || performance.now() > deadline) {
        throw new Error(`redis-server did not start on port ${this.port}: ${this.#process.stderr}`);
      }
      await sleep(50);
    }
  }
}
