import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { RestartableProcess } from './child-process.js';
import { requireProgram } from './requirements.js';

export const ETCD = '/usr/bin/etcd';

/** Whether etcd is installed; in CI its absence fails the suite instead of skipping it. */
export function etcdAvailable(): boolean {
  return requireProgram(ETCD, 'etcd-server').available;
}

/**
 * A real single-member etcd on free loopback ports, with its data in a temp directory. It can
 * be stopped and started again on the same ports, keeping its data, to test outages.
 */
export class EtcdServerProcess {
  readonly clientPort: number;
  readonly peerPort: number;
  readonly url: string;
  readonly #dir: string;
  readonly #process = new RestartableProcess('etcd');

  private constructor(clientPort: number, peerPort: number) {
    this.clientPort = clientPort;
    this.peerPort = peerPort;
    this.url = `http://127.0.0.1:${clientPort}`;
    this.#dir = mkdtempSync(join(tmpdir(), 'nearby-etcd-'));
  }

  static async start(): Promise<EtcdServerProcess> {
    const server = new EtcdServerProcess(await freePort(), await freePort());
    await server.restart();
    return server;
  }

  get running(): boolean {
    return this.#process.running;
  }

  /** Starts etcd (again) on the same ports and data directory; resolves once it serves requests. */
  async restart(): Promise<void> {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    this.#process.spawn(
      ETCD,
      [
        '--name',
        'nearby-test',
        '--data-dir',
        join(this.#dir, 'data'),
        '--listen-client-urls',
        this.url,
        '--advertise-client-urls',
        this.url,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `nearby-test=${peer}`,
        '--log-level',
        'error',
      ],
    );
    await this.#waitUntilHealthy();
  }

  /** Stops etcd (SIGTERM) and waits for it to exit; data stays for a restart. */
  async pause(): Promise<void> {
    await this.#process.signal('SIGTERM');
  }

  /** Kills etcd at once (SIGKILL), as a crash would. */
  async kill(): Promise<void> {
    await this.#process.signal('SIGKILL');
  }

  /** Stops etcd and removes its directory. */
  async stop(): Promise<void> {
    await this.#process.signal('SIGTERM');
    rmSync(this.#dir, { recursive: true, force: true });
  }

  async #waitUntilHealthy(): Promise<void> {
    const deadline = performance.now() + 15_000;
    for (;;) {
      if (!this.#process.running) throw new Error(`etcd exited while starting on port ${this.clientPort}: ${this.#process.stderr}`);
      try {
        const response = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(1_000) });
        if (response.ok && ((await response.json()) as { health?: string }).health === 'true') return;
      } catch {
        // not up yet
      }
      if (performance.now() > deadline) throw new Error(`etcd did not become healthy on port ${this.clientPort}: ${this.#process.stderr}`);
      await sleep(50);
    }
  }
}
