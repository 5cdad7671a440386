import { describe, expect, it, type TestContext } from 'vitest';
import type { PubSubTransport } from '../adapters/types.js';

/** Transports under test: each call of `peer` is one more process on the same bus. */
export interface PubSubUnderTest {
  /** A new transport on the bus, connected (its `connect()` resolved), its handler not yet set. */
  peer(): Promise<PubSubTransport>;
  /**
   * Restarts the backend (an outage); required when the contract runs with `{ restarts: true }`,
   * which checks that every channel is subscribed again without the caller asking.
   */
  restart?(): Promise<void>;
}

export interface PubSubContractOptions {
  /** The backend can be restarted (`restart`): check resubscription after an outage. Default false. */
  restarts?: boolean;
}

/** How long a message may take to arrive before the contract gives up waiting. */
const ARRIVAL_MS = 5_000;

/** Receives every message of a transport, and waits for some to arrive. */
class Inbox {
  readonly messages: Array<{ channel: string; message: string }> = [];
  #wake: (() => void) | undefined;

  constructor(transport: PubSubTransport) {
    transport.onMessage((channel, message) => {
      this.messages.push({ channel, message });
      this.#wake?.();
    });
  }

  async until(check: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + ARRIVAL_MS;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}; received ${JSON.stringify(this.messages.slice(-5))}`);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 20);
      });
    }
  }

  on(channel: string): string[] {
    return this.messages.filter((m) => m.channel === channel).map((m) => m.message);
  }
}

/**
 * What every {@link PubSubTransport} must do. `make` returns a bus for each test (fresh, or
 * channels of its own); it receives the test context, so it may `ctx.skip()` when its backend
 * is not available. The contract publishes a marker after what it checks did NOT arrive, and
 * waits for the marker: a message on one channel from one publisher arrives in order.
 */
export function describePubSubContract(
  label: string,
  make: (ctx: TestContext) => Promise<PubSubUnderTest>,
  options: PubSubContractOptions = {},
): void {
  describe(`PubSubTransport contract: ${label}`, () => {
    it('delivers a message to every process subscribed to its channel, once, exactly as published, in order', async (ctx) => {
      const bus = await make(ctx);
      const [a, b, c] = [await bus.peer(), await bus.peer(), await bus.peer()];
      const inboxB = new Inbox(b);
      const inboxC = new Inbox(c);
      new Inbox(a);
      await b.subscribe(['contract:x']);
      await c.subscribe(['contract:x', 'contract:x']);
      const texts = ['{"k":"loc","u":"ünïcødé 🚀"}', 'x'.repeat(10_000), ...Array.from({ length: 20 }, (_, i) => `m${i}`)];
      for (const text of texts) await a.publish('contract:x', text);
      await inboxB.until(() => inboxB.on('contract:x').length >= texts.length, 'b received everything');
      await inboxC.until(() => inboxC.on('contract:x').length >= texts.length, 'c received everything');
      await a.publish('contract:x', 'marker');
      await inboxC.until(() => inboxC.on('contract:x').includes('marker'), 'the marker arrived');
      expect(inboxB.on('contract:x').slice(0, texts.length)).toEqual(texts);
      expect(inboxC.on('contract:x')).toEqual([...texts, 'marker']);
    });

    it('subscribes many channels in one call, delivers only subscribed channels, and stops after unsubscribe', async (ctx) => {
      const bus = await make(ctx);
      const [publisher, subscriber] = [await bus.peer(), await bus.peer()];
      new Inbox(publisher);
      const inbox = new Inbox(subscriber);
      const channels = Array.from({ length: 2500 }, (_, i) => `contract:many:${i}`);
      await subscriber.subscribe(channels);
      await Promise.all(channels.map((channel) => publisher.publish(channel, channel)));
      await publisher.publish('contract:other', 'not subscribed');
      await inbox.until(() => inbox.messages.length >= channels.length, 'every channel delivered');
      expect(new Set(inbox.messages.map((m) => m.channel))).toEqual(new Set(channels));
      expect(inbox.messages.every((m) => m.message === m.channel)).toBe(true);

      await subscriber.unsubscribe(channels.slice(0, 2000));
      for (const channel of channels.slice(0, 2000)) await publisher.publish(channel, 'after unsubscribe');
      await publisher.publish(channels[2499]!, 'marker');
      await inbox.until(() => inbox.on(channels[2499]!).includes('marker'), 'the marker arrived');
      expect(inbox.messages.filter((m) => m.message === 'after unsubscribe')).toEqual([]);
    });

    if (options.restarts !== true) return;
    it('subscribes every channel again by itself after the backend restarts', async (ctx) => {
      const bus = await make(ctx);
      if (bus.restart === undefined) throw new Error('the contract runs with { restarts: true } but the bus has no restart()');
      const [publisher, subscriber] = [await bus.peer(), await bus.peer()];
      new Inbox(publisher);
      const inbox = new Inbox(subscriber);
      await subscriber.subscribe(['contract:kept:1', 'contract:kept:2']);
      await bus.restart();
      // Publishes made before the transports reconnect are lost (at most once); keep trying.
      const deadline = Date.now() + 15_000;
      while (!(inbox.on('contract:kept:1').length > 0 && inbox.on('contract:kept:2').length > 0)) {
        if (Date.now() > deadline) throw new Error('the channels were not subscribed again after the restart');
        await publisher.publish('contract:kept:1', 'again').catch(() => undefined);
        await publisher.publish('contract:kept:2', 'again').catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }, 30_000);
  });
}
