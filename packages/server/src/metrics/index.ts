import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { ErrorCode, NearbyError } from '@nearby/protocol';
import { Counter, Gauge, Histogram, register as globalRegistry, type Registry } from 'prom-client';
import type { NearbyEngineStats } from '../core/engine.js';
import type { AdapterName, NearbyTelemetry, TelemetrySource } from '../core/telemetry.js';

export type { AdapterHealth, AdapterName, NearbyTelemetry, TelemetrySource } from '../core/telemetry.js';

/** Histogram bucket upper bounds (seconds) of each latency metric. */
export interface PrometheusBuckets {
  /** `<prefix>fanout_latency_seconds`. */
  fanout?: readonly number[];
  /** `<prefix>init_latency_seconds`. */
  init?: readonly number[];
  /** `<prefix>adapter_call_duration_seconds`. */
  adapterCall?: readonly number[];
}

export interface PrometheusMetricsOptions {
  /** Where the metrics are registered. Default: prom-client's global `register`. */
  registry?: Registry;
  /** Prefix of every metric name. Default `nearby_`. */
  prefix?: string;
  /** Bucket bounds of the latency histograms; each given list replaces its default. */
  buckets?: PrometheusBuckets;
}

/** A {@link NearbyTelemetry} on prom-client: pass it as the server's `telemetry` option. */
export interface PrometheusMetrics extends Required<NearbyTelemetry> {
  /** The registry the metrics are registered on. */
  readonly registry: Registry;
  /** Stops the event-loop delay monitor and removes these metrics from the registry. */
  close(): void;
}

