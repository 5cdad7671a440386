import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { RestartableProcess } from './child-process.js';
import { requireProgram } from './requirements.js';
import { REDIS_SERVER } from './redis-server.js';

export const REDIS_CLI = '/usr/bin/redis-cli';

const run = promisify(execFile);

/** Whether redis-server and redis-cli are installed; in CI their absence fails the suite instead of skipping it. */
export function redisClusterAvailable(): boolean {
  const server = requireProgram(REDIS_SERVER, 'redis-server').available;
  const cli = requireProgram(REDIS_CLI, 'redis-tools').available;
  return server && cli;
}

/** Options of {@link RedisClusterProcess.start}. */
export interface RedisClusterStartOptions {
  /** Number of masters (no replicas). At least 3, as `redis-cli --cluster create` requires. */
  masters: number;
}

interface Node {
  port: number;
  dir: string;
  process: RestartableProcess;
  id: string;
}

/**
 * A real Redis Cluster of N masters (no replicas) on free loopback ports, each redis-server in
 * its own temp directory without persistence. Slots can be moved between masters while clients
 * run, the way an operator reshards, and a node can be killed and started again.
 */
export class RedisClusterProcess {
  readonly #nodes: Node[];

  private constructor(nodes: Node[]) {
    this.#nodes = nodes;
  }

