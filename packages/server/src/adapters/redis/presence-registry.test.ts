import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { manualTimers } from '../../manual-timers.test-support.js';
import type { Timers } from '../timers.js';
import { RedisLocationCache } from './location-cache.js';
import { RedisPresenceRegistry } from './presence-registry.js';
import { RedisSettingsStore } from './settings-store.js';

/** The few calls of an ioredis client that presence and the cache use, recording the commands it is sent. */
function fakeClient() {
  const commands: string[][] = [];
  const client = Object.assign(new EventEmitter(), {
    status: 'ready',
    options: { host: '127.0.0.1', port: 6379 },
    defineCommand() {},
    set: async (...args: unknown[]) => {
      commands.push(['set', ...args.map(String)]);
      return 'OK';
    },
    del: async (...keys: string[]) => {
      commands.push(['del', ...keys]);
      return keys.length;
    },
    multi() {
      const chain = {
        sadd: () => chain,
        expire: () => chain,
        exec: async () => [],
      };
      return chain;
    },
  });
  return { client: client as unknown as Redis, commands };
}

describe('RedisPresenceRegistry liveness', () => {
  it('refreshes its liveness key every third of the TTL on the injected timers, and stops on close', async () => {
    const timers = manualTimers();
    const { client, commands } = fakeClient();
    const presence = new RedisPresenceRegistry({ client, livenessTtlMs: 3_000, timers });
    expect(presence.expiryMs).toBe(3_000);
    const refreshes = () => commands.filter((command) => command[0] === 'set' && command[1] === 'nearby:srv:proc-1');

    await presence.add('alice', 'proc-1');
    await presence.add('bob', 'proc-1'); // one liveness key per server id, however many users
    expect(refreshes()).toEqual([['set', 'nearby:srv:proc-1', '1', 'PX', '3000']]);
    timers.advance(999);
    expect(refreshes()).toHaveLength(1);
    timers.advance(1);
    expect(refreshes()).toHaveLength(2);
    timers.advance(10_000);
    expect(refreshes()).toHaveLength(12);
    expect(timers.active).toBe(1);

    await presence.close();
    expect(timers.active).toBe(0);
    expect(commands.at(-1)).toEqual(['del', 'nearby:srv:proc-1']);
    timers.advance(10_000);
    expect(refreshes()).toHaveLength(12);
  });

  it('refuses a liveness TTL under one second', () => {
    const { client } = fakeClient();
    expect(() => new RedisPresenceRegistry({ client, livenessTtlMs: 999 })).toThrow(RangeError);
  });
});

describe('Redis adapters on injected timers', () => {
  it.each([
    ['RedisLocationCache', (client: Redis, timers: Timers) => new RedisLocationCache({ client, connectTimeoutMs: 2_000, timers })],
    ['RedisSettingsStore', (client: Redis, timers: Timers) => new RedisSettingsStore({ client, connectTimeoutMs: 2_000, timers })],
    ['RedisPresenceRegistry', (client: Redis, timers: Timers) => new RedisPresenceRegistry({ client, connectTimeoutMs: 2_000, timers })],
  ])('%s gives up connect() after connectTimeoutMs', async (_name, make) => {
    const timers = manualTimers();
    const { client } = fakeClient();
    (client as unknown as { status: string }).status = 'connecting';
    const adapter = make(client, timers);
    let outcome: unknown;
    adapter.connect().catch((error: unknown) => (outcome = error));
    timers.advance(1_999);
    await Promise.resolve();
    expect(outcome).toBeUndefined();
    timers.advance(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(outcome).toMatchObject({ code: 'adapter_unavailable', message: expect.stringContaining('not ready after 2000 ms') });
  });
});
