import { describe, expect, it } from 'vitest';
import { MemoryPubSub, MemoryPubSubHub } from './pubsub.js';

type Received = [channel: string, message: string][];

function transport(hub: MemoryPubSubHub) {
  const pubsub = new MemoryPubSub({ hub });
  const received: Received = [];
  pubsub.onMessage((channel, message) => received.push([channel, message]));
  return { pubsub, received };
}

/** Runs every queued microtask. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('MemoryPubSub', () => {
  it('delivers only to the transports subscribed to the channel', async () => {
    const hub = new MemoryPubSubHub();
    const a = transport(hub);
    const b = transport(hub);
    await a.pubsub.subscribe(['c1']);
    await b.pubsub.subscribe(['c2']);

    await b.pubsub.publish('c1', 'to-a');
    await a.pubsub.publish('c2', 'to-b');
    await a.pubsub.publish('c3', 'to-nobody');
    await settle();

    expect(a.received).toEqual([['c1', 'to-a']]);
    expect(b.received).toEqual([['c2', 'to-b']]);
  });

  it('delivers to every subscriber of a channel, the publisher included, in publish order', async () => {
    const hub = new MemoryPubSubHub();
    const a = transport(hub);
    const b = transport(hub);
    await a.pubsub.subscribe(['c']);
    await b.pubsub.subscribe(['c']);
    await a.pubsub.publish('c', 'm1');
    await b.pubsub.publish('c', 'm2');
    await settle();
    expect(a.received).toEqual([
      ['c', 'm1'],
      ['c', 'm2'],
    ]);
    expect(b.received).toEqual(a.received);
  });

  it('delivers asynchronously, never inside publish', async () => {
    const hub = new MemoryPubSubHub();
    const a = transport(hub);
    await a.pubsub.subscribe(['c']);
    let insidePublish = false;
    let deliveredInside = false;
    a.pubsub.onMessage(() => {
      if (insidePublish) deliveredInside = true;
      a.received.push(['c', 'x']);
    });
    insidePublish = true;
    const published = a.pubsub.publish('c', 'x');
    insidePublish = false;
    expect(a.received).toHaveLength(0);
    await published;
    await settle();
    expect(deliveredInside).toBe(false);
    expect(a.received).toHaveLength(1);
  });

  it('a transport on another hub (or the private default hub) hears nothing', async () => {
    const a = new MemoryPubSub();
    const b = new MemoryPubSub();
    expect(a.hub).not.toBe(b.hub);
    const received: string[] = [];
    b.onMessage((_, message) => received.push(message));
    await b.subscribe(['c']);
    await a.publish('c', 'x');
    await settle();
    expect(received).toEqual([]);
  });

  it('subscribing twice delivers each message once', async () => {
    const hub = new MemoryPubSubHub();
    const a = transport(hub);
    await a.pubsub.subscribe(['c', 'c']);
    await a.pubsub.subscribe(['c']);
    await a.pubsub.publish('c', 'x');
    await settle();
    expect(a.received).toEqual([['c', 'x']]);
    expect(hub.channelCount).toBe(1);
  });

  it('unsubscribe stops delivery of that channel only', async () => {
    const hub = new MemoryPubSubHub();
    const a = transport(hub);
    const b = transport(hub);
    await a.pubsub.subscribe(['c1', 'c2']);
    await a.pubsub.unsubscribe(['c1', 'never-subscribed']);
    expect(a.pubsub.isSubscribed('c1')).toBe(false);
    expect(a.pubsub.isSubscribed('c2')).toBe(true);
    await b.pubsub.publish('c1', 'x');
    await b.pubsub.publish('c2', 'y');
    await settle();
    expect(a.received).toEqual([['c2', 'y']]);
    expect(hub.channelCount).toBe(1);

    await a.pubsub.subscribe(['c1']); // and it can come back
    await b.pubsub.publish('c1', 'z');
    await settle();
    expect(a.received).toEqual([
      ['c2', 'y'],
      ['c1', 'z'],
    ]);
  });

  it('close stops delivery, including of messages already published but not yet delivered', async () => {
    const hub = new MemoryPubSubHub();
    const a = transport(hub);
    const b = transport(hub);
    await a.pubsub.subscribe(['c']);
    await b.pubsub.subscribe(['c']);
    void b.pubsub.publish('c', 'in-flight');
    await a.pubsub.close();
    await b.pubsub.publish('c', 'after');
    await settle();
    expect(a.received).toEqual([]);
    expect(b.received).toEqual([
      ['c', 'in-flight'],
      ['c', 'after'],
    ]);
    expect(a.pubsub.isSubscribed('c')).toBe(false);
    expect(hub.channelCount).toBe(1);
  });

  it('a closed transport neither publishes nor subscribes', async () => {
    const hub = new MemoryPubSubHub();
    const a = transport(hub);
    const b = transport(hub);
    await b.pubsub.subscribe(['c']);
    await a.pubsub.close();
    await a.pubsub.publish('c', 'x');
    await a.pubsub.subscribe(['c']);
    await settle();
    expect(b.received).toEqual([]);
    expect(a.pubsub.isSubscribed('c')).toBe(false);
    expect(a.pubsub.stats.published).toBe(0);
    expect(a.pubsub.stats.subscribeCalls).toBe(0);
  });

  it('counts published, received, subscribe and unsubscribe calls and channels', async () => {
    const hub = new MemoryPubSubHub();
    const a = transport(hub);
    const b = transport(hub);
    expect(a.pubsub.stats).toEqual({ published: 0, received: 0, subscribeCalls: 0, unsubscribeCalls: 0, channels: 0 });

    await a.pubsub.subscribe(['c1', 'c2', 'c3']);
    await a.pubsub.subscribe(['c4']);
    await a.pubsub.unsubscribe(['c3']);
    await b.pubsub.publish('c1', '1');
    await b.pubsub.publish('c2', '2');
    await b.pubsub.publish('c3', 'unsubscribed');
    await b.pubsub.publish('nobody', 'x');
    await settle();

    expect(a.pubsub.stats).toEqual({ published: 0, received: 2, subscribeCalls: 2, unsubscribeCalls: 1, channels: 3 });
    expect(b.pubsub.stats).toEqual({ published: 4, received: 0, subscribeCalls: 0, unsubscribeCalls: 0, channels: 0 });
    expect(hub.channelCount).toBe(3);

    // stats is a snapshot, not a live handle into the transport
    const stats = a.pubsub.stats as { received: number };
    stats.received = 1000;
    expect(a.pubsub.stats.received).toBe(2);
  });
});
