import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { manualTimers, type ManualTimers } from '../../../manual-timers.test-support.js';
import { FakeClusterNet, fakeNet } from './fake-cluster.test-support.js';
import { keySlot } from './key-slot.js';
import { RedisClusterPubSub } from './pubsub.js';

vi.mock('ioredis', async () => {
  const fakes = await import('./fake-cluster.test-support.js');
  return { Cluster: fakes.FakeCluster, Redis: fakes.FakeNodeConnection };
});

const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
};
const [A, B, C] = ['127.0.0.1:7000', '127.0.0.1:7001', '127.0.0.1:7002'] as const;
const channels = Array.from({ length: 60 }, (_, i) => `nearby:u:user-${i}`);

let net: FakeClusterNet;
let timers: ManualTimers;
let pubsub: RedisClusterPubSub;

beforeEach(async () => {
  net = fakeNet.current = new FakeClusterNet([A, B, C]);
  timers = manualTimers(1_000_000);
  pubsub = new RedisClusterPubSub({ nodes: [`redis://${A}`], timers });
  await pubsub.connect();
  await pubsub.subscribe(channels);
});

afterEach(async () => {
  await pubsub.close();
});

const onMaster = (master: string) => channels.filter((channel) => net.owners[keySlot(channel)] === master);

describe('RedisClusterPubSub on injected timers', () => {
  it('subscribes every channel on its slot owner, one connection per master', () => {
    for (const master of [A, B, C]) expect([...net.subscribedOn(master)].sort()).toEqual(onMaster(master).sort());
    expect(pubsub.stats).toMatchObject({ channels: channels.length, pending: 0, nodes: 3, resubscribed: 0 });
  });

  it("retries a lost master's channels 50 ms after the loss, then with backoff, and places them when it is back", async () => {
    const cluster = net.cluster!;
    const lost = onMaster(B);
    net.connection(B).drop();
    expect(pubsub.stats.pending).toBe(lost.length);
    await pubsub.publish(lost[0]!, 'while down');
    expect(pubsub.stats.dropped).toBe(1); // its master is known to be down
    const refreshes = cluster.refreshes;
    timers.advance(49);
    await settle();
    expect(cluster.refreshes).toBe(refreshes);
    timers.advance(1);
    await settle();
    expect(cluster.refreshes).toBe(refreshes + 1); // the pass reloads the slot map, and fails
    timers.advance(99);
    await settle();
    expect(cluster.refreshes).toBe(refreshes + 1);
    timers.advance(1);
    await settle();
    expect(cluster.refreshes).toBe(refreshes + 2); // 100 ms later
    net.connection(B).back();
    timers.advance(0);
    await settle();
    expect([...net.subscribedOn(B)].sort()).toEqual(lost.sort());
    expect(pubsub.stats).toMatchObject({ pending: 0, resubscribed: lost.length });
  });

  it("follows a slot move 10 ms after the old owner's unsubscribe push", async () => {
    const channel = onMaster(A)[0]!;
    net.owners[keySlot(channel)] = C;
    net.connection(A).channels.delete(channel);
    net.connection(A).emit('moved');
    timers.advance(9);
    await settle();
    expect(net.subscribedOn(C).has(channel)).toBe(false);
    timers.advance(1);
    await settle();
    expect(net.subscribedOn(C).has(channel)).toBe(true);
    expect(pubsub.nodeFor(channel)).toBe(C);
    expect(pubsub.stats).toMatchObject({ pending: 0, resubscribed: 1, slotMapChanges: 1 });
  });

  it('repairs a subscription a node dropped silently at the periodic count check', async () => {
    // Not the first channel placed there: that one is the probe of the count, which subscribes it again itself.
    const channel = onMaster(C)[1]!;
    net.connection(C).channels.delete(channel);
    timers.advance(4_999);
    await settle();
    expect(net.subscribedOn(C).has(channel)).toBe(false);
    timers.advance(1);
    await settle();
    expect(net.subscribedOn(C).has(channel)).toBe(true);
    expect(pubsub.stats.resubscribed).toBe(1);
    timers.advance(5_000); // and again every verifyIntervalMs
    await settle();
    expect(net.cluster!.refreshes).toBe(2);
  });

  it('drops publishes for 1 s on the injected clock after the cluster answered CLUSTERDOWN', async () => {
    const cluster = net.cluster!;
    cluster.publishError = new Error('CLUSTERDOWN The cluster is down');
    await expect(pubsub.publish(channels[0]!, 'refused')).rejects.toThrow('CLUSTERDOWN');
    cluster.publishError = undefined;
    timers.advance(999);
    await pubsub.publish(channels[0]!, 'held');
    expect(cluster.published).toEqual([]);
    timers.advance(1);
    await pubsub.publish(channels[0]!, 'through');
    expect(cluster.published).toEqual([[channels[0], 'through']]);
    expect(pubsub.stats).toMatchObject({ published: 1, dropped: 2 });
  });

  it('stops every timer on close', async () => {
    await pubsub.close();
    expect(timers.active).toBe(0);
  });

  it('gives up connect() after connectTimeoutMs on the injected timers when the cluster does not answer', async () => {
    net = fakeNet.current = new FakeClusterNet([A]);
    net.clusterDown = true;
    const unreachable = new RedisClusterPubSub({ nodes: [`redis://${A}`], connectTimeoutMs: 2_000, timers });
    let outcome: unknown;
    unreachable.connect().catch((error: unknown) => (outcome = error));
    timers.advance(1_999);
    await settle();
    expect(outcome).toBeUndefined();
    timers.advance(1);
    await settle();
    expect(outcome).toMatchObject({ code: 'adapter_unavailable', message: expect.stringContaining('not ready after 2000 ms') });
    await unreachable.close();
  });
});