  /** Starts the servers, creates the cluster and waits until every node reports cluster_state:ok. */
  static async start(options: RedisClusterStartOptions): Promise<RedisClusterProcess> {
    const nodes: Node[] = [];
    for (let i = 0; i < options.masters; i++) {
      nodes.push({ port: await freePort(), dir: mkdtempSync(join(tmpdir(), 'nearby-redis-cluster-')), process: new RestartableProcess('redis-server (cluster)'), id: '' });
    }
    const cluster = new RedisClusterProcess(nodes);
    try {
      await Promise.all(nodes.map((_, i) => cluster.restart(i)));
      await run(REDIS_CLI, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
        timeout: 30_000,
      });
      for (const node of nodes) node.id = String(await cluster.#command(node.port, 'CLUSTER', 'MYID'));
      await cluster.waitUntilConsistent();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** Ports of the masters, in start order. */
  get ports(): number[] {
    return this.#nodes.map((n) => n.port);
  }

  /** `redis://127.0.0.1:<port>` of each master. */
  get urls(): string[] {
    return this.#nodes.map((n) => `redis://127.0.0.1:${n.port}`);
  }

  /** `127.0.0.1:<port>` of each master, as cluster clients name nodes. */
  get keys(): string[] {
    return this.#nodes.map((n) => `127.0.0.1:${n.port}`);
  }

  /** Cluster node id of each master. */
  get ids(): string[] {
    return this.#nodes.map((n) => n.id);
  }

  /** A fresh plain client to master `index`, for the test's own inspection; the caller disconnects it. */
  client(index: number): Redis {
    return new Redis(this.#node(index).port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  }

  /** The slot a key or shard channel hashes to, as the server computes it. */
  async keySlot(key: string): Promise<number> {
    return Number(await this.#command(this.#firstRunning().port, 'CLUSTER', 'KEYSLOT', key));
  }

  /** Slots master `index` serves, by its own account. */
  async slotsOf(index: number): Promise<number[]> {
    const own = (await this.#view(this.#node(index).port)).get(this.#node(index).id) ?? [];
    return own;
  }

  /** Index of the master that serves `slot`, by that master's own account; -1 if none does. */
  async ownerOf(slot: number): Promise<number> {
    for (let i = 0; i < this.#nodes.length; i++) {
      if (!this.#nodes[i]!.process.running) continue;
      if ((await this.slotsOf(i)).includes(slot)) return i;
    }
    return -1;
  }

  /** Shard channels with at least one subscriber on master `index` (`PUBSUB SHARDCHANNELS`). */
  async shardChannels(index: number, pattern = '*'): Promise<string[]> {
    return (await this.#command(this.#node(index).port, 'PUBSUB', 'SHARDCHANNELS', pattern)) as string[];
  }

  /**
   * Moves `slots` from master `from` to master `to` the way `redis-cli --cluster reshard` does:
   * the target is marked IMPORTING and the source MIGRATING, keys are MIGRATEd, then every master
   * is told the new owner (target first, then source, then the others). Slots go in chunks of
   * `chunk`, each step sent for the whole chunk at once. Resolves once every node agrees on the
   * new slot map.
   */
  async moveSlots(slots: readonly number[], from: number, to: number, chunk = 64): Promise<void> {
    const source = this.#node(from);
    const target = this.#node(to);
    const src = this.client(from);
    const dst = this.client(to);
    const rest = this.#nodes
      .filter((n) => n !== source && n !== target && n.process.running)
      .map((n) => new Redis(n.port, '127.0.0.1', { maxRetriesPerRequest: 1 }));
    const each = (part: readonly number[], step: (slot: number) => Promise<unknown>) => Promise.all(part.map(step));
    try {
      for (let i = 0; i < slots.length; i += chunk) {
        const part = slots.slice(i, i + chunk);
        await each(part, (slot) => dst.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', source.id));
        await each(part, (slot) => src.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', target.id));
        await each(part, async (slot) => {
          for (;;) {
            const keys = (await src.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
            if (keys.length === 0) return;
            await src.call('MIGRATE', '127.0.0.1', target.port, '', 0, 5_000, 'KEYS', ...keys);
          }
        });
        await each(part, (slot) => dst.call('CLUSTER', 'SETSLOT', slot, 'NODE', target.id));
        await each(part, (slot) => src.call('CLUSTER', 'SETSLOT', slot, 'NODE', target.id));
        await Promise.all(rest.map((r) => each(part, (slot) => r.call('CLUSTER', 'SETSLOT', slot, 'NODE', target.id))));
      }
    } finally {
      for (const client of [src, dst, ...rest]) client.disconnect();
    }
    await this.waitUntilConsistent();
  }

  /** Moves `count` slots from master `from` to master `to` with `redis-cli --cluster reshard`. */
  async reshard(from: number, to: number, count: number): Promise<void> {
    await run(
      REDIS_CLI,
      [
        '--cluster',
        'reshard',
        `127.0.0.1:${this.#node(to).port}`,
        '--cluster-from',
        this.#node(from).id,
        '--cluster-to',
        this.#node(to).id,
        '--cluster-slots',
        String(count),
        '--cluster-yes',
      ],
      { timeout: 60_000 },
    );
    await this.waitUntilConsistent();
  }

  /** Waits until every running node reports cluster_state:ok and all agree on which node serves each slot. */
  async waitUntilConsistent(timeoutMs = 20_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let last = '';
    for (;;) {
      try {
        const running = this.#nodes.filter((n) => n.process.running);
        const states = await Promise.all(running.map((n) => this.#command(n.port, 'CLUSTER', 'INFO')));
        const views = await Promise.all(running.map((n) => this.#view(n.port)));
        const rendered = views.map((view) => JSON.stringify([...view].sort(([a], [b]) => a.localeCompare(b))));
        const ok = states.every((info) => String(info).includes('cluster_state:ok'));
        if (ok && rendered.every((r) => r === rendered[0])) return;
        last = ok ? 'nodes disagree on the slot map' : 'cluster_state is not ok';
      } catch (error) {
        last = String(error);
      }
      if (performance.now() > deadline) throw new Error(`cluster did not settle: ${last}`);
      await sleep(50);
    }
  }

  /** Kills master `index` at once (SIGKILL), as a crash would, and waits for it to exit. */
  async kill(index: number): Promise<void> {
    await this.#node(index).process.signal('SIGKILL');
  }

  /** Starts master `index` (again) on its port and directory, where its nodes.conf keeps its identity and slots. */
  async restart(index: number): Promise<void> {
    const node = this.#node(index);
    node.process.spawn(
      REDIS_SERVER,
      [
        '--port',
        String(node.port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(node.dir, 'nodes.conf'),
        '--dir',
        node.dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'no',
        // A master emptied of slots stays a master (by default it turns into a replica of the
        // node that took its last slot), so it can take slots again later.
        '--cluster-allow-replica-migration',
        'no',
      ],
    );
    await this.#waitUntilAnswering(node.port);
  }

  /** Stops every server and removes the directories. */
  async stop(): Promise<void> {
    await Promise.all(
      this.#nodes.map(async (node) => {
        await node.process.signal('SIGKILL');
        rmSync(node.dir, { recursive: true, force: true });
      }),
    );
  }

  #node(index: number): Node {
    const node = this.#nodes[index];
    if (node === undefined) throw new Error(`no master #${index}`);
    return node;
  }

  #firstRunning(): Node {
    const node = this.#nodes.find((n) => n.process.running);
    if (node === undefined) throw new Error('no master is running');
    return node;
  }

  /** One node's view of the slot map: node id → slots, from `CLUSTER NODES`. */
  async #view(port: number): Promise<Map<string, number[]>> {
    const text = String(await this.#command(port, 'CLUSTER', 'NODES'));
    const view = new Map<string, number[]>();
    for (const line of text.split('\n')) {
      const fields = line.trim().split(' ');
      if (fields.length < 8) continue;
      const slots: number[] = [];
      // Fields 8+ are slots or ranges; "[slot->-id]" / "[slot-<-id]" entries mark migrations in progress.
      for (const range of fields.slice(8)) {
        if (range.startsWith('[')) continue;
        const [start, end] = range.split('-').map(Number);
        for (let s = start!; s <= (end ?? start!); s++) slots.push(s);
      }
      view.set(fields[0]!, slots);
    }
    return view;
  }

  /** Runs one command on a fresh connection to `port`. */
  async #command(port: number, ...args: (string | number)[]): Promise<unknown> {
    const client = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      return await client.call(String(args[0]), ...args.slice(1));
    } finally {
      client.disconnect();
    }
  }

  async #waitUntilAnswering(port: number): Promise<void> {
    const deadline = performance.now() + 10_000;
    for (;;) {
      try {
        if ((await this.#command(port, 'PING')) === 'PONG') return;
      } catch {
        // not up yet
      }
      if (performance.now() > deadline) throw new Error(`redis-server did not start on port ${port}`);
      await sleep(50);
    }
  }
}
