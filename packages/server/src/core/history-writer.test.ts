import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, NearbyError, isNearbyError } from '@nearby/protocol';
import type { HistoryQuery, HistorySample, HistoryStore } from '../adapters/types.js';
import { HistoryWriter } from './history-writer.js';
import { manualTimers } from '../manual-timers.test-support.js';

interface AppendCall {
  samples: HistorySample[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** A store whose appends stay pending until the test settles them. */
class ControlledStore implements HistoryStore {
  readonly calls: AppendCall[] = [];

  append(samples: readonly HistorySample[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.calls.push({ samples: [...samples], resolve, reject });
    });
  }

  // eslint-disable-next-line require-yield
  async *query(_query: HistoryQuery): AsyncIterable<HistorySample> {
    return;
  }

  async prune(): Promise<number> {
    return 0;
  }

  sizes(): number[] {
    return this.calls.map((call) => call.samples.length);
  }
}

let nextRecordedAt = 1;
function samples(count: number, userId = 'u1'): HistorySample[] {
  return Array.from({ length: count }, () => {
    const recordedAt = nextRecordedAt++;
    return { userId, lat: 1, lon: 2, recordedAt, receivedAt: recordedAt + 1 };
  });
}

/** Lets every pending microtask (and promise chain) run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Tracks how a promise settled without leaving a rejection unhandled. */
function track(promise: Promise<void>) {
  const state: { status: 'pending' | 'resolved' | 'rejected'; error: unknown } = { status: 'pending', error: undefined };
  promise.then(
    () => {
      state.status = 'resolved';
    },
    (error: unknown) => {
      state.status = 'rejected';
      state.error = error;
    },
  );
  return state;
}

function expectUnavailable(error: unknown): void {
  expect(isNearbyError(error)).toBe(true);
  expect(error).toBeInstanceOf(NearbyError);
  expect((error as NearbyError).code).toBe(ErrorCode.HISTORY_UNAVAILABLE);
  expect((error as NearbyError).code).toBe('history_unavailable');
}

afterEach(() => {
  vi.useRealTimers();
});

describe('HistoryWriter group commit', () => {
  it('writes requests made in the same tick in one append, in order', async () => {
    const store = new ControlledStore();
    const writer = new HistoryWriter(store, { timers: manualTimers() });
    const a = samples(2);
    const b = samples(3, 'u2');
    const c = samples(1);
    const results = [track(writer.write(a)), track(writer.write(b)), track(writer.write(c))];
    expect(store.calls).toHaveLength(0); // not synchronously
    await settle();

    expect(store.calls).toHaveLength(1);
    expect(store.calls[0]!.samples).toEqual([...a, ...b, ...c]);
    expect(writer.batches).toBe(1);
    expect(writer.pending).toBe(6);
    expect(results.every((r) => r.status === 'pending')).toBe(true);

    store.calls[0]!.resolve();
    await settle();
    expect(results.map((r) => r.status)).toEqual(['resolved', 'resolved', 'resolved']);
    expect(writer.pending).toBe(0);
  });

  it('merges requests arriving while a batch is in flight into the next append', async () => {
    const store = new ControlledStore();
    const writer = new HistoryWriter(store, { timers: manualTimers() });
    const first = track(writer.write(samples(2)));
    await settle();
    expect(store.sizes()).toEqual([2]);

    const later = [samples(1), samples(4), samples(3)];
    const laterResults: ReturnType<typeof track>[] = [];
    for (const batch of later) {
      laterResults.push(track(writer.write(batch)));
      await settle(); // separate ticks: still one batch in flight at a time
    }
    expect(store.sizes()).toEqual([2]);
    expect(writer.pending).toBe(10);

    store.calls[0]!.resolve();
    await settle();
    expect(first.status).toBe('resolved');
    expect(laterResults.every((r) => r.status === 'pending')).toBe(true);
    expect(store.sizes()).toEqual([2, 8]);
    expect(store.calls[1]!.samples).toEqual(later.flat());

    store.calls[1]!.resolve();
    await settle();
    expect(laterResults.every((r) => r.status === 'resolved')).toBe(true);
    expect(writer.batches).toBe(2);
    expect(writer.pending).toBe(0);
  });

  it('respects maxBatchSamples without splitting one request', async () => {
    const store = new ControlledStore();
    const writer = new HistoryWriter(store, { maxBatchSamples: 5, timers: manualTimers() });
    const requests = [samples(3), samples(3), samples(2), samples(7), samples(1)];
    const results = requests.map((request) => track(writer.write(request)));
    await settle();

    const sizes: number[] = [];
    while (store.calls.length > sizes.length) {
      const call = store.calls[sizes.length]!;
      sizes.push(call.samples.length);
      call.resolve();
      await settle();
    }
    // [3] | [3, 2] | [7] (larger than the limit, but never split) | [1]
    expect(sizes).toEqual([3, 5, 7, 1]);
    expect(store.calls.map((call) => call.samples)).toEqual([
      requests[0],
      [...requests[1]!, ...requests[2]!],
      requests[3],
      requests[4],
    ]);
    expect(results.every((r) => r.status === 'resolved')).toBe(true);
    expect(writer.batches).toBe(4);
  });

  it('a resolving store acknowledges only after its append resolved', async () => {
    const store = new ControlledStore();
    const writer = new HistoryWriter(store, { timers: manualTimers() });
    const result = track(writer.write(samples(1)));
    await settle();
    await settle();
    expect(result.status).toBe('pending');
    store.calls[0]!.resolve();
    await settle();
    expect(result.status).toBe('resolved');
  });
});

describe('HistoryWriter failures', () => {
  it('rejects at once with history_unavailable when the backlog bound would be exceeded', async () => {
    const store = new ControlledStore();
    const writer = new HistoryWriter(store, { maxPendingSamples: 10, timers: manualTimers() });
    const inFlight = track(writer.write(samples(6)));
    await settle();
    expect(store.calls).toHaveLength(1);
    const queued = track(writer.write(samples(4))); // exactly at the bound: accepted
    expect(writer.pending).toBe(10);

    const refused = writer.write(samples(1));
    const refusedState = track(refused);
    await Promise.resolve();
    await Promise.resolve();
    expect(refusedState.status).toBe('rejected'); // without waiting for the store
    expectUnavailable(refusedState.error);
    expect(writer.pending).toBe(10);

    // A single request larger than the whole bound is refused as well.
    const tooBig = track(writer.write(samples(11)));
    await settle();
    expect(tooBig.status).toBe('rejected');
    expectUnavailable(tooBig.error);

    store.calls[0]!.resolve();
    await settle();
    expect(inFlight.status).toBe('resolved');
    expect(store.sizes()).toEqual([6, 4]); // the refused samples never reached the store
    store.calls[1]!.resolve();
    await settle();
    expect(queued.status).toBe('resolved');

    // Room again once the backlog drained.
    const again = track(writer.write(samples(10)));
    await settle();
    store.calls[2]!.resolve();
    await settle();
    expect(again.status).toBe('resolved');
  });

  it('rejects every waiter of a failed batch with history_unavailable; later batches still proceed', async () => {
    const store = new ControlledStore();
    const writer = new HistoryWriter(store, { timers: manualTimers() });
    const a = track(writer.write(samples(2)));
    const b = track(writer.write(samples(3)));
    await settle();
    const c = track(writer.write(samples(1)));
    await settle();
    expect(store.sizes()).toEqual([5]);

    const cause = new Error('connection refused');
    store.calls[0]!.reject(cause);
    await settle();
    expect(a.status).toBe('rejected');
    expect(b.status).toBe('rejected');
    expectUnavailable(a.error);
    expectUnavailable(b.error);
    expect((a.error as Error).cause).toBe(cause);
    expect(c.status).toBe('pending');
    expect(writer.pending).toBe(1);

    expect(store.sizes()).toEqual([5, 1]);
    store.calls[1]!.resolve();
    await settle();
    expect(c.status).toBe('resolved');
    expect(writer.pending).toBe(0);
  });

  it('treats a store that throws synchronously as unavailable', async () => {
    let calls = 0;
    const store: HistoryStore = {
      append: () => {
        calls++;
        if (calls === 1) throw new Error('boom');
        return Promise.resolve();
      },
      query: async function* () {},
      prune: async () => 0,
    };
    const writer = new HistoryWriter(store, { timers: manualTimers() });
    const first = track(writer.write(samples(1)));
    await settle();
    expect(first.status).toBe('rejected');
    expectUnavailable(first.error);
    const second = track(writer.write(samples(1)));
    await settle();
    expect(second.status).toBe('resolved');
  });

  it('times out a hanging store (injected timers) and moves on to the next batch', async () => {
    const timers = manualTimers();
    const store = new ControlledStore();
    const writer = new HistoryWriter(store, { timeoutMs: 1000, timers });
    const hanging = track(writer.write(samples(2)));
    await settle();
    const next = track(writer.write(samples(3)));
    await settle();
    expect(timers.active).toBe(1);

    timers.advance(999);
    await settle();
    expect(hanging.status).toBe('pending');
    expect(store.sizes()).toEqual([2]);

    timers.advance(1);
    await settle();
    expect(hanging.status).toBe('rejected');
    expectUnavailable(hanging.error);
    expect(store.sizes()).toEqual([2, 3]);
    expect(next.status).toBe('pending');

    store.calls[1]!.resolve();
    await settle();
    expect(next.status).toBe('resolved');
    expect(timers.active).toBe(0); // the timer of a settled batch is cleared

    // The hanging append answering late changes nothing.
    store.calls[0]!.resolve();
    await settle();
    expect(hanging.status).toBe('rejected');
  });

  it('times out with the default 10 s on the global timers (vi fake timers)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const store = new ControlledStore();
    const writer = new HistoryWriter(store);
    const hanging = track(writer.write(samples(1)));
    await settle();
    expect(store.calls).toHaveLength(1);

    await vi.advanceTimersByTimeAsync(9_999);
    expect(hanging.status).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(hanging.status).toBe('rejected');
    expectUnavailable(hanging.error);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('HistoryWriter.flush', () => {
  it('resolves at once when nothing is pending', async () => {
    const writer = new HistoryWriter(new ControlledStore(), { timers: manualTimers() });
    const flushed = track(writer.flush());
    await settle();
    expect(flushed.status).toBe('resolved');
  });

  it('waits for every batch, including ones queued behind the one in flight', async () => {
    const store = new ControlledStore();
    const writer = new HistoryWriter(store, { timers: manualTimers() });
    const a = track(writer.write(samples(1)));
    await settle();
    const b = track(writer.write(samples(2)));
    const flushed = track(writer.flush());
    await settle();
    expect(flushed.status).toBe('pending');

    store.calls[0]!.reject(new Error('down'));
    await settle();
    expect(a.status).toBe('rejected');
    expect(flushed.status).toBe('pending');

    store.calls[1]!.resolve();
    await settle();
    expect(b.status).toBe('resolved');
    expect(flushed.status).toBe('resolved');
    expect(writer.pending).toBe(0);
  });

  it('waits for a write made after flush() was called', async () => {
    const store = new ControlledStore();
    const writer = new HistoryWriter(store, { timers: manualTimers() });
    const a = track(writer.write(samples(1)));
    const flushed = track(writer.flush());
    await settle();
    const late = track(writer.write(samples(2)));
    await settle();
    store.calls[0]!.resolve();
    await settle();
    expect(a.status).toBe('resolved');
    expect(store.sizes()).toEqual([1, 2]);
    expect(flushed.status).toBe('pending');
    store.calls[1]!.resolve();
    await settle();
    expect(late.status).toBe('resolved');
    expect(flushed.status).toBe('resolved');
  });
});
