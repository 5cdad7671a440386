import { afterEach, describe, expect, it } from 'vitest';
import { Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { ErrorCode, NearbyError } from '@nearby/protocol';
import { createPrometheusMetrics, type PrometheusMetrics } from '@nearby/server/metrics';
import { MemoryLocationCache, MemoryPresenceRegistry, MemoryPubSub, MemoryPubSubHub, MemorySettingsStore } from '@nearby/server';
import { TestFriendGraph, startServer, type ServerResource } from './helpers/server-resource.js';
import { RawPeer, at } from './helpers/raw-peer.js';
import { ORIGIN, offsetKm } from './helpers/geo.js';

/** Polls `check` on real timers until it holds; fails after `timeoutMs`. */
async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

type Labels = Record<string, string | number>;

/** The value of one series of `name` whose labels include `labels`, from a scrape of `registry`. */
async function value(registry: Registry, name: string, labels: Labels = {}): Promise<number | undefined> {
  const metrics = (await registry.getMetricsAsJSON()) as MetricObjectWithValues<MetricValue<string>>[];
  // A histogram's series are named `<name>_bucket`, `<name>_sum` and `<name>_count`.
  for (const metric of metrics) {
    for (const series of metric.values) {
      const seriesName = (series as { metricName?: string }).metricName ?? metric.name;
      if (seriesName === name && Object.entries(labels).every(([key, wanted]) => series.labels[key] === wanted)) return series.value;
    }
  }
  return undefined;
}

/** The label values of every series of `name`, by label name. */
async function labelValues(registry: Registry, name: string, label: string): Promise<string[]> {
  const metrics = (await registry.getMetricsAsJSON()) as MetricObjectWithValues<MetricValue<string>>[];
  const metric = metrics.find((m) => m.name === name);
  return (metric?.values ?? []).map((v) => String(v.labels[label])).sort();
}

function expectInvalid(run: () => unknown, mention: string): void {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(NearbyError);
    expect((error as NearbyError).code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect((error as NearbyError).message).toContain(mention);
    return;
  }
  throw new Error(`expected invalid_argument mentioning ${mention}`);
}

describe('Prometheus metrics of a real server (memory adapters, raw WebSocket clients)', () => {
  const envs: ServerResource[] = [];
  const peers: RawPeer[] = [];
  const exporters: PrometheusMetrics[] = [];

  afterEach(async () => {
    for (const peer of peers.splice(0)) peer.socket.terminate();
    await Promise.all(envs.splice(0).map((env) => env.close()));
    for (const exporter of exporters.splice(0)) exporter.close();
  });

  async function server(registry: Registry, userIds: readonly string[] = []) {
    const metrics = createPrometheusMetrics({ registry });
    exporters.push(metrics);
    const env = await startServer({ telemetry: metrics });
    envs.push(env);
    for (let i = 1; i < userIds.length; i++) env.graph.link(userIds[0]!, userIds[i]!);
    return { env, metrics };
  }

  async function connect(env: ServerResource, userId: string): Promise<RawPeer> {
    const peer = await RawPeer.connect(env.urlFor(userId));
    peers.push(peer);
    return peer;
  }

  it('exports frame, error and close counters with bounded labels, gauges, and fan-out and init latencies', async () => {
    const registry = new Registry();
    const { env } = await server(registry, ['alice-7f3a', 'bob-91c2']);
    const alice = await connect(env, 'alice-7f3a');
    const bob = await connect(env, 'bob-91c2');
    await alice.init({ location: at(ORIGIN.lat, ORIGIN.lon) });
    const near = offsetKm(ORIGIN, 1, 0);
    await bob.init({ location: at(near.lat, near.lon) });

    // Alice moves: bob's list gets her position (own update fanned out on this process).
    const moved = offsetKm(ORIGIN, 0.5, 0);
    const before = bob.count('friend_update');
    alice.send({ type: 'location', seq: 1, samples: [at(moved.lat, moved.lon)] });
    await bob.waitFor((frame) => frame.type === 'friend_update', before);
    await alice.waitFor((frame) => frame.type === 'ack');
    await alice.sync(); // ping → pong
    alice.send({ type: 'teleport' }); // unknown_type
    alice.send({ type: 'radius', radiusKm: -1 }); // invalid_radius (typed, schema or range failure)
    await alice.sync();

    expect(await value(registry, 'nearby_connections')).toBe(2);
    expect(await value(registry, 'nearby_users')).toBe(2);
    expect(await value(registry, 'nearby_channels')).toBe(2);
    expect(await value(registry, 'nearby_history_pending_samples')).toBe(0);

    expect(await value(registry, 'nearby_frames_received_total', { type: 'init' })).toBe(2);
    expect(await value(registry, 'nearby_frames_received_total', { type: 'location' })).toBe(1);
    expect(await value(registry, 'nearby_frames_received_total', { type: 'ping' })).toBe(2);
    expect(await value(registry, 'nearby_frames_received_total', { type: 'radius' })).toBe(1);
    expect(await value(registry, 'nearby_frames_received_total', { type: 'invalid' })).toBe(1);
    expect(await labelValues(registry, 'nearby_frames_received_total', 'type')).toEqual(['discovery', 'init', 'invalid', 'location', 'ping', 'radius', 'sharing']);

    expect(await value(registry, 'nearby_frames_sent_total', { type: 'snapshot' })).toBe(2);
    expect(await value(registry, 'nearby_frames_sent_total', { type: 'ack' })).toBe(1);
    expect(await value(registry, 'nearby_frames_sent_total', { type: 'pong' })).toBe(2);
    expect(await value(registry, 'nearby_frames_sent_total', { type: 'error' })).toBe(2);
    expect(await value(registry, 'nearby_frames_sent_total', { type: 'friend_update' })).toBe(
      alice.count('friend_update') + bob.count('friend_update'),
    );
    const radiusError = alice.ofType('error').find((frame) => frame.frameType === 'radius');
    expect(radiusError).toBeDefined();
    expect(await value(registry, 'nearby_errors_total', { code: 'unknown_type' })).toBe(1);
    expect(await value(registry, 'nearby_errors_total', { code: radiusError!.code })).toBe(1);
    expect(await value(registry, 'nearby_errors_total', { code: 'rate_limited' })).toBe(0);
    expect(await value(registry, 'nearby_history_samples_queued_total')).toBe(1);
    expect(await value(registry, 'nearby_history_samples_acknowledged_total')).toBe(1);
    expect(await value(registry, 'nearby_location_frames_accepted_total')).toBe(1);
    expect(await value(registry, 'nearby_frames_rate_limited_total')).toBe(0);
    // MemoryPubSub counts published and received messages; it never drops nor resubscribes (0).
    expect(await value(registry, 'nearby_pubsub_messages_published_total')).toBe(env.server.stats().pubsub!.published);
    expect(await value(registry, 'nearby_pubsub_messages_received_total')).toBe(env.server.stats().pubsub!.received);
    expect(await value(registry, 'nearby_pubsub_messages_dropped_total')).toBe(0);

    // The metric equals the server's own figure, for every frame type written.
    const stats = env.server.stats();
    for (const [type, count] of Object.entries(stats.framesOutByType)) {
      expect(await value(registry, 'nearby_frames_sent_total', { type })).toBe(count);
    }
    const sum = (record: Record<string, number>): number => Object.values(record).reduce((total, n) => total + n, 0);
    expect(sum(stats.framesOutByType)).toBe(stats.framesSent);
    expect(sum(stats.framesInByType)).toBe(stats.framesIn - stats.framesDropped);
    expect(sum(stats.errorsByCode)).toBe(stats.framesOutByType.error);
    // stats() hands out copies: changing one does not change the server's counts.
    stats.framesInByType.init = 1_000;
    expect(env.server.stats().framesInByType.init).toBe(2);

    // Latencies: one init observation per init, at least one fan-out per friend_update written.
    expect(await value(registry, 'nearby_init_latency_seconds_count')).toBe(2);
    expect(await value(registry, 'nearby_fanout_latency_seconds_count')).toBeGreaterThanOrEqual(1);
    const lag = await labelValues(registry, 'nearby_event_loop_lag_seconds', 'stat');
    expect(lag).toEqual(['max', 'p99']);

    // A close by the server (protocol violation) and one by the client, counted by code.
    alice.sendRaw(Buffer.from([1, 2, 3]));
    expect((await alice.closed).code).toBe(4000);
    await bob.close(1000);
    await until(() => env.server.stats().connections === 0, 'both connections are released');
    expect(await value(registry, 'nearby_connections_closed_total', { code: '4000' })).toBe(1);
    expect(await value(registry, 'nearby_connections_closed_total', { code: '1000' })).toBe(1);
    expect(await value(registry, 'nearby_connections_closed_total', { code: 'other' })).toBe(0);
    expect(await value(registry, 'nearby_frames_received_total', { type: 'invalid' })).toBe(2);
    expect(await value(registry, 'nearby_errors_total', { code: 'bad_json' })).toBe(1);

    // No user id anywhere in what a scrape exposes.
    const text = await registry.metrics();
    expect(text).not.toContain('alice');
    expect(text).not.toContain('bob');
    expect(text).not.toContain('7f3a');
  });

  it('counters advance by what was added since the last scrape, and never go back when the server is replaced', async () => {
    const registry = new Registry();
    const metrics = createPrometheusMetrics({ registry });
    exporters.push(metrics);
    const first = await startServer({ telemetry: metrics });
    envs.push(first);
    const peer = await connect(first, 'carol');
    await peer.sync();
    await peer.sync();
    expect(await value(registry, 'nearby_frames_received_total', { type: 'ping' })).toBe(2);
    // Scraping again without new frames changes nothing (the delta is 0, not the total again).
    expect(await value(registry, 'nearby_frames_received_total', { type: 'ping' })).toBe(2);
    await peer.sync();
    expect(await value(registry, 'nearby_frames_received_total', { type: 'ping' })).toBe(3);

    // A new server on the same exporter starts from 0; the exported counter carries on.
    peer.socket.terminate();
    await first.close();
    envs.splice(envs.indexOf(first), 1);
    const second = await startServer({ telemetry: metrics });
    envs.push(second);
    const again = await connect(second, 'carol');
    await again.sync();
    expect(second.server.stats().framesInByType.ping).toBe(1);
    expect(await value(registry, 'nearby_frames_received_total', { type: 'ping' })).toBe(4);
    expect(await value(registry, 'nearby_connections')).toBe(1);
    expect(await value(registry, 'nearby_connections_closed_total', { code: '1006' })).toBe(1);
  });

  it('two servers in one process export to two registries independently', async () => {
    const one = new Registry();
    const two = new Registry();
    const a = await server(one);
    const b = await server(two);
    const p1 = await connect(a.env, 'dave');
    await p1.sync();
    const p2 = await connect(b.env, 'erin');
    const p3 = await connect(b.env, 'frank');
    await p2.sync();
    await p3.sync();
    await p3.sync();
    expect(await value(one, 'nearby_connections')).toBe(1);
    expect(await value(two, 'nearby_connections')).toBe(2);
    expect(await value(one, 'nearby_frames_received_total', { type: 'ping' })).toBe(1);
    expect(await value(two, 'nearby_frames_received_total', { type: 'ping' })).toBe(3);
  });

  it('times the fan-out of a bus message from another process', async () => {
    const hub = new MemoryPubSubHub();
    const shared = { cache: new MemoryLocationCache(), settings: new MemorySettingsStore(), presence: new MemoryPresenceRegistry() };
    const graph = new TestFriendGraph();
    graph.link('gina', 'hugo');
    const registryA = new Registry();
    const registryB = new Registry();
    const metricsA = createPrometheusMetrics({ registry: registryA });
    const metricsB = createPrometheusMetrics({ registry: registryB });
    exporters.push(metricsA, metricsB);
    const a = await startServer({ graph, ...shared, pubsub: new MemoryPubSub({ hub }), telemetry: metricsA });
    const b = await startServer({ graph, ...shared, pubsub: new MemoryPubSub({ hub }), telemetry: metricsB });
    envs.push(a, b);
    const gina = await connect(a, 'gina');
    const hugo = await connect(b, 'hugo');
    await gina.init({ location: at(ORIGIN.lat, ORIGIN.lon) });
    const near = offsetKm(ORIGIN, 1, 0);
    await hugo.init({ location: at(near.lat, near.lon) });
    // Hugo sends no location frame: every fan-out timed on B comes from a bus message.
    expect(await value(registryB, 'nearby_fanout_latency_seconds_count')).toBe(0);
    await until(async () => {
      const moved = offsetKm(ORIGIN, 0.2 + Math.random() * 0.1, 0);
      gina.send({ type: 'location', seq: 1, samples: [at(moved.lat, moved.lon)] });
      await new Promise((resolve) => setTimeout(resolve, 50));
      return hugo.count('friend_update') > 0;
    }, 'hugo sees gina move');
    expect(await value(registryB, 'nearby_fanout_latency_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(await value(registryB, 'nearby_init_latency_seconds_count')).toBe(1);
  });

  it('a prefix renames every metric, and the default registry is prom-client’s global one', async () => {
    const registry = new Registry();
    const metrics = createPrometheusMetrics({ registry, prefix: 'edge_' });
    exporters.push(metrics);
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names.length).toBeGreaterThan(20);
    for (const name of names) expect(name.startsWith('edge_')).toBe(true);
    expect(names).toContain('edge_fanout_latency_seconds');

    const { register } = await import('prom-client');
    const global = createPrometheusMetrics();
    expect(global.registry).toBe(register);
    expect(register.getSingleMetric('nearby_connections')).toBeDefined();
    global.close();
    expect(register.getSingleMetric('nearby_connections')).toBeUndefined();
  });

  it('adapter calls are observed by adapter, operation and outcome', async () => {
    const registry = new Registry();
    const metrics = createPrometheusMetrics({ registry, buckets: { adapterCall: [0.001, 0.01, 0.1] } });
    exporters.push(metrics);
    metrics.adapterCall('cache', 'set', 0.0005, true);
    metrics.adapterCall('cache', 'set', 0.05, true);
    metrics.adapterCall('cache', 'set', 0.2, false);
    metrics.adapterCall('history', 'append', 0.002, true);
    const name = 'nearby_adapter_call_duration_seconds';
    expect(await value(registry, `${name}_count`, { adapter: 'cache', operation: 'set', outcome: 'ok' })).toBe(2);
    expect(await value(registry, `${name}_count`, { adapter: 'cache', operation: 'set', outcome: 'error' })).toBe(1);
    expect(await value(registry, `${name}_count`, { adapter: 'history', operation: 'append', outcome: 'ok' })).toBe(1);
    expect(await value(registry, `${name}_bucket`, { adapter: 'cache', operation: 'set', outcome: 'ok', le: 0.001 })).toBe(1);
    expect(await value(registry, `${name}_bucket`, { adapter: 'cache', operation: 'set', outcome: 'ok', le: 0.1 })).toBe(2);
    expect(await value(registry, `${name}_sum`, { adapter: 'cache', operation: 'set', outcome: 'error' })).toBeCloseTo(0.2);
    // No adapter health reported yet: no adapter_up series.
    expect(await labelValues(registry, 'nearby_adapter_up', 'adapter')).toEqual([]);
  });

  it('refuses bad options with invalid_argument naming the option', async () => {
    expectInvalid(() => createPrometheusMetrics({ prefix: 3 as unknown as string, registry: new Registry() }), 'prefix');
    expectInvalid(() => createPrometheusMetrics({ prefix: 'has space', registry: new Registry() }), 'prefix');
    expectInvalid(() => createPrometheusMetrics({ registry: {} as Registry }), 'registry');
    expectInvalid(() => createPrometheusMetrics({ registry: new Registry(), buckets: { fanout: [] } }), 'buckets.fanout');
    expectInvalid(() => createPrometheusMetrics({ registry: new Registry(), buckets: { init: [0.1, 0.05] } }), 'buckets.init');
    expectInvalid(
      () => createPrometheusMetrics({ registry: new Registry(), buckets: { fanout: [0.1, Number.NaN] as number[] } }),
      'buckets.fanout',
    );
    expectInvalid(
      () => createPrometheusMetrics({ registry: new Registry(), buckets: { latency: [1] } as unknown as Record<string, number[]> }),
      'buckets key "latency"',
    );
    expectInvalid(() => createPrometheusMetrics({ registry: new Registry(), buckets: [0.1] as unknown as Record<string, number[]> }), 'buckets');
    expectInvalid(() => createPrometheusMetrics({ registry: new Registry(), prefixx: 'a_' } as unknown as { prefix: string }), 'prefixx');
    const registry = new Registry();
    const first = createPrometheusMetrics({ registry });
    exporters.push(first);
    expectInvalid(() => createPrometheusMetrics({ registry }), 'already has nearby_');
    exporters.push(createPrometheusMetrics({ registry, prefix: 'second_' }));
    await expect(startServer({ telemetry: 'prometheus' as unknown as PrometheusMetrics })).rejects.toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
      message: expect.stringContaining('telemetry'),
    });
    await expect(startServer({ telemetry: { fanout: 1 } as unknown as PrometheusMetrics })).rejects.toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
      message: expect.stringContaining('telemetry.fanout'),
    });
  });
});
