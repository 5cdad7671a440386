import { Etcd3, type IKeyValue, type IOptions, type Watcher } from 'etcd3';
import { ErrorCode, NearbyError, checkOptionKeys, optionKeys } from '@nearby/protocol';
import type { Discovery, DiscoveryNode } from '../types.js';
import { discoveryNodeProblem, normalizeNodes, sameNodes } from '../../sharding/discovery-node.js';
import { backgroundTimeout, globalTimers, type Timers } from '../timers.js';

/** Default key prefix: one key per Pub/Sub node, `nearby/pubsub/nodes/<id>` → `redis://host:port`. */
export const DEFAULT_NODE_PREFIX = 'nearby/pubsub/nodes/';

export interface EtcdDiscoveryOptions {
  /** etcd endpoints, e.g. `http://10.0.0.9:2379`. Ignored when `client` is given. Default `http://127.0.0.1:2379`. */
  hosts?: string | string[];
  /** An etcd3 client to use instead of creating one (it is not closed by `close()`). */
  client?: Etcd3;
  /** Extra etcd3 client options (credentials, auth, …) when the discovery creates the client. */
  etcd?: Omit<IOptions, 'hosts'>;
  /** Key prefix under which nodes are listed. Default `nearby/pubsub/nodes/`. */
  prefix?: string;
  /** How long the first read may take before `connect()` / `getNodes()` fail. Default 5 000 ms. */
  connectTimeoutMs?: number;
  /** Longest pause between attempts to re-establish the watch while etcd is unreachable. Default 2 000 ms. */
  maxReconnectDelayMs?: number;
  /** Receives watch interruptions and entries that are not valid nodes. Default: ignored. */
  onError?: (error: unknown) => void;
  /**
   * Clock and timers of the deadline of the first read and watch. Default: the globals, looked
   * up at call time. The watch's reconnection is scheduled by etcd3 on the global timers, with
   * the delays of `maxReconnectDelayMs`.
   */
  timers?: Timers;
}

/** Every key of {@link EtcdDiscoveryOptions}; any other is refused. */
const ETCD_DISCOVERY_OPTION_KEYS = optionKeys<EtcdDiscoveryOptions>()([
  'hosts',
  'client',
  'etcd',
  'prefix',
  'connectTimeoutMs',
  'maxReconnectDelayMs',
  'onError',
  'timers',
]);

/** Counters of an {@link EtcdDiscovery}. */
export interface EtcdDiscoveryStats {
  /** Node lists handed to watchers (changes only). */
  changes: number;
  /** Times the watch lost etcd. */
  disconnects: number;
  /** Entries under the prefix ignored because they are not valid nodes. */
  invalidEntries: number;
  /** Whether the watch is currently connected. */
  connected: boolean;
}

/**
 * Discovery from etcd: every key under a prefix is one Pub/Sub node (`<prefix><id>` holding the
 * node's `redis://` URL), read once and then watched, so adding or removing a key rebalances
 * every server's ring within moments. While etcd is unreachable, watchers keep the last list
 * they were given (servers keep working on the last ring they saw); once the watch is back,
 * the list is read again in full and watchers hear of any difference. Keys that are not valid
 * nodes are skipped and reported to `onError`, never passed on.
 *
 * Nodes are added and removed with the `nearby-nodes` command, `etcdctl put`, or any etcd client.
 */
export class EtcdDiscovery implements Discovery {
  readonly #client: Etcd3;
  readonly #ownsClient: boolean;
  readonly #prefix: string;
  /** Endpoints as named in error messages. */
  readonly #endpoints: string;
  readonly #connectTimeoutMs: number;
  readonly #onError: (error: unknown) => void;
  readonly #timers: Timers;
  readonly #listeners = new Set<(nodes: readonly DiscoveryNode[]) => void>();
  /** Valid nodes by id, as last read or watched. */
  readonly #entries = new Map<string, DiscoveryNode>();
  #nodes: readonly DiscoveryNode[] = [];
  /** Whether the first list has been read: watchers hear only of changes after it. */
  #read = false;
  #loaded: Promise<void> | undefined;
  #watcher: Watcher | undefined;
  #watchConnected = false;
  /** Re-reads run one at a time; a change seen meanwhile is covered by the next read. */
  #rereading: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #stats = { changes: 0, disconnects: 0, invalidEntries: 0 };

  constructor(options: EtcdDiscoveryOptions = {}) {
    checkOptionKeys(options, ETCD_DISCOVERY_OPTION_KEYS);
    this.#prefix = options.prefix ?? DEFAULT_NODE_PREFIX;
    if (this.#prefix === '') throw new NearbyError(ErrorCode.INVALID_ARGUMENT, 'the etcd key prefix must not be empty');
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#onError = options.onError ?? (() => {});
    this.#timers = options.timers ?? globalTimers;
    this.#ownsClient = options.client === undefined;
    const hosts = options.hosts ?? 'http://127.0.0.1:2379';
    this.#endpoints = options.client === undefined ? [hosts].flat().join(', ') : "the given client's endpoints";
    this.#client =
      options.client ??
      new Etcd3({
        ...options.etcd,
        hosts,
        faultHandling: { watchBackoff: watchBackoff(options.maxReconnectDelayMs ?? 2_000), ...options.etcd?.faultHandling },
      });
  }

  get stats(): Readonly<EtcdDiscoveryStats> {
    return { ...this.#stats, connected: this.#watchConnected };
  }

  /** Reads the node list and starts watching. Rejects with `adapter_unavailable` naming the endpoints when etcd does not answer in time. */
  connect(): Promise<void> {
    this.#loaded ??= this.#load().catch((error: unknown) => {
      this.#loaded = undefined;
      throw error;
    });
    return this.#loaded;
  }

