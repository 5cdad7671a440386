import { describe, expect, it } from 'vitest';
import { MemoryLocationCache } from '../adapters/memory/location-cache.js';
import { MemoryPubSub } from '../adapters/memory/pubsub.js';
import type { CacheEntry, LocationCache, PresenceRegistry } from '../adapters/types.js';
import { manualTimers } from '../manual-timers.test-support.js';
import { AdapterMonitor } from './adapter-health.js';
import { createNearbyEngine } from './engine.js';
import { EngineLog } from './logging.js';
import type { AdapterName, NearbyTelemetry, TelemetrySource } from './telemetry.js';

/** A memory cache whose calls fail while `down` is set, as a cache whose server is gone would. */
class SwitchableCache implements LocationCache {
  readonly #inner = new MemoryLocationCache();
  down: Error | undefined;

  async set(userId: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    if (this.down !== undefined) throw this.down;
    await this.#inner.set(userId, entry, ttlMs);
  }

  async getMany(userIds: readonly string[]): Promise<Map<string, CacheEntry>> {
    if (this.down !== undefined) throw this.down;
    return this.#inner.getMany(userIds);
  }
}

type Call = [AdapterName, string, number, boolean];

function telemetry(): NearbyTelemetry & { calls: Call[]; sources: TelemetrySource[] } {
  const calls: Call[] = [];
  const sources: TelemetrySource[] = [];
  return {
    calls,
    sources,
    bind(source) {
      sources.push(source);
    },
    adapterCall(adapter, operation, seconds, ok) {
      calls.push([adapter, operation, seconds, ok]);
    },
  };
}

describe('AdapterMonitor', () => {
  it('times every call, goes down on a failure with its message, and up on the next success', async () => {
    const timers = manualTimers(5_000);
    const observed = telemetry();
    const monitor = new AdapterMonitor(timers, new EngineLog(undefined, timers), observed);
    const raw = new SwitchableCache();
    const cache = monitor.cache(raw);
    expect(monitor.health()).toEqual({ cache: { up: true, since: 5_000 } });

    await cache.set('alice', { lat: 1, lon: 2, updatedAt: 3 }, 60_000);
    timers.advance(1_000);
    raw.down = new Error('connect ECONNREFUSED 127.0.0.1:6390');
    await expect(cache.getMany(['alice'])).rejects.toBe(raw.down);
    expect(monitor.health()).toEqual({ cache: { up: false, reason: 'connect ECONNREFUSED 127.0.0.1:6390', since: 6_000 } });
    expect(monitor.seen(raw.down)).toBe(true);
    expect(monitor.seen(new Error('other'))).toBe(false);

    timers.advance(1_000);
    await expect(cache.set('alice', { lat: 1, lon: 2, updatedAt: 4 }, 60_000)).rejects.toBe(raw.down);
    expect(monitor.health().cache!.since).toBe(6_000);
    raw.down = undefined;
    timers.advance(2_000);
    expect(Object.fromEntries(await cache.getMany(['alice']))).toEqual({ alice: { lat: 1, lon: 2, updatedAt: 3 } });
    expect(monitor.health()).toEqual({ cache: { up: true, since: 9_000 } });

    expect(observed.calls.map(([adapter, operation, , ok]) => [adapter, operation, ok])).toEqual([
      ['cache', 'set', true],
      ['cache', 'getMany', false],
      ['cache', 'set', false],
      ['cache', 'getMany', true],
    ]);
    for (const [, , seconds] of observed.calls) expect(seconds).toBeGreaterThanOrEqual(0);
  });

  it('turns a synchronous throw into a rejection it counts', async () => {
    const timers = manualTimers();
    const monitor = new AdapterMonitor(timers, new EngineLog(undefined, timers), undefined);
    const registry: PresenceRegistry = {
      add: () => {
        throw new Error('not connected');
      },
      remove: async () => 0,
      expiryMs: 30_000,
    };
    const presence = monitor.presence(registry);
    expect(presence.expiryMs).toBe(30_000);
    await expect(presence.add('u', 's')).rejects.toThrow('not connected');
    expect(monitor.health().presence).toMatchObject({ up: false, reason: 'not connected' });
    await expect(presence.remove('u', 's')).resolves.toBe(0);
    expect(monitor.health().presence!.up).toBe(true);
  });

  it('keeps pubsub down while the bus probe says so, whatever its calls do', async () => {
    const timers = manualTimers(100);
    const monitor = new AdapterMonitor(timers, new EngineLog(undefined, timers), undefined);
    const pubsub = monitor.pubsub(new MemoryPubSub());
    timers.advance(100);
    monitor.busDown(true);
    await pubsub.publish('c', 'm');
    expect(monitor.health().pubsub).toEqual({ up: false, reason: 'probes stopped coming back', since: 200 });
    timers.advance(100);
    monitor.busDown(false);
    expect(monitor.health().pubsub).toEqual({ up: true, since: 300 });
  });
});

describe('the engine watches its adapters', () => {
  it('reports calls to telemetry, binds its source, and shows a failing cache in adapterHealth()', async () => {
    const observed = telemetry();
    const cache = new SwitchableCache();
    const errors: unknown[] = [];
    const engine = createNearbyEngine({
      friends: { getFriends: async () => [] },
      cache,
      telemetry: observed,
      onError: (error) => errors.push(error),
      busProbeIntervalMs: 0,
    });
    expect(observed.sources).toHaveLength(1);
    await engine.start();
    expect(Object.keys(engine.adapterHealth()).sort()).toEqual(['cache', 'friends', 'history', 'presence', 'pubsub', 'settings']);

    const frames: string[] = [];
    const socket = { bufferedAmount: 0, send: (data: string) => frames.push(data), close: () => {}, terminate: () => {} };
    const session = engine.accept(socket, 'alice');
    session.receive(JSON.stringify({ type: 'init', v: 1 }));
    await waitUntil(() => frames.some((frame) => frame.includes('"snapshot"')));
    expect(observed.calls.some(([adapter, operation, , ok]) => adapter === 'friends' && operation === 'getFriends' && ok)).toBe(true);

    cache.down = new Error('cache unreachable');
    session.receive(JSON.stringify({ type: 'location', seq: 1, samples: [{ lat: 1, lon: 2, timestamp: Date.now() }] }));
    await waitUntil(() => engine.adapterHealth().cache?.up === false);
    expect(engine.adapterHealth().cache!.reason).toBe('cache unreachable');
    expect(observed.sources[0]!.adapterHealth().cache!.up).toBe(false);
    expect(observed.sources[0]!.stats().connections).toBe(1);
    // onError still receives the failure, as the engine reported it.
    await waitUntil(() => errors.length > 0);
    expect(String(errors[0])).toMatch(/location cache write failed: cache unreachable/);
    expect(observed.calls).toContainEqual(['cache', 'set', expect.any(Number), false]);
    session.closed(1000);
    await engine.close();
  });
});

async function waitUntil(check: () => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('condition not met');
}
