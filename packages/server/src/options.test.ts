import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ErrorCode, NearbyError, isNearbyError } from '@nearby/protocol';
import type { TokenBucketOptions } from './core/token-bucket.js';
import { globalTimers } from './timers.js';
import { MemoryPresenceRegistry } from './adapters/memory/presence-registry.js';
import { MemoryPubSub } from './adapters/memory/pubsub.js';
import { MemorySettingsStore } from './adapters/memory/settings-store.js';
import { resolveOptions, type NearbyServerOptions } from './options.js';

const friends = { getFriends: async () => [] as string[] };

function base(overrides: Partial<NearbyServerOptions> = {}): NearbyServerOptions {
  return { authenticate: () => 'user', friends, port: 0, ...overrides };
}

/** Asserts that `fn` throws a NearbyError with code invalid_argument whose message names the option. */
function expectInvalid(fn: () => unknown, names: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (caught) {
    error = caught;
  }
  expect(error, 'expected resolveOptions to throw').toBeDefined();
  expect(isNearbyError(error)).toBe(true);
  expect(error).toBeInstanceOf(NearbyError);
  expect((error as NearbyError).code).toBe(ErrorCode.INVALID_ARGUMENT);
  expect((error as NearbyError).code).toBe('invalid_argument');
  expect((error as Error).message).toMatch(names);
}

describe('resolveOptions defaults', () => {
  it('applies the documented defaults', () => {
    const authenticate = () => 'user';
    const resolved = resolveOptions({ authenticate, friends, port: 0 });
    expect(resolved.authenticate).toBe(authenticate);
    expect(resolved.friends).toBe(friends);
    expect(resolved.radiusKm).toBe(8);
    expect(resolved.maxRadiusKm).toBe(50);
    expect(resolved.inactiveAfterMs).toBe(600_000);
    expect(resolved.maxFriends).toBe(5000);
    expect(resolved.path).toBe('/nearby');
    expect(resolved.port).toBe(0);
    expect(resolved.server).toBeUndefined();
    expect(resolved.host).toBeUndefined();
    expect(resolved.maxPayloadBytes).toBe(16 * 1024);
    expect(resolved.frameLimit).toEqual({ capacity: 40, refillPerSecond: 20 });
    expect(resolved.locationLimit).toEqual({ capacity: 20, refillPerSecond: 0.5 });
    expect(resolved.maxConsecutiveDrops).toBe(100);
    expect(resolved.idleTimeoutMs).toBe(75_000);
    expect(resolved.sweepIntervalMs).toBe(5_000);
    expect(resolved.drainWindowMs).toBe(30_000);
    expect(resolved.historyWriter).toEqual({});
    expect(resolved.channelPrefix).toBe('nearby:u:');
    expect(resolved.serverId).toMatch(/\S/);
    expect(typeof resolved.onError).toBe('function');
    expect(resolved.timers).toBe(globalTimers);
  });

  it('gives each server a different default serverId', () => {
    expect(resolveOptions(base()).serverId).not.toBe(resolveOptions(base()).serverId);
  });

  it('keeps the values it was given', () => {
    const server = createServer();
    const timers = { now: () => 1, setTimeout: () => 0, clearTimeout: () => {} };
    const onError = () => {};
    const resolved = resolveOptions({
      authenticate: () => 'u',
      friends,
      server,
      radiusKm: 50,
      maxRadiusKm: 50,
      inactiveAfterMs: 1,
      maxFriends: 1,
      path: '/',
      idleTimeoutMs: 0,
      drainWindowMs: 0,
      rateLimit: { frames: { capacity: 1, refillPerSecond: 0.1 }, locations: { capacity: 2, refillPerSecond: 3 }, maxConsecutiveDrops: 4 },
      historyWriter: { maxBatchSamples: 9 },
      channelPrefix: 'p:',
      serverId: 'srv-a',
      onError,
      timers,
    });
    expect(resolved.server).toBe(server);
    expect(resolved.port).toBeUndefined();
    expect(resolved.radiusKm).toBe(50); // equal to the maximum is allowed
    expect(resolved.maxFriends).toBe(1);
    expect(resolved.path).toBe('/');
    expect(resolved.idleTimeoutMs).toBe(0); // 0 disables
    expect(resolved.drainWindowMs).toBe(0);
    expect(resolved.frameLimit).toEqual({ capacity: 1, refillPerSecond: 0.1 });
    expect(resolved.locationLimit).toEqual({ capacity: 2, refillPerSecond: 3 });
    expect(resolved.maxConsecutiveDrops).toBe(4);
    expect(resolved.historyWriter).toEqual({ maxBatchSamples: 9 });
    expect(resolved.channelPrefix).toBe('p:');
    expect(resolved.serverId).toBe('srv-a');
    expect(resolved.onError).toBe(onError);
    expect(resolved.timers).toBe(timers);
  });

  it.each([0, 1, 8080, 65535])('accepts port %i', (port) => {
    expect(resolveOptions(base({ port })).port).toBe(port);
  });
});

