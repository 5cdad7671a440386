import { ErrorCode, type LocationSample } from '@nearby/protocol';
import { describe, expect, it } from 'vitest';
import type { NearbyClientOptions } from './options.js';
import type { SampleStorage } from './persist.js';
import { createHarness } from './test-utils/harness.js';
import { ManualTimers } from './test-utils/manual-timers.js';

const KEY = '@nearby/client:outbox';
const T0 = 1_700_000_000_000;

/** Lets every pending promise callback run (the storage calls are asynchronous). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

interface Deferred {
  resolve(): void;
  reject(error: unknown): void;
}

/** An AsyncStorage-like map whose calls the test can hold back or fail. */
class TestStorage implements SampleStorage {
  readonly map = new Map<string, string>();
  readonly writes: (string | null)[] = [];
  /** While true, each write waits in `held` until the test settles it. */
  hold = false;
  readonly held: Deferred[] = [];
  failWrites = false;
  getItem: SampleStorage['getItem'] = async (key) => this.map.get(key) ?? null;

  async setItem(key: string, value: string): Promise<void> {
    this.writes.push(value);
    await this.gate();
    if (this.failWrites) throw new Error('disk full');
    this.map.set(key, value);
  }

  async removeItem(key: string): Promise<void> {
    this.writes.push(null);
    await this.gate();
    this.map.delete(key);
  }

  /** The samples stored under the default key. */
  stored(): LocationSample[] | undefined {
    const text = this.map.get(KEY);
    return text === undefined ? undefined : (JSON.parse(text) as { samples: LocationSample[] }).samples;
  }

  private gate(): Promise<void> {
    if (!this.hold) return Promise.resolve();
    return new Promise((resolve, reject) => this.held.push({ resolve, reject }));
  }
}

const sample = (i: number): LocationSample => ({ lat: 37.5 + i / 1000, lon: 127, timestamp: T0 + i });
const stored = (...samples: LocationSample[]) => JSON.stringify({ v: 1, samples });

function setup(storage: SampleStorage, options: Partial<NearbyClientOptions> = {}) {
  const timers = new ManualTimers(T0 + 1_000);
  return { ...createHarness({ timers, storage, flushIntervalMs: 30_000, ...options }), timers };
}

describe('persisted sample buffer', () => {
  it('stores unacknowledged samples, in flight or not, and removes the key once all are acknowledged', async () => {
    const storage = new TestStorage();
    const { client, server } = setup(storage);
    await settle();
    client.updateLocation(sample(1));
    client.updateLocation(sample(2));
    await settle();
    expect(storage.stored()).toEqual([sample(1), sample(2)]);

    client.connect();
    const socket = server.accept(); // both go out in one batch: in flight, still stored
    expect(socket.framesOf('location')).toHaveLength(1);
    await settle();
    expect(storage.stored()).toEqual([sample(1), sample(2)]);

    socket.push({ type: 'ack', seq: 0, count: 2 });
    await settle();
    expect(storage.map.has(KEY)).toBe(false);
    expect(client.getSnapshot().pendingSamples).toBe(0);
  });

  it('writes one at a time, each with the latest state, without blocking the caller', async () => {
    const storage = new TestStorage();
    const { client } = setup(storage);
    await settle();
    storage.hold = true;
    for (let i = 1; i <= 5; i++) client.updateLocation(sample(i)); // returns at once
    await settle();
    expect(storage.writes).toHaveLength(1);
    client.updateLocation(sample(6));
    client.updateLocation(sample(7));
    await settle();
    expect(storage.writes).toHaveLength(1); // still one in flight
    storage.held.shift()!.resolve();
    await settle();
    expect(storage.writes).toHaveLength(2); // the coalesced follow-up
    storage.hold = false;
    storage.held.shift()!.resolve();
    await settle();
    expect(storage.writes).toHaveLength(2);
    expect(storage.stored()).toEqual([1, 2, 3, 4, 5, 6, 7].map(sample));
  });

  it('loads at construction, merges samples recorded meanwhile in timestamp order without duplicates, and resends them', async () => {
    const storage = new TestStorage();
    storage.map.set(KEY, stored(sample(1), sample(3), sample(5)));
    let release!: () => void;
    const loaded = new Promise<void>((resolve) => (release = resolve));
    storage.getItem = async (key) => {
      await loaded;
      return storage.map.get(key) ?? null;
    };
    const { client, server } = setup(storage);
    client.updateLocation(sample(4));
    client.updateLocation(sample(3)); // the same sample as a stored one (same timestamp)
    await settle();
    expect(storage.writes).toEqual([]); // nothing written before the stored samples were read
    expect(client.getSnapshot().pendingSamples).toBe(2);

    release();
    await settle();
    expect(client.getSnapshot().pendingSamples).toBe(4);
    expect(storage.stored()?.map((s) => s.timestamp)).toEqual([1, 3, 4, 5].map((i) => T0 + i));

    client.connect();
    const socket = server.accept();
    expect(socket.framesOf('location').flatMap((frame) => frame.samples)).toEqual([1, 3, 4, 5].map(sample));
  });

  it('samples loaded after the connection is up go out at once', async () => {
    const storage = new TestStorage();
    storage.map.set(KEY, stored(sample(1)));
    let release!: () => void;
    const loaded = new Promise<void>((resolve) => (release = resolve));
    storage.getItem = async (key) => {
      await loaded;
      return storage.map.get(key) ?? null;
    };
    const { client, server } = setup(storage);
    client.connect();
    const socket = server.accept();
    expect(socket.framesOf('location')).toEqual([]);
    release();
    await settle();
    expect(socket.framesOf('location')).toEqual([{ type: 'location', seq: 0, samples: [sample(1)] }]);
  });

  it('keeps at most maxBufferedSamples, the newest, and reports the overflow', async () => {
    const storage = new TestStorage();
    storage.map.set(KEY, stored(...[1, 2, 3, 4, 5].map(sample)));
    const { client, errorCodes } = setup(storage, { maxBufferedSamples: 3 });
    await settle();
    expect(errorCodes()).toEqual([ErrorCode.BUFFER_OVERFLOW]);
    expect(client.getSnapshot().pendingSamples).toBe(3);
    expect(storage.stored()).toEqual([3, 4, 5].map(sample));
  });

  it('uses setItem with an empty list when the storage has no removeItem', async () => {
    const map = new Map<string, string>();
    const storage: SampleStorage = {
      getItem: async (key) => map.get(key) ?? null,
      setItem: async (key, value) => void map.set(key, value),
    };
    const { client, server } = setup(storage);
    await settle();
    client.updateLocation(sample(1));
    client.connect();
    server.accept().push({ type: 'ack', seq: 0, count: 1 });
    await settle();
    expect(map.get(KEY)).toBe(stored());
  });

  it('uses storageKey', async () => {
    const storage = new TestStorage();
    const { client } = setup(storage, { storageKey: 'user-42' });
    await settle();
    client.updateLocation(sample(1));
    await settle();
    expect([...storage.map.keys()]).toEqual(['user-42']);
  });
});

