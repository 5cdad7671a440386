import { ErrorCode, NearbyError } from '@nearby/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { NearbyClient } from './client.js';
import type { NearbyClientOptions } from './options.js';
import { FakeServer } from './test-utils/fake-server.js';
import { ManualTimers } from './test-utils/manual-timers.js';

/** Unknown option keys are refused at every level with the nearest known key; every documented option is accepted. */

type Options = Record<string, unknown>;

const clients: NearbyClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

function create(options: Options): NearbyClient {
  const client = new NearbyClient(options as unknown as NearbyClientOptions);
  clients.push(client);
  return client;
}

/** Every option, each with a valid value. */
function full(): Options {
  const server = new FakeServer();
  const listeners = { subscribe: () => () => {} };
  const memory = new Map<string, string>();
  return {
    url: 'wss://nearby.test/ws',
    getToken: () => 'tok',
    tokenParam: 't',
    radiusKm: 5,
    sharing: false,
    discoverable: true,
    seeStrangers: true,
    flushIntervalMs: 10_000,
    significantMoveMeters: 200,
    maxBufferedSamples: 50,
    reconnect: { initialDelayMs: 100, maxDelayMs: 1_000, multiplier: 3 },
    heartbeat: { intervalMs: 5_000, timeoutMs: 2_000 },
    connectTimeoutMs: 5_000,
    ackTimeoutMs: 20_000,
    inactiveAfterMs: 60_000,
    WebSocket: server.WebSocket,
    appState: { isForeground: () => true, ...listeners },
    network: { isOnline: () => true, ...listeners },
    backgroundTimeoutMs: 1_000,
    storage: {
      getItem: async (key: string) => memory.get(key) ?? null,
      setItem: async (key: string, value: string) => void memory.set(key, value),
      removeItem: async (key: string) => void memory.delete(key),
    },
    storageKey: 'outbox',
    timers: new ManualTimers(),
    random: () => 0.5,
    onListenerError: () => {},
  };
}

function refusal(run: () => unknown): string {
  let error: unknown;
  try {
    run();
  } catch (caught) {
    error = caught;
  }
  expect(error, 'expected an invalid_argument NearbyError').toBeInstanceOf(NearbyError);
  expect((error as NearbyError).code).toBe(ErrorCode.INVALID_ARGUMENT);
  return (error as Error).message;
}

describe('NearbyClient options', () => {
  it('accept every documented option', () => {
    expect(() => create(full())).not.toThrow();
    const { getToken: _getToken, ...withToken } = full();
    expect(() => create({ ...withToken, token: 'tok', reconnect: false, heartbeat: false, appState: false, network: false })).not.toThrow();
  });

  it('refuse a misspelled top-level key, suggesting the right one', () => {
    expect(refusal(() => create({ ...full(), radiusKM: 5 }))).toBe('unknown option radiusKM — did you mean radiusKm?');
    expect(refusal(() => create({ ...full(), websocket: FakeServer }))).toBe('unknown option websocket — did you mean WebSocket?');
    expect(refusal(() => create({ ...full(), flushInterval: 1 }))).toBe('unknown option flushInterval — did you mean flushIntervalMs?');
  });

  it('refuse a misspelled nested key, naming its path', () => {
    expect(refusal(() => create({ ...full(), reconnect: { initialDelay: 1 } }))).toBe(
      'unknown option reconnect.initialDelay — did you mean reconnect.initialDelayMs?',
    );
    expect(refusal(() => create({ ...full(), reconnect: { multipler: 2 } }))).toBe(
      'unknown option reconnect.multipler — did you mean reconnect.multiplier?',
    );
    expect(refusal(() => create({ ...full(), heartbeat: { timeoutMS: 1 } }))).toBe(
      'unknown option heartbeat.timeoutMS — did you mean heartbeat.timeoutMs?',
    );
  });

  it('refuse a far-off key without a suggestion', () => {
    expect(refusal(() => create({ ...full(), wobble: 1 }))).toBe('unknown option wobble');
    expect(refusal(() => create({ ...full(), heartbeat: { jitter: 1 } }))).toBe('unknown option heartbeat.jitter');
  });

  it('are checked for unknown keys before anything else', () => {
    expect(refusal(() => create({ uri: 'wss://nearby.test/ws' }))).toBe('unknown option uri — did you mean url?');
  });

  it('do not look into objects the host supplies', () => {
    const options = full();
    const withExtras = {
      ...options,
      appState: { ...(options.appState as object), extra: 1 },
      network: { ...(options.network as object), extra: 1 },
      storage: { ...(options.storage as object), extra: 1 },
      timers: Object.assign(new ManualTimers(), { extra: 1 }),
    };
    expect(() => create(withExtras)).not.toThrow();
  });
});