describe('resolveOptions validation', () => {
  it('rejects missing options', () => {
    expectInvalid(() => resolveOptions(undefined as unknown as NearbyServerOptions), /options/);
  });

  it('rejects a missing authenticate', () => {
    expectInvalid(() => resolveOptions({ friends, port: 0 } as unknown as NearbyServerOptions), /authenticate/);
    expectInvalid(() => resolveOptions(base({ authenticate: 'x' as unknown as NearbyServerOptions['authenticate'] })), /authenticate/);
  });

  it('rejects friends without getFriends', () => {
    expectInvalid(() => resolveOptions(base({ friends: {} as unknown as NearbyServerOptions['friends'] })), /friends/);
    expectInvalid(() => resolveOptions({ authenticate: () => 'u', port: 0 } as unknown as NearbyServerOptions), /friends/);
  });

  it('rejects both port and server', () => {
    expectInvalid(() => resolveOptions(base({ port: 0, server: createServer() })), /port[\s\S]*server|server[\s\S]*port/);
  });

  it('rejects neither port nor server', () => {
    expectInvalid(() => resolveOptions({ authenticate: () => 'u', friends }), /port/);
  });

  it.each([-1, 65536, 70000, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects port %s', (port) => {
    expectInvalid(() => resolveOptions(base({ port })), /port/);
  });

  it('rejects radiusKm above maxRadiusKm', () => {
    expectInvalid(() => resolveOptions(base({ radiusKm: 51 })), /radiusKm/);
    expectInvalid(() => resolveOptions(base({ radiusKm: 10, maxRadiusKm: 5 })), /radiusKm/);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('rejects radiusKm %s', (radiusKm) => {
    expectInvalid(() => resolveOptions(base({ radiusKm })), /radiusKm/);
  });

  it('rejects maxRadiusKm beyond the protocol limit or not positive', () => {
    expectInvalid(() => resolveOptions(base({ maxRadiusKm: 20_001 })), /maxRadiusKm/);
    expectInvalid(() => resolveOptions(base({ maxRadiusKm: 0 })), /maxRadiusKm/);
    expect(resolveOptions(base({ maxRadiusKm: 20_000 })).maxRadiusKm).toBe(20_000);
  });

  it.each([-1, 0, Number.NaN])('rejects inactiveAfterMs %s', (inactiveAfterMs) => {
    expectInvalid(() => resolveOptions(base({ inactiveAfterMs })), /inactiveAfterMs/);
  });

  it.each([0, -5, 1.5])('rejects maxFriends %s', (maxFriends) => {
    expectInvalid(() => resolveOptions(base({ maxFriends })), /maxFriends/);
  });

  it.each(['nearby', '', 'ws://host/nearby'])('rejects path %j without a leading slash', (path) => {
    expectInvalid(() => resolveOptions(base({ path })), /path/);
  });

  it('rejects a rate limit capacity of 0 (or below 1)', () => {
    expectInvalid(() => resolveOptions(base({ rateLimit: { frames: { capacity: 0, refillPerSecond: 1 } } })), /rateLimit\.frames\.capacity/);
    expectInvalid(
      () => resolveOptions(base({ rateLimit: { locations: { capacity: 0, refillPerSecond: 1 } } })),
      /rateLimit\.locations\.capacity/,
    );
    expectInvalid(
      () => resolveOptions(base({ rateLimit: { frames: { capacity: 0.5, refillPerSecond: 1 } } })),
      /rateLimit\.frames\.capacity/,
    );
  });

  it('rejects a rate limit refill of 0', () => {
    expectInvalid(
      () => resolveOptions(base({ rateLimit: { locations: { capacity: 5, refillPerSecond: 0 } } })),
      /rateLimit\.locations\.refillPerSecond/,
    );
  });

  it('rejects a rate limit bucket missing refillPerSecond, or fills in the default', () => {
    // JavaScript callers can omit a field; the resolved bucket must still be usable by TokenBucket.
    const frames = { capacity: 10 } as TokenBucketOptions;
    let resolved: ReturnType<typeof resolveOptions> | undefined;
    try {
      resolved = resolveOptions(base({ rateLimit: { frames } }));
    } catch (error) {
      expect((error as NearbyError).code).toBe('invalid_argument');
      expect((error as Error).message).toMatch(/rateLimit\.frames\.refillPerSecond/);
      return;
    }
    expect(resolved.frameLimit.capacity).toBe(10);
    expect(resolved.frameLimit.refillPerSecond).toBeGreaterThan(0);
  });

  it('rejects a non-positive maxConsecutiveDrops', () => {
    expectInvalid(() => resolveOptions(base({ rateLimit: { maxConsecutiveDrops: 0 } })), /maxConsecutiveDrops/);
  });

  it('with a pubsub, asks for settings and presence to be given or turned off, naming what is missing', () => {
    const pubsub = new MemoryPubSub();
    const message = /pubsub is shared between processes: give settings and presence stores .*or false to keep them per process/;
    expectInvalid(() => resolveOptions(base({ pubsub })), message);
    expectInvalid(() => resolveOptions(base({ pubsub })), /missing: settings, presence/);
    expectInvalid(() => resolveOptions(base({ pubsub, settings: new MemorySettingsStore() })), /missing: presence\)/);
    expectInvalid(() => resolveOptions(base({ pubsub, presence: false })), /missing: settings\)/);
    expect(() => resolveOptions(base({ pubsub, settings: false, presence: false }))).not.toThrow();
    expect(() => resolveOptions(base({ pubsub, settings: new MemorySettingsStore(), presence: new MemoryPresenceRegistry() }))).not.toThrow();
    // Without a pubsub (one process) the in-memory defaults stand.
    expect(() => resolveOptions(base())).not.toThrow();
  });

  it('rejects settings or presence that are neither a store nor false', () => {
    expectInvalid(() => resolveOptions(base({ settings: {} as unknown as NearbyServerOptions['settings'] })), /settings must be a SettingsStore/);
    expectInvalid(() => resolveOptions(base({ presence: true as unknown as NearbyServerOptions['presence'] })), /presence must be a PresenceRegistry/);
  });

  it.each([
    ['maxPayloadBytes', { maxPayloadBytes: 0 }],
    ['idleTimeoutMs', { idleTimeoutMs: -1 }],
    ['sweepIntervalMs', { sweepIntervalMs: 0 }],
    ['drainWindowMs', { drainWindowMs: -1 }],
  ] as const)('rejects an invalid %s', (name, overrides) => {
    expectInvalid(() => resolveOptions(base(overrides)), new RegExp(name));
  });
});