describe('persisted sample buffer: storage failures never crash the client', () => {
  it('a rejected read is reported; the client carries on and still stores new samples', async () => {
    const storage = new TestStorage();
    storage.getItem = async () => {
      throw new Error('storage locked');
    };
    const { client, errorCodes, of } = setup(storage);
    await settle();
    expect(errorCodes()).toEqual([ErrorCode.STORAGE_FAILED]);
    expect(of('error')[0]![0]).toMatchObject({ message: 'storage read failed', cause: { message: 'storage locked' } });
    client.updateLocation(sample(1));
    await settle();
    expect(storage.stored()).toEqual([sample(1)]);
  });

  it('a read that throws synchronously is reported the same way', async () => {
    const storage = new TestStorage();
    storage.getItem = () => {
      throw new Error('not a function of this platform');
    };
    const { errorCodes } = setup(storage);
    await settle();
    expect(errorCodes()).toEqual([ErrorCode.STORAGE_FAILED]);
  });

  it('failed writes are reported once per streak, and the samples stay in memory', async () => {
    const storage = new TestStorage();
    const { client, errorCodes, server } = setup(storage);
    await settle();
    storage.failWrites = true;
    client.updateLocation(sample(1));
    await settle();
    client.updateLocation(sample(2));
    await settle();
    expect(errorCodes()).toEqual([ErrorCode.STORAGE_FAILED]);
    expect(client.getSnapshot().pendingSamples).toBe(2);
    storage.failWrites = false;
    client.updateLocation(sample(3));
    await settle();
    expect(storage.stored()).toEqual([1, 2, 3].map(sample));
    storage.failWrites = true;
    client.updateLocation(sample(4));
    await settle();
    expect(errorCodes()).toEqual([ErrorCode.STORAGE_FAILED, ErrorCode.STORAGE_FAILED]);
    client.connect();
    expect(server.accept().framesOf('location')[0]?.samples).toEqual([1, 2, 3, 4].map(sample));
  });

  it.each([
    ['not JSON', '{"v":1,"samples":[{"lat":'],
    ['JSON null', 'null'],
    ['another format version', JSON.stringify({ v: 2, samples: [sample(1)] })],
    ['samples not a list', JSON.stringify({ v: 1, samples: { 0: sample(1) } })],
    ['a bare list', JSON.stringify([sample(1)])],
  ])('discards %s with a report and overwrites it', async (_name, text) => {
    const storage = new TestStorage();
    storage.map.set(KEY, text);
    const { client, of } = setup(storage);
    await settle();
    expect(of('error').map(([error]) => [error.code, error.message])).toEqual([
      [ErrorCode.STORAGE_FAILED, 'stored samples unreadable: discarded'],
    ]);
    expect(client.getSnapshot().pendingSamples).toBe(0);
    expect(storage.map.has(KEY)).toBe(false);
  });

  it('a value that is not a string is unreadable too', async () => {
    const storage = new TestStorage();
    storage.getItem = async () => 42 as unknown as string;
    const { errorCodes } = setup(storage);
    await settle();
    expect(errorCodes()).toEqual([ErrorCode.STORAGE_FAILED]);
  });

  it('drops the invalid entries of a readable list, keeps the valid ones, and reports how many', async () => {
    const storage = new TestStorage();
    storage.map.set(
      KEY,
      JSON.stringify({
        v: 1,
        samples: [sample(1), { lat: 'x', lon: 0, timestamp: T0 }, null, { lat: 1, lon: 1 }, { lat: 95, lon: 0, timestamp: T0 }, sample(2)],
      }),
    );
    const { client, of } = setup(storage);
    await settle();
    expect(of('error').map(([error]) => error.message)).toEqual(['4 invalid stored sample(s) discarded']);
    expect(client.getSnapshot().pendingSamples).toBe(2);
    expect(storage.stored()).toEqual([sample(1), sample(2)]);
  });

  it('an invalid storage or storageKey option is refused at construction', () => {
    for (const options of [{ storage: {} }, { storage: { getItem: async () => null } }, { storage: null }, { storageKey: '' }]) {
      expect(() => setup(new TestStorage(), options as Partial<NearbyClientOptions>)).toThrowError(
        expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
      );
    }
  });
});
