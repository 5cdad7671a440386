import { describe, expect, it, vi } from 'vitest';
import type { PubSubMessageHandler, PubSubTransport } from '../adapters/types.js';
import { SubscriptionBatcher } from './subscriptions.js';

interface Call {
  op: 'subscribe' | 'unsubscribe';
  channels: string[];
  resolve: () => void;
  reject: (error: unknown) => void;
  settled: boolean;
}

/** A transport whose calls stay pending until the test answers them (or answers at once). */
class FakeTransport implements PubSubTransport {
  readonly calls: Call[] = [];
  autoResolve: boolean;

  constructor(autoResolve = false) {
    this.autoResolve = autoResolve;
  }

  #record(op: Call['op'], channels: readonly string[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const call: Call = {
        op,
        channels: [...channels],
        settled: false,
        resolve: () => {
          call.settled = true;
          resolve();
        },
        reject: (error) => {
          call.settled = true;
          reject(error);
        },
      };
      this.calls.push(call);
      if (this.autoResolve) call.resolve();
    });
  }

  publish(): Promise<void> {
    return Promise.resolve();
  }

  subscribe(channels: readonly string[]): Promise<void> {
    return this.#record('subscribe', channels);
  }

  unsubscribe(channels: readonly string[]): Promise<void> {
    return this.#record('unsubscribe', channels);
  }

  onMessage(_handler: PubSubMessageHandler): void {}

  log(): [string, string[]][] {
    return this.calls.map((call) => [call.op, call.channels]);
  }
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function track(promise: Promise<void>) {
  const state = { status: 'pending' as 'pending' | 'resolved' | 'rejected' };
  promise.then(
    () => {
      state.status = 'resolved';
    },
    () => {
      state.status = 'rejected';
    },
  );
  return state;
}

