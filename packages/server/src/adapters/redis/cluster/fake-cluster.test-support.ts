import { EventEmitter } from 'node:events';
import { SLOTS, keySlot } from './key-slot.js';

/**
 * Stand-ins for ioredis's `Cluster` and `Redis`, for unit tests of the Redis Cluster transport
 * that replace the `ioredis` module (`vi.mock('ioredis', …)`). One {@link FakeClusterNet} plays
 * the cluster: the slot map, which masters are down, and every connection. Subscriber
 * connections refuse channels of slots their master does not serve with MOVED, as a node does.
 */
export class FakeClusterNet {
  /** Master (`host:port`) of each slot, as the nodes see it. */
  owners: string[];
  /** The cluster client does not become ready while set. */
  clusterDown = false;
  /** Subscriber connections ever made. */
  readonly connections: FakeNodeConnection[] = [];
  cluster: FakeCluster | undefined;

  constructor(readonly masters: readonly string[]) {
    this.owners = Array.from({ length: SLOTS }, (_, slot) => masters[Math.floor((slot * masters.length) / SLOTS)]!);
  }

  /** The open subscriber connection of `master`. */
  connection(master: string): FakeNodeConnection {
    return this.connections.filter((connection) => connection.key === master && connection.status !== 'end').at(-1)!;
  }

  /** Channels subscribed on `master`, over its open connections. */
  subscribedOn(master: string): Set<string> {
    return new Set(this.connections.filter((c) => c.key === master && c.status !== 'end').flatMap((c) => [...c.channels]));
  }
}

/** The net the fakes created next belong to. */
export const fakeNet: { current: FakeClusterNet } = { current: new FakeClusterNet(['127.0.0.1:7000']) };

/** Stand-in for ioredis's `Cluster`. */
export class FakeCluster extends EventEmitter {
  readonly net = fakeNet.current;
  status = 'wait';
  slots: string[][] = [];
  /** SPUBLISH fails with this while set. */
  publishError: Error | undefined;
  readonly published: Array<[string, string]> = [];
  refreshes = 0;

  constructor() {
    super();
    this.net.cluster = this;
  }

  async connect(): Promise<void> {
    if (this.net.clusterDown) {
      this.status = 'connecting';
      return;
    }
    this.status = 'ready';
    this.#load();
    queueMicrotask(() => this.emit('ready'));
  }

  refreshSlotsCache(callback: (error?: Error) => void): void {
    this.refreshes++;
    queueMicrotask(() => {
      this.#load();
      callback();
    });
  }

  async spublish(channel: string, message: string): Promise<number> {
    if (this.publishError !== undefined) throw this.publishError;
    this.published.push([channel, message]);
    return 1;
  }

  disconnect(): void {
    this.status = 'end';
  }

  #load(): void {
    this.slots = this.net.owners.map((owner) => [owner]);
    this.emit('refresh');
  }
}

/** Stand-in for ioredis's `Redis`, as a subscriber connection to one master. */
export class FakeNodeConnection extends EventEmitter {
  readonly net = fakeNet.current;
  readonly key: string;
  readonly options: { host: string; port: number };
  status = 'wait';
  readonly channels = new Set<string>();

  constructor(options: { host: string; port: number }) {
    super();
    this.options = { host: options.host, port: options.port };
    this.key = `${options.host}:${options.port}`;
    this.net.connections.push(this);
  }

  async connect(): Promise<void> {
    this.status = 'ready';
    queueMicrotask(() => this.emit('ready'));
  }

  async ssubscribe(...channels: string[]): Promise<number> {
    if (this.status !== 'ready') throw new Error('Connection is closed.');
    for (const channel of channels) {
      const owner = this.net.owners[keySlot(channel)]!;
      if (owner !== this.key) throw new Error(`MOVED ${keySlot(channel)} ${owner}`);
    }
    for (const channel of channels) this.channels.add(channel);
    return this.channels.size;
  }

  async sunsubscribe(...channels: string[]): Promise<number> {
    for (const channel of channels) this.channels.delete(channel);
    return this.channels.size;
  }

  /** The connection drops: subscriptions are gone, ioredis reconnects. */
  drop(): void {
    this.status = 'reconnecting';
    this.channels.clear();
    this.emit('close');
  }

  /** The connection is back, without subscriptions. */
  back(): void {
    this.status = 'ready';
    this.emit('ready');
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
