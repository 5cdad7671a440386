import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, NearbyClient, type SampleStorage } from '@nearby/client';
import { MemoryHistoryStore, type HistorySample, type HistoryStore } from '@nearby/server';
import { startServer, tokenFor, type ServerResource } from './helpers/server-resource.js';

/**
 * At-least-once through an app kill: a device records samples the server does not acknowledge,
 * the app dies without closing (its socket just goes away), and the next start of the app, on
 * the same storage, delivers every sample. The history store is idempotent on
 * `(userId, timestamp)`, so a sample stored before the kill and sent again is stored once.
 */

/** A history store whose appends the test can fail, or accept while holding the answer back. */
class ControlledHistoryStore implements HistoryStore {
  readonly inner = new MemoryHistoryStore();
  mode: 'pass' | 'fail' | 'hold' = 'pass';
  /** Every sample of every accepted append, duplicates included. */
  readonly appended: HistorySample[] = [];
  readonly #held: (() => void)[] = [];

  async append(samples: readonly HistorySample[]): Promise<void> {
    if (this.mode === 'fail') throw new Error('history store down');
    await this.inner.append(samples);
    this.appended.push(...samples);
    if (this.mode === 'hold') await new Promise<void>((resolve) => this.#held.push(resolve));
  }

  query(query: Parameters<HistoryStore['query']>[0]) {
    return this.inner.query(query);
  }

  prune(before: number) {
    return this.inner.prune(before);
  }

  /** Answers the held appends (the server then acknowledges to whoever is still there). */
  release(): void {
    for (const resolve of this.#held.splice(0)) resolve();
  }

  async timestampsOf(userId: string): Promise<number[]> {
    const out: number[] = [];
    for await (const sample of this.inner.query({ userId })) out.push(sample.recordedAt);
    return out;
  }
}

/** AsyncStorage-shaped, in memory: what survives the app kill. */
class MemoryAsyncStorage implements SampleStorage {
  readonly map = new Map<string, string>();
  async getItem(key: string) {
    return this.map.get(key) ?? null;
  }
  async setItem(key: string, value: string) {
    this.map.set(key, value);
  }
  async removeItem(key: string) {
    this.map.delete(key);
  }
  storedTimestamps(): number[] {
    const text = this.map.get('@nearby/client:outbox');
    return text === undefined ? [] : (JSON.parse(text) as { samples: { timestamp: number }[] }).samples.map((s) => s.timestamp);
  }
}

/** A `ws` WebSocket the test can kill the way an app kill does: the TCP connection just ends. */
class KillableWebSocket extends WebSocket {
  static readonly all: KillableWebSocket[] = [];
  constructor(url: string) {
    super(url);
    KillableWebSocket.all.push(this);
  }
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

const T0 = Date.now() - 60_000;
const TIMESTAMPS = [1, 2, 3, 4, 5].map((i) => T0 + i * 1_000);

let env: ServerResource | undefined;
const clients: NearbyClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await env?.close();
  env = undefined;
});

async function run(mode: 'fail' | 'hold') {
  const history = new ControlledHistoryStore();
  env = await startServer({ history, historyWriter: { timeoutMs: 60_000 } });
  const storage = new MemoryAsyncStorage();
  const options = {
    url: env.url,
    token: tokenFor('walker'),
    storage,
    flushIntervalMs: 20,
    ackTimeoutMs: 120_000,
    appState: false as const,
    network: false as const,
  };

  // The first run of the app: every fix is handed over, none is acknowledged.
  history.mode = mode;
  const first = new NearbyClient({ ...options, WebSocket: KillableWebSocket, reconnect: false });
  clients.push(first);
  const firstErrors: string[] = [];
  first.on('error', (error) => firstErrors.push(error.code));
  first.connect();
  await first.whenConnected();
  const socket = KillableWebSocket.all.at(-1)!;
  TIMESTAMPS.forEach((timestamp, i) => first.updateLocation({ lat: 37.5 + i / 100, lon: 127, timestamp }));
  if (mode === 'fail') {
    await until(() => firstErrors.includes(ErrorCode.HISTORY_UNAVAILABLE), 'the store to refuse a batch');
  } else {
    await until(() => history.appended.length >= TIMESTAMPS.length, 'the store to accept every sample');
  }
  await until(() => storage.storedTimestamps().length === TIMESTAMPS.length, 'every sample to be in storage');
  expect(first.getSnapshot().pendingSamples).toBe(TIMESTAMPS.length);

  // The app is killed: no close(), the socket just dies.
  socket.terminate();
  await until(() => first.getSnapshot().state === 'closed', 'the first run to lose its socket');
  expect(storage.storedTimestamps()).toEqual(TIMESTAMPS);
  if (mode === 'fail') expect(await history.timestampsOf('walker')).toEqual([]);
  history.mode = 'pass';
  history.release(); // the acks of the held appends go nowhere

  // The next start of the app, on the same storage.
  const second = new NearbyClient(options);
  clients.push(second);
  const acked: number[] = [];
  second.on('ack', ({ count }) => acked.push(count));
  second.connect();
  await until(() => second.getSnapshot().pendingSamples === 0 && acked.length > 0, 'the second run to deliver everything');
  await until(() => !storage.map.has('@nearby/client:outbox'), 'the storage to be emptied');

  expect(await history.timestampsOf('walker')).toEqual(TIMESTAMPS); // each exactly once
  return history;
}

describe('persisted sample buffer through an app kill', () => {
  it('samples the store refused are delivered by the next run, exactly once', async () => {
    const history = await run('fail');
    expect(history.appended.map((s) => s.recordedAt)).toEqual(TIMESTAMPS); // only the second run's copies
  });

  it('samples stored whose ack never reached the device are sent again and stored once', async () => {
    const history = await run('hold');
    // Both runs handed them over; the idempotent store kept one copy of each.
    for (const timestamp of TIMESTAMPS) {
      expect(history.appended.filter((s) => s.recordedAt === timestamp)).toHaveLength(2);
    }
  });
});
