import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { manualTimers } from '../../manual-timers.test-support.js';
import { EtcdDiscovery, watchBackoff } from './discovery.js';

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** The calls EtcdDiscovery makes on an etcd3 client; each step answers once its gate opens. */
function fakeEtcd(nodes: Record<string, string>) {
  const gates = { read: true, watch: true };
  const pending = <T>(open: () => boolean, value: () => T): Promise<T> =>
    new Promise((resolve) => {
      const poll = () => (open() ? resolve(value()) : setImmediate(poll));
      poll();
    });
  const watcher = Object.assign(new EventEmitter(), { cancel: async () => {} });
  const client = {
    getAll: () => ({
      prefix: (prefix: string) => ({
        exec: () =>
          pending(
            () => gates.read,
            () => ({
              header: { revision: '7' },
              kvs: Object.entries(nodes).map(([id, url]) => ({ key: Buffer.from(prefix + id), value: Buffer.from(url) })),
            }),
          ),
      }),
    }),
    watch: () => ({
      prefix: () => ({ startRevision: () => ({ create: () => pending(() => gates.watch, () => watcher) }) }),
    }),
  };
  return { client: client as unknown as Etcd3, gates, watcher };
}

describe('EtcdDiscovery on injected timers', () => {
  it('gives up the first read after connectTimeoutMs on the injected timers, naming the step', async () => {
    const timers = manualTimers();
    const { client, gates } = fakeEtcd({ 'pubsub-1': 'redis://10.0.0.1:6379' });
    gates.read = false;
    const discovery = new EtcdDiscovery({ client, connectTimeoutMs: 3_000, timers });
    let outcome: unknown;
    discovery.connect().catch((error: unknown) => (outcome = error));
    timers.advance(2_999);
    await settle();
    expect(outcome).toBeUndefined();
    timers.advance(1);
    await settle();
    expect(outcome).toMatchObject({ code: 'adapter_unavailable', message: expect.stringMatching(/could not read the node list .*no answer within 3000 ms/) });
    await discovery.close();
  });

  it('gives the watch its own deadline, and clears it once the watch is created', async () => {
    const timers = manualTimers();
    const { client, gates } = fakeEtcd({ 'pubsub-1': 'redis://10.0.0.1:6379' });
    gates.watch = false;
    const discovery = new EtcdDiscovery({ client, connectTimeoutMs: 3_000, timers });
    const connected = discovery.connect();
    await settle();
    timers.advance(2_000); // the read answered at once; the watch's deadline started after it
    gates.watch = true;
    await connected;
    expect(timers.active).toBe(0);
    expect(await discovery.getNodes()).toEqual([{ id: 'pubsub-1', url: 'redis://10.0.0.1:6379' }]);
    await discovery.close();
  });
});

describe('watchBackoff', () => {
  it('doubles from 100 ms up to the cap, without jitter', () => {
    const delays: number[] = [];
    let backoff = watchBackoff(2_000);
    for (let i = 0; i < 8; i++) {
      delays.push(backoff.duration);
      backoff = backoff.next(undefined);
    }
    expect(delays).toEqual([100, 200, 400, 800, 1_600, 2_000, 2_000, 2_000]);
    expect(watchBackoff(50).duration).toBe(50);
  });
});