describe('SubscriptionBatcher', () => {
  it('turns the subscribe calls of one tick into one transport call with every channel', async () => {
    const transport = new FakeTransport(true);
    const onError = vi.fn();
    const batcher = new SubscriptionBatcher(transport, onError);
    batcher.subscribe('c1');
    batcher.subscribe('c2');
    batcher.subscribe('c3');
    batcher.subscribe('c2'); // asked twice, sent once
    expect(transport.calls).toHaveLength(0); // batched, not sent synchronously
    await batcher.settled();

    expect(transport.log()).toEqual([['subscribe', ['c1', 'c2', 'c3']]]);
    expect(onError).not.toHaveBeenCalled();
  });

  it('turns the unsubscribe calls of one tick into one transport call', async () => {
    const transport = new FakeTransport(true);
    const batcher = new SubscriptionBatcher(transport, vi.fn());
    batcher.unsubscribe('a');
    batcher.unsubscribe('b');
    await batcher.settled();
    expect(transport.log()).toEqual([['unsubscribe', ['a', 'b']]]);
  });

  it('cancels a subscribe and an unsubscribe of the same channel in one tick', async () => {
    const transport = new FakeTransport(true);
    const batcher = new SubscriptionBatcher(transport, vi.fn());
    batcher.subscribe('x');
    batcher.unsubscribe('x');
    await batcher.settled();
    await settle();
    expect(transport.calls).toHaveLength(0);

    batcher.unsubscribe('y');
    batcher.subscribe('y');
    batcher.subscribe('keep');
    batcher.unsubscribe('drop');
    await batcher.settled();
    expect(transport.log().sort()).toEqual([
      ['subscribe', ['keep']],
      ['unsubscribe', ['drop']],
    ]);
  });

  it('keeps order across batches: the next batch waits for the one in flight', async () => {
    const transport = new FakeTransport();
    const batcher = new SubscriptionBatcher(transport, vi.fn());
    batcher.subscribe('a');
    batcher.subscribe('b');
    await settle();
    expect(transport.log()).toEqual([['subscribe', ['a', 'b']]]);

    batcher.unsubscribe('a');
    batcher.subscribe('c');
    await settle();
    batcher.subscribe('d'); // a later tick, but still before the first batch answered
    await settle();
    expect(transport.calls).toHaveLength(1); // nothing overtakes the batch in flight

    transport.calls[0]!.resolve();
    await settle();
    expect(transport.log()).toEqual([
      ['subscribe', ['a', 'b']],
      ['unsubscribe', ['a']],
      ['subscribe', ['c', 'd']],
    ]);

    transport.calls[1]!.resolve();
    transport.calls[2]!.resolve();
    transport.autoResolve = true;
    batcher.subscribe('a');
    await batcher.settled();
    expect(transport.log().at(-1)).toEqual(['subscribe', ['a']]);
  });

  it('an unsubscribe after a subscribe that is already in flight is sent, not cancelled', async () => {
    const transport = new FakeTransport();
    const batcher = new SubscriptionBatcher(transport, vi.fn());
    batcher.subscribe('a');
    await settle();
    batcher.unsubscribe('a');
    transport.calls[0]!.resolve();
    await settle();
    expect(transport.log()).toEqual([
      ['subscribe', ['a']],
      ['unsubscribe', ['a']],
    ]);
    transport.calls[1]!.resolve();
    await batcher.settled();
  });

  it('settled() resolves only after the transport call resolved', async () => {
    const transport = new FakeTransport();
    const batcher = new SubscriptionBatcher(transport, vi.fn());
    const idle = track(batcher.settled());
    await settle();
    expect(idle.status).toBe('resolved'); // nothing asked: settled at once

    batcher.subscribe('a');
    const settled = track(batcher.settled());
    await settle();
    expect(transport.calls).toHaveLength(1);
    expect(settled.status).toBe('pending');

    transport.calls[0]!.resolve();
    await settle();
    expect(settled.status).toBe('resolved');
  });

  it('settled() waits for the unsubscribe and the subscribe of one batch', async () => {
    const transport = new FakeTransport();
    const batcher = new SubscriptionBatcher(transport, vi.fn());
    batcher.subscribe('a');
    batcher.unsubscribe('b');
    const settled = track(batcher.settled());
    await settle();
    expect(transport.calls).toHaveLength(2);
    transport.calls.find((call) => call.op === 'subscribe')!.resolve();
    await settle();
    expect(settled.status).toBe('pending');
    transport.calls.find((call) => call.op === 'unsubscribe')!.resolve();
    await settle();
    expect(settled.status).toBe('resolved');
  });

  it('reports a rejecting transport to onError; settled() still resolves and later batches proceed', async () => {
    const transport = new FakeTransport();
    const onError = vi.fn();
    const batcher = new SubscriptionBatcher(transport, onError);
    batcher.subscribe('a');
    const settled = track(batcher.settled());
    await settle();
    const failure = new Error('redis down');
    transport.calls[0]!.reject(failure);
    await settle();
    expect(settled.status).toBe('resolved');
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onError).toHaveBeenCalledWith(failure);

    batcher.subscribe('b');
    await settle();
    expect(transport.log()).toEqual([
      ['subscribe', ['a']],
      ['subscribe', ['b']],
    ]);
    transport.calls[1]!.resolve();
    await batcher.settled();
    expect(onError).toHaveBeenCalledTimes(1);
  });

  function throwingOnceTransport() {
    let throwNext = true;
    const sent: string[][] = [];
    const transport: PubSubTransport = {
      publish: () => Promise.resolve(),
      // A non-async implementation may throw instead of returning a rejected promise.
      subscribe: (channels) => {
        if (throwNext) {
          throwNext = false;
          throw new Error('not connected');
        }
        sent.push([...channels]);
        return Promise.resolve();
      },
      unsubscribe: () => Promise.resolve(),
      onMessage: () => {},
    };
    return { transport, sent };
  }

  it('a transport that throws synchronously is reported to onError and settled() does not reject', async () => {
    const { transport } = throwingOnceTransport();
    const onError = vi.fn();
    const batcher = new SubscriptionBatcher(transport, onError);
    batcher.subscribe('a');
    const first = track(batcher.settled());
    await settle();
    expect(first.status).toBe('resolved'); // documented: settled() never rejects
    expect(onError).toHaveBeenCalledTimes(1);
  });

  it('a transport that threw synchronously once still receives later batches', async () => {
    const { transport, sent } = throwingOnceTransport();
    const batcher = new SubscriptionBatcher(transport, () => {});
    batcher.subscribe('a');
    batcher.settled().catch(() => {});
    await settle();
    batcher.subscribe('b');
    batcher.settled().catch(() => {});
    await settle();
    expect(sent).toEqual([['b']]);
  });
});
