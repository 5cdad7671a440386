import type { PubSubTransport } from '../adapters/types.js';

/**
 * Batches channel subscribe/unsubscribe requests made in the same tick into one call each on
 * the transport (many channels per SUBSCRIBE). A channel subscribed and unsubscribed within
 * one tick cancels out. Reference counting is the caller's job: it asks only when a channel's
 * first follower arrives or its last one leaves.
 */
export class SubscriptionBatcher {
  readonly #transport: PubSubTransport;
  readonly #onError: (error: unknown) => void;
  readonly #toSubscribe = new Set<string>();
  readonly #toUnsubscribe = new Set<string>();
  /** Tail of the chain of batches; batches run one after another so their order is kept. */
  #tail: Promise<void> = Promise.resolve();
  #armed = false;

  constructor(transport: PubSubTransport, onError: (error: unknown) => void) {
    this.#transport = transport;
    this.#onError = onError;
  }

  subscribe(channel: string): void {
    if (!this.#toUnsubscribe.delete(channel)) this.#toSubscribe.add(channel);
    this.#arm();
  }

  unsubscribe(channel: string): void {
    if (!this.#toSubscribe.delete(channel)) this.#toUnsubscribe.add(channel);
    this.#arm();
  }

  /**
   * Resolves once every request made so far has been sent and answered. Never rejects: a
   * transport failure goes to `onError`, and transports resubscribe by themselves on recovery.
   */
  settled(): Promise<void> {
    return this.#tail;
  }

  #arm(): void {
    if (this.#armed) return;
    this.#armed = true;
    this.#tail = this.#tail.then(() => this.#flush());
  }

  async #flush(): Promise<void> {
    this.#armed = false;
    const unsubscribe = [...this.#toUnsubscribe];
    const subscribe = [...this.#toSubscribe];
    this.#toUnsubscribe.clear();
    this.#toSubscribe.clear();
    // Each call is wrapped so a transport that throws synchronously is handled like one that rejects.
    const calls: Promise<void>[] = [];
    if (unsubscribe.length > 0) calls.push(Promise.resolve().then(() => this.#transport.unsubscribe(unsubscribe)));
    if (subscribe.length > 0) calls.push(Promise.resolve().then(() => this.#transport.subscribe(subscribe)));
    const results = await Promise.allSettled(calls);
    for (const result of results) if (result.status === 'rejected') this.#onError(result.reason);
  }
}
