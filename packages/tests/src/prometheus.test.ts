import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createPrometheusMetrics, type PrometheusMetrics } from '@nearby/server/metrics';
import { startServer, type ServerResource } from './helpers/server-resource.js';
import { RawPeer, at } from './helpers/raw-peer.js';
import { ORIGIN, offsetKm } from './helpers/geo.js';
import { PrometheusProcess, prometheusAvailable, type PrometheusSample } from './helpers/prometheus-server.js';

/** How long Prometheus gets to show what the test waits for (it scrapes every second). */
const WAIT_MS = 30_000;

const USERS = ['ivy', 'jack', 'kim'] as const;

/** Polls `query` until `accept` holds for its result; fails with the last result after {@link WAIT_MS}. */
async function until(
  prometheus: PrometheusProcess,
  expression: string,
  accept: (samples: PrometheusSample[]) => boolean,
): Promise<PrometheusSample[]> {
  const deadline = performance.now() + WAIT_MS;
  let last: PrometheusSample[] | string = 'no answer yet';
  for (;;) {
    try {
      const samples = await prometheus.query(expression);
      if (accept(samples)) return samples;
      last = samples;
    } catch (error) {
      last = String(error);
    }
    if (performance.now() > deadline) throw new Error(`Prometheus never satisfied ${expression}; last: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

// Fails at once in CI when prometheus is missing; locally a missing one skips the test loudly.
const available = prometheusAvailable();

describe('a real Prometheus scraping a Nearby server', () => {
  const registry = new Registry();
  let metrics: PrometheusMetrics;
  let env: ServerResource;
  let http: Server;
  let prometheus: PrometheusProcess | undefined;
  const peers: RawPeer[] = [];
  let mover: ReturnType<typeof setInterval> | undefined;

  beforeAll(async () => {
    if (!available) return;
    metrics = createPrometheusMetrics({ registry });
    env = await startServer({ telemetry: metrics });
    for (const other of USERS.slice(1)) env.graph.link(USERS[0], other);
    for (const [index, userId] of USERS.entries()) {
      const peer = await RawPeer.connect(env.urlFor(userId));
      peers.push(peer);
      const where = offsetKm(ORIGIN, index * 0.5, 0);
      await peer.init({ location: at(where.lat, where.lon) });
    }
    // The first user keeps moving (within the location rate limit): the others get friend_update frames.
    let step = 0;
    mover = setInterval(() => {
      step++;
      const where = offsetKm(ORIGIN, 0.1 * (step % 5), 0);
      peers[0]!.send({ type: 'location', seq: step, samples: [at(where.lat, where.lon)] });
    }, 1_000);

    http = createServer((request, response) => {
      if (request.url !== '/metrics') {
        response.writeHead(404).end();
        return;
      }
      registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(String(error)),
      );
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as { port: number };
    prometheus = await PrometheusProcess.start([`127.0.0.1:${port}`]);
  });

  afterAll(async () => {
    if (!available) return;
    if (mover !== undefined) clearInterval(mover);
    await prometheus?.stop();
    for (const peer of peers) peer.socket.terminate();
    await env?.close();
    await new Promise((resolve) => http?.close(resolve));
    metrics?.close();
  });

  it('stores the gauges and counters, and answers a fan-out latency quantile', { timeout: 2 * WAIT_MS + 10_000 }, async (context) => {
    if (!available) return context.skip();
    const p = prometheus!;
    const connections = await until(p, 'nearby_connections', (samples) => samples.length === 1 && samples[0]!.value === String(USERS.length));
    expect(connections[0]!.metric.job).toBe('nearby');

    await until(p, 'nearby_frames_received_total{type="init"}', (samples) => samples[0]?.value === String(USERS.length));
    await until(p, 'nearby_frames_sent_total{type="friend_update"}', (samples) => Number(samples[0]?.value) > 0);

    const quantile = await until(p, 'histogram_quantile(0.99, rate(nearby_fanout_latency_seconds_bucket[30s]))', (samples) => {
      const value = Number(samples[0]?.value);
      return samples.length === 1 && Number.isFinite(value);
    });
    const seconds = Number(quantile[0]!.value);
    expect(seconds).toBeGreaterThan(0);

    // Every stored Nearby series: bounded labels, never a user id.
    const series = await p.query('{__name__=~"nearby_.+"}');
    expect(series.length).toBeGreaterThan(30);
    for (const sample of series) {
      for (const value of Object.values(sample.metric)) {
        for (const userId of USERS) expect(value).not.toContain(userId);
      }
    }
  });
});