/** From 0.5 ms (a fan-out within one event-loop turn) to 5 s (a stalled process). */
export const DEFAULT_FANOUT_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** From 1 ms to 10 s: an init waits for the friend list and the settings. */
export const DEFAULT_INIT_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** From 0.1 ms (an in-memory adapter) to 10 s (the history store's default timeout). */
export const DEFAULT_ADAPTER_CALL_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

const OPTION_KEYS = new Set(['registry', 'prefix', 'buckets']);
const BUCKET_KEYS = new Set(['fanout', 'init', 'adapterCall']);
const METRIC_PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Counters of `stats()` with one series each: metric name (after the prefix), help, and the field read. */
const PLAIN_COUNTERS: ReadonlyArray<readonly [name: string, help: string, read: (stats: NearbyEngineStats) => number | undefined]> = [
  ['frames_rate_limited_total', 'Inbound messages dropped by the per-connection frames rate limit.', (s) => s.framesDropped],
  ['frames_invalid_total', 'Inbound messages refused as binary, malformed or failing their schema.', (s) => s.invalidFrames],
  ['frames_parked_total', 'Inbound messages parked because the inbound budget of the event-loop turn was spent.', (s) => s.framesParked],
  ['live_samples_coalesced_total', 'Own location frames whose live update was skipped for a newer parked one.', (s) => s.liveSamplesCoalesced],
  ['location_frames_accepted_total', 'Location frames accepted (within the location rate limit).', (s) => s.locationFrames],
  ['slow_consumers_closed_total', 'Connections dropped because they stopped reading.', (s) => s.slowConsumersClosed],
  ['friend_evaluations_total', 'Friend positions checked against the radius of a viewer.', (s) => s.friendEvaluations],
  ['friend_updates_queued_total', 'Friend entries queued for delivery, before per-connection coalescing.', (s) => s.friendUpdatesQueued],
  ['friend_left_queued_total', 'friend_left events queued for delivery.', (s) => s.friendLeftQueued],
  ['history_samples_queued_total', 'Samples of accepted location frames handed to the history writer.', (s) => s.samplesIn],
  ['history_samples_acknowledged_total', 'Samples acknowledged after the history store accepted them.', (s) => s.samplesAcked],
  ['history_failures_total', 'Location frames answered with history_unavailable.', (s) => s.historyFailures],
  ['history_batches_total', 'append calls made on the history store.', (s) => s.historyBatches],
  ['bus_messages_received_total', 'Messages the engine received from the Pub/Sub transport (own echoes included).', (s) => s.busMessagesIn],
  ['bus_messages_published_total', 'Messages the engine published on the Pub/Sub transport.', (s) => s.busMessagesPublished],
  ['bus_outages_total', 'Times the Pub/Sub probes of this process stopped coming back.', (s) => s.busOutages],
  ['reconciliations_total', 'Times this process re-read what its users see after Pub/Sub came back.', (s) => s.reconciliations],
  ['changes_republished_total', 'Changes announced again after a Pub/Sub outage.', (s) => s.changesRepublished],
  ['write_retries_total', 'Failed attempts of writes retried until they land (settings, withdrawals, sign-off checks).', (s) => s.writeRetries],
  ['pubsub_messages_published_total', 'Messages the Pub/Sub transport published (transports that count them).', (s) => s.pubsub?.published],
  ['pubsub_messages_received_total', 'Messages the Pub/Sub transport received (transports that count them).', (s) => s.pubsub?.received],
  ['pubsub_messages_dropped_total', 'Messages the Pub/Sub transport did not publish because its backend was unreachable.', (s) => s.pubsub?.dropped],
  ['pubsub_resubscribes_total', 'Channels the Pub/Sub transport subscribed again after losing them.', (s) => s.pubsub?.resubscribed],
];

/** Counters of `stats()` kept per label: metric name, help, label name, and the record read. */
const LABELLED_COUNTERS: ReadonlyArray<
  readonly [name: string, help: string, label: string, read: (stats: NearbyEngineStats) => Readonly<Record<string, number>>]
> = [
  ['frames_received_total', 'Inbound messages past the frames rate limit, by client frame type (invalid: of no known type).', 'type', (s) => s.framesInByType],
  ['frames_sent_total', 'Frames written to clients, by server frame type.', 'type', (s) => s.framesOutByType],
  ['errors_total', 'error frames written to clients, by wire error code.', 'code', (s) => s.errorsByCode],
  ['connections_closed_total', 'Connections closed, by close code (other: a code not listed).', 'code', (s) => s.closesByCode],
];

const GAUGES: ReadonlyArray<readonly [name: string, help: string, read: (stats: NearbyEngineStats) => number]> = [
  ['connections', 'Open WebSocket connections.', (s) => s.connections],
  ['users', 'Distinct users with an initialised connection on this process.', (s) => s.users],
  ['channels', 'Pub/Sub channels this process follows.', (s) => s.channels],
  ['history_pending_samples', 'Samples queued or in flight to the history store.', (s) => s.historyPending],
  ['stranger_cells', 'Geohash cell channels subscribed for local viewers of nearby people.', (s) => s.strangerCells],
  ['strangers_known', 'Discoverable people heard of on those cell channels.', (s) => s.strangersKnown],
  ['stranger_viewers', 'Local users who see nearby people.', (s) => s.strangerViewers],
  ['strangers_shown', 'Entries in the nearby-people lists of local viewers, summed.', (s) => s.strangersShown],
  ['strangers_published', 'Discoverable local users published on a cell channel.', (s) => s.strangersPublished],
];

const ADAPTERS: readonly AdapterName[] = ['cache', 'pubsub', 'history', 'settings', 'presence', 'friends'];

/**
 * Prometheus metrics of one Nearby server, on prom-client (an optional peer dependency):
 *
 * ```ts
 * import { createPrometheusMetrics } from '@nearby/server/metrics';
 * const server = createNearbyServer({ ...options, telemetry: createPrometheusMetrics() });
 * app.get('/metrics', async (_req, res) => res.type(register.contentType).send(await register.metrics()));
 * ```
 *
 * Counters and gauges are read from the server's `stats()` when the registry is scraped (the
 * server pays nothing for them meanwhile); latencies are observed as they happen. It never
 * calls `collectDefaultMetrics`: the host decides about process metrics. One exporter serves one
 * server at a time; two servers in one process need two registries (or two prefixes).
 */
export function createPrometheusMetrics(options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  const { registry, prefix, buckets } = resolveOptions(options);
  const taken = metricNames(prefix).find((name) => registry.getSingleMetric(name) !== undefined);
  if (taken !== undefined) {
    throw invalid(`the registry already has ${taken}: give each server its own registry (or prefix), or close() the previous exporter`);
  }
  return new PrometheusExporter(registry, prefix, buckets);
}

/** Every metric name an exporter with `prefix` registers. */
function metricNames(prefix: string): string[] {
  return [
    ...[...PLAIN_COUNTERS, ...LABELLED_COUNTERS, ...GAUGES].map(([name]) => name),
    'adapter_up',
    'event_loop_lag_seconds',
    'fanout_latency_seconds',
    'init_latency_seconds',
    'adapter_call_duration_seconds',
  ].map((name) => prefix + name);
}

interface ResolvedBuckets {
  fanout: number[];
  init: number[];
  adapterCall: number[];
}

function invalid(message: string): NearbyError {
  return new NearbyError(ErrorCode.INVALID_ARGUMENT, `createPrometheusMetrics: ${message}`);
}

function resolveOptions(options: PrometheusMetricsOptions): { registry: Registry; prefix: string; buckets: ResolvedBuckets } {
  if (typeof options !== 'object' || options === null) throw invalid('options must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw invalid(`unknown option "${key}" (known: ${[...OPTION_KEYS].join(', ')})`);
  }
  const registry = options.registry ?? globalRegistry;
  if (typeof registry !== 'object' || registry === null || typeof registry.registerMetric !== 'function' || typeof registry.metrics !== 'function') {
    throw invalid('registry must be a prom-client Registry');
  }
  const prefix = options.prefix ?? 'nearby_';
  if (typeof prefix !== 'string' || (prefix !== '' && !METRIC_PREFIX.test(prefix))) {
    throw invalid(`prefix must be a string of letters, digits, _ and : not starting with a digit, got ${String(prefix)}`);
  }
  const given = options.buckets ?? {};
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw invalid('buckets must be an object { fanout?, init?, adapterCall? } of bucket bound lists');
  }
  for (const key of Object.keys(given)) {
    if (!BUCKET_KEYS.has(key)) throw invalid(`unknown buckets key "${key}" (known: ${[...BUCKET_KEYS].join(', ')})`);
  }
  return {
    registry,
    prefix,
    buckets: {
      fanout: bucketList('buckets.fanout', given.fanout, DEFAULT_FANOUT_BUCKETS),
      init: bucketList('buckets.init', given.init, DEFAULT_INIT_BUCKETS),
      adapterCall: bucketList('buckets.adapterCall', given.adapterCall, DEFAULT_ADAPTER_CALL_BUCKETS),
    },
  };
}

