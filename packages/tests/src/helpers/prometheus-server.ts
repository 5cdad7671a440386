import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { RestartableProcess } from './child-process.js';
import { requireProgram } from './requirements.js';

export const PROMETHEUS = '/usr/bin/prometheus';

/** Whether the prometheus server is installed; in CI its absence fails the suite instead of skipping it. */
export function prometheusAvailable(): boolean {
  return requireProgram(PROMETHEUS, 'prometheus').available;
}

/** One sample of an instant vector from `/api/v1/query`. */
export interface PrometheusSample {
  metric: Record<string, string>;
  /** The value as Prometheus writes it (`"3"`, `"0.0049"`, `"NaN"`). */
  value: string;
}

/**
 * A real Prometheus server on a free loopback port, with its data in a temp directory and a
 * generated configuration that scrapes `targets` (`host:port`, path `/metrics`) every second.
 */
export class PrometheusProcess {
  readonly port: number;
  readonly url: string;
  readonly #dir: string;
  readonly #process = new RestartableProcess('prometheus');

  private constructor(port: number, dir: string) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.#dir = dir;
  }

  /** Starts prometheus scraping `targets` and waits until it reports ready. */
  static async start(targets: readonly string[]): Promise<PrometheusProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'nearby-prometheus-'));
    const config = [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: nearby',
      '    metrics_path: /metrics',
      '    static_configs:',
      `      - targets: [${targets.map((target) => `'${target}'`).join(', ')}]`,
      '',
    ].join('\n');
    writeFileSync(join(dir, 'prometheus.yml'), config);
    const server = new PrometheusProcess(await freePort(), dir);
    server.#process.spawn(PROMETHEUS, [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${server.port}`,
      '--log.level=warn',
    ]);
    try {
      await server.#waitUntilReady();
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  /** Runs an instant query; rejects when Prometheus answers with an error. */
  async query(expression: string): Promise<PrometheusSample[]> {
    const response = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expression)}`);
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
    };
    if (body.status !== 'success' || body.data === undefined) throw new Error(`query ${expression} failed: ${body.error ?? response.status}`);
    if (body.data.resultType !== 'vector') throw new Error(`query ${expression} returned a ${body.data.resultType}, not a vector`);
    return body.data.result.map((sample) => ({ metric: sample.metric, value: sample.value[1] }));
  }

  /** Stops prometheus (SIGTERM, then SIGKILL if it lingers) and removes its data. */
  async stop(): Promise<void> {
    const stopped = this.#process.signal('SIGTERM');
    const lingering = await Promise.race([stopped.then(() => false), sleep(10_000).then(() => true)]);
    if (lingering) await this.#process.signal('SIGKILL');
    rmSync(this.#dir, { recursive: true, force: true });
  }

  async #waitUntilReady(): Promise<void> {
    const deadline = performance.now() + 20_000;
    for (;;) {
      if (!this.#process.running) throw new Error(`prometheus exited at start: ${this.#process.stderr}`);
      try {
        const response = await fetch(`${this.url}/-/ready`);
        if (response.ok) return;
      } catch {
        // Not listening yet.
      }
      if (performance.now() > deadline) throw new Error(`prometheus did not become ready: ${this.#process.stderr}`);
      await sleep(100);
    }
  }
}
