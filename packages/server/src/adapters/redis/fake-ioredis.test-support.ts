import { EventEmitter } from 'node:events';

/**
 * A stand-in for ioredis's `Redis` class, for unit tests that replace the `ioredis` module
 * (`vi.mock('ioredis', …)`): connections to addresses in {@link FakeRedis.down} never become
 * ready; the others do on `connect()`. Pub/Sub commands are recorded and published messages
 * are delivered to every fake subscriber of the same address.
 */
export class FakeRedis extends EventEmitter {
  /** `host:port` of the servers that do not answer. */
  static readonly down = new Set<string>();
  /** Every connection made, in order. */
  static readonly all: FakeRedis[] = [];

  readonly address: string;
  readonly options: { host: string; port: number };
  status = 'wait';
  /** Channels this connection is subscribed to. */
  readonly channels = new Set<string>();
  /** Messages published through this connection. */
  readonly published: Array<[string, string]> = [];

  constructor(url: string) {
    super();
    const { hostname, port } = new URL(url);
    this.options = { host: hostname, port: Number(port) };
    this.address = `${hostname}:${port}`;
    FakeRedis.all.push(this);
  }

  /** Connections to `address` that are not closed. */
  static open(address: string): FakeRedis[] {
    return FakeRedis.all.filter((redis) => redis.address === address && redis.status !== 'end');
  }

  static reset(): void {
    FakeRedis.down.clear();
    FakeRedis.all.length = 0;
  }

  async connect(): Promise<void> {
    if (FakeRedis.down.has(this.address)) {
      this.status = 'connecting';
      throw new Error(`connect ECONNREFUSED ${this.address}`);
    }
    this.status = 'ready';
    queueMicrotask(() => this.emit('ready'));
  }

  async subscribe(...channels: string[]): Promise<number> {
    for (const channel of channels) this.channels.add(channel);
    return this.channels.size;
  }

  async unsubscribe(...channels: string[]): Promise<number> {
    for (const channel of channels) this.channels.delete(channel);
    return this.channels.size;
  }

  async publish(channel: string, message: string): Promise<number> {
    this.published.push([channel, message]);
    const receivers = FakeRedis.open(this.address).filter((redis) => redis.channels.has(channel));
    for (const receiver of receivers) queueMicrotask(() => receiver.emit('message', channel, message));
    return receivers.length;
  }

  async quit(): Promise<'OK'> {
    this.disconnect();
    return 'OK';
  }

  disconnect(): void {
    if (this.status === 'end') return;
    this.status = 'end';
    this.emit('end');
  }
}