/** A non-empty list of finite, positive, strictly increasing bounds (seconds). */
function bucketList(name: string, value: readonly number[] | undefined, fallback: readonly number[]): number[] {
  if (value === undefined) return [...fallback];
  if (!Array.isArray(value) || value.length === 0) throw invalid(`${name} must be a non-empty array of bucket upper bounds in seconds`);
  let previous = 0;
  for (const bound of value as unknown[]) {
    if (typeof bound !== 'number' || !Number.isFinite(bound) || bound <= previous) {
      throw invalid(`${name} must hold finite, positive, strictly increasing numbers, got [${value.join(', ')}]`);
    }
    previous = bound;
  }
  return [...value];
}

/** A histogram's observe, bound to one set of label values. */
type BoundObserve = (seconds: number) => void;

class PrometheusExporter implements PrometheusMetrics {
  readonly registry: Registry;
  readonly #names: string[] = [];
  readonly #loopDelay: IntervalHistogram;
  readonly #fanout: BoundObserve;
  readonly #init: BoundObserve;
  readonly #adapterCalls: Histogram<'adapter' | 'operation' | 'outcome'>;
  /** Per adapter and operation: the observe of its `ok` and its `error` series. */
  readonly #boundCalls = new Map<string, Map<string, [ok: BoundObserve, error: BoundObserve]>>();
  /** Brings every counter up to the figures of one stats read. */
  readonly #syncs: Array<(stats: NearbyEngineStats) => void> = [];
  /** Last value read of each counter series, to increment by what was added since. */
  readonly #last = new Map<string, number>();
  #source: TelemetrySource | undefined;
  /** The stats of the scrape under way: every collect callback of one scrape runs in one synchronous pass. */
  #scrape: NearbyEngineStats | undefined;
  /** The stats the counters were last brought up to. */
  #synced: NearbyEngineStats | undefined;