  /** The current node list (connecting first if needed). After the first read, the last list seen, even while etcd is unreachable. */
  async getNodes(): Promise<readonly DiscoveryNode[]> {
    await this.connect();
    return this.#nodes;
  }

  /** Calls `listener` with the full list after every change following the first read. */
  watch(listener: (nodes: readonly DiscoveryNode[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    const watcher = this.#watcher;
    this.#watcher = undefined;
    await watcher?.cancel().catch(() => undefined);
    if (this.#ownsClient) this.#client.close();
  }

  async #load(): Promise<void> {
    const revision = await this.#withDeadline(this.#readAll(), 'read the node list');
    const watcher = await this.#withDeadline(
      this.#client
        .watch()
        .prefix(this.#prefix)
        .startRevision(String(revision + 1))
        .create(),
      'watch the node list',
    );
    if (this.#closed) {
      await watcher.cancel().catch(() => undefined);
      return;
    }
    this.#watcher = watcher;
    this.#watchConnected = true;
    watcher.on('put', (kv) => this.#put(kv));
    watcher.on('delete', (kv) => this.#delete(kv));
    watcher.on('data', () => this.#publish());
    watcher.on('disconnected', (error) => {
      if (this.#watchConnected) this.#stats.disconnects++;
      this.#watchConnected = false;
      this.#onError(error);
    });
    watcher.on('connected', () => {
      const wasDisconnected = !this.#watchConnected;
      this.#watchConnected = true;
      // etcd may have been restored from a backup or lost its data: the watch's revision is
      // then no guide, so read the whole list again.
      if (wasDisconnected) this.#reread();
    });
    watcher.on('error', (error) => this.#onError(error));
  }

  /** Replaces the entries with etcd's current list; resolves to the revision read at. */
  async #readAll(): Promise<number> {
    const response = await this.#client.getAll().prefix(this.#prefix).exec();
    this.#entries.clear();
    for (const kv of response.kvs) this.#put(kv);
    this.#publish();
    this.#read = true;
    return Number(response.header.revision);
  }

  #reread(): void {
    this.#rereading = this.#rereading.then(async () => {
      if (this.#closed) return;
      try {
        await this.#readAll();
      } catch (error) {
        // The watch is connected again, so etcd will answer soon; its events keep the list right meanwhile.
        this.#onError(error);
      }
    });
  }

  #put(kv: IKeyValue): void {
    const id = kv.key.toString().slice(this.#prefix.length);
    const node = { id, url: kv.value.toString().trim() };
    const problem = discoveryNodeProblem(node);
    if (problem !== undefined) {
      this.#entries.delete(id);
      this.#stats.invalidEntries++;
      this.#onError(new NearbyError(ErrorCode.INVALID_ARGUMENT, `ignoring etcd key "${kv.key.toString()}": ${problem}`));
      return;
    }
    this.#entries.set(id, node);
  }

  #delete(kv: IKeyValue): void {
    this.#entries.delete(kv.key.toString().slice(this.#prefix.length));
  }

  /** Hands the list to watchers when it differs from the last one handed out. */
  #publish(): void {
    const next = normalizeNodes(this.#entries.values());
    if (sameNodes(next, this.#nodes)) return;
    this.#nodes = next;
    this.#stats.changes++;
    if (this.#closed || !this.#read) return;
    for (const listener of this.#listeners) listener(next);
  }

  async #withDeadline<T>(work: Promise<T>, what: string): Promise<T> {
    let timer: unknown;
    const deadline = new Promise<never>((_resolve, reject) => {
      const fail = () => reject(new Error(`no answer within ${this.#connectTimeoutMs} ms`));
      timer = backgroundTimeout(this.#timers, fail, this.#connectTimeoutMs);
    });
    try {
      return await Promise.race([work, deadline]);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new NearbyError(ErrorCode.ADAPTER_UNAVAILABLE, `could not ${what} from etcd at ${this.#endpoints}: ${reason}`, {
        cause: error,
      });
    } finally {
      this.#timers.clearTimeout(timer);
    }
  }
}

/** The reconnect delays of an etcd3 watch, as its `faultHandling.watchBackoff` option takes them. */
export type WatchBackoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;

/**
 * Reconnect delays for the watch: doubling from 100 ms up to `maxMs`, without jitter. etcd3's
 * default grows to 30 s, which would leave a server on a stale ring long after etcd is back.
 */
export function watchBackoff(maxMs: number, duration = 100): WatchBackoff {
  return { duration: Math.min(duration, maxMs), next: () => watchBackoff(maxMs, duration * 2) };
}