  constructor(registry: Registry, prefix: string, buckets: ResolvedBuckets) {
    this.registry = registry;
    const registers = [registry];
    for (const [name, help, read] of PLAIN_COUNTERS) {
      const metric = prefix + name;
      this.#names.push(metric);
      const counter: Counter<string> = new Counter({ name: metric, help, registers, collect: () => this.#sync() });
      this.#syncs.push((stats) => {
        const value = read(stats);
        if (value !== undefined) this.#advance(counter, metric, undefined, value);
      });
    }
    for (const [name, help, label, read] of LABELLED_COUNTERS) {
      const metric = prefix + name;
      this.#names.push(metric);
      const counter: Counter<string> = new Counter({ name: metric, help, labelNames: [label], registers, collect: () => this.#sync() });
      this.#syncs.push((stats) => {
        for (const [value, count] of Object.entries(read(stats))) this.#advance(counter, metric, { [label]: value }, count);
      });
    }
    for (const [name, help, read] of GAUGES) {
      const metric = prefix + name;
      this.#names.push(metric);
      const exporter = this;
      new Gauge({
        name: metric,
        help,
        registers,
        collect() {
          const stats = exporter.#stats();
          this.set(stats === undefined ? 0 : read(stats));
        },
      });
    }
    const exporter = this;
    this.#names.push(`${prefix}adapter_up`);
    new Gauge({
      name: `${prefix}adapter_up`,
      help: 'Whether each adapter is up (1) or down (0), as the server last saw it.',
      labelNames: ['adapter'],
      registers,
      collect() {
        this.reset();
        const health = exporter.#source?.adapterHealth() ?? {};
        for (const adapter of ADAPTERS) {
          const state = health[adapter];
          if (state !== undefined) this.set({ adapter }, state.up ? 1 : 0);
        }
      },
    });

    // The delay of event-loop turns, sampled by libuv every 10 ms; each scrape reads and resets it.
    this.#loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.#loopDelay.enable();
    this.#names.push(`${prefix}event_loop_lag_seconds`);
    new Gauge({
      name: `${prefix}event_loop_lag_seconds`,
      help: 'Event-loop delay since the previous scrape: its 99th percentile (stat="p99") and maximum (stat="max").',
      labelNames: ['stat'],
      registers,
      collect() {
        const delay = exporter.#loopDelay;
        const sampled = delay.count > 0;
        this.set({ stat: 'p99' }, sampled ? delay.percentile(99) / 1e9 : 0);
        this.set({ stat: 'max' }, sampled ? delay.max / 1e9 : 0);
        delay.reset();
      },
    });

    const fanout = new Histogram({
      name: `${prefix}fanout_latency_seconds`,
      help: 'From a bus message (or own location frame) received to a friend_update or friend_left written to a viewer, per frame.',
      buckets: buckets.fanout,
      registers,
    });
    const init = new Histogram({
      name: `${prefix}init_latency_seconds`,
      help: 'From an init frame handled to the snapshot answering it written.',
      buckets: buckets.init,
      registers,
    });
    this.#adapterCalls = new Histogram({
      name: `${prefix}adapter_call_duration_seconds`,
      help: 'Duration of adapter calls, by adapter, operation and outcome (ok or error).',
      labelNames: ['adapter', 'operation', 'outcome'],
      buckets: buckets.adapterCall,
      registers,
    });
    this.#names.push(`${prefix}fanout_latency_seconds`, `${prefix}init_latency_seconds`, `${prefix}adapter_call_duration_seconds`);
    // Bound once: the per-frame path does not hash label objects.
    this.#fanout = fanout.labels().observe;
    this.#init = init.labels().observe;
  }

  bind(source: TelemetrySource): void {
    // The engine bound so far (closed, most likely) gives its last figures first.
    if (this.#source !== undefined) {
      const last = this.#source.stats();
      for (const sync of this.#syncs) sync(last);
    }
    // A new engine counts from 0: the counters go on from where they are, increased by what it adds.
    this.#source = source;
    this.#last.clear();
    this.#scrape = undefined;
  }

  fanout(seconds: number): void {
    this.#fanout(seconds);
  }

  init(seconds: number): void {
    this.#init(seconds);
  }

  adapterCall(adapter: AdapterName, operation: string, seconds: number, ok: boolean): void {
    let operations = this.#boundCalls.get(adapter);
    if (operations === undefined) {
      operations = new Map();
      this.#boundCalls.set(adapter, operations);
    }
    let bound = operations.get(operation);
    if (bound === undefined) {
      const histogram = this.#adapterCalls;
      bound = [histogram.labels({ adapter, operation, outcome: 'ok' }).observe, histogram.labels({ adapter, operation, outcome: 'error' }).observe];
      operations.set(operation, bound);
    }
    bound[ok ? 0 : 1](seconds);
  }

  close(): void {
    this.#loopDelay.disable();
    for (const name of this.#names) this.registry.removeSingleMetric(name);
    this.#names.length = 0;
  }

  /** Brings every counter up to date; run by each counter's collect, so it does the work once per scrape. */
  #sync(): void {
    const stats = this.#stats();
    if (stats === undefined || this.#synced === stats) return;
    this.#synced = stats;
    for (const sync of this.#syncs) sync(stats);
  }

  /** The bound engine's stats, read once per scrape. */
  #stats(): NearbyEngineStats | undefined {
    const source = this.#source;
    if (source === undefined) return undefined;
    if (this.#scrape === undefined) {
      this.#scrape = source.stats() as NearbyEngineStats;
      // Forgotten once the scrape's synchronous pass over the metrics is over.
      queueMicrotask(() => {
        this.#scrape = undefined;
      });
    }
    return this.#scrape;
  }

  /**
   * Brings a counter series up to `value` read from the stats. Counters are prom-client
   * Counters incremented by the delta since the last read, not gauges reporting the raw value:
   * that keeps them typed as counters and monotonic for the registry's lifetime, also across an
   * engine replaced by a new one (which counts from 0 again) — `rate()` never sees a drop. A value
   * below the last one can only come from such a restart, and then all of it is new.
   */
  #advance(counter: Counter<string>, metric: string, labels: Record<string, string> | undefined, value: number): void {
    const key = labels === undefined ? metric : `${metric}\u0000${Object.values(labels).join('\u0000')}`;
    const last = this.#last.get(key) ?? 0;
    const delta = value >= last ? value - last : value;
    this.#last.set(key, value);
    if (labels === undefined) counter.inc(delta);
    else counter.inc(labels, delta);
  }
}
