import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import type { DiscoveryNode } from '@nearby/server';
import { EtcdDiscovery, runNodesCommand } from '@nearby/server/etcd';
import { ShardedRedisPubSub } from '@nearby/server/redis';
import { EtcdServerProcess, etcdAvailable } from './helpers/etcd-server.js';
import { RedisServerProcess, redisAvailable } from './helpers/redis-server.js';
import { freePort } from './helpers/free-port.js';

/** Pub/Sub node discovery from a real etcd, and the `nearby-nodes` command that edits it. */
const available = etcdAvailable() && redisAvailable();
let etcd: EtcdServerProcess;
let admin: Etcd3;
const closeAfter: Array<{ close(): Promise<void> }> = [];
let prefixCount = 0;

beforeAll(async () => {
  if (!available) return;
  etcd = await EtcdServerProcess.start();
  admin = new Etcd3({ hosts: etcd.url });
}, 30_000);

afterAll(async () => {
  await Promise.all(closeAfter.map((c) => c.close()));
  admin?.close();
  await etcd?.stop();
});

/** Each test lists its nodes under its own prefix. */
const freshPrefix = () => `test-${++prefixCount}/nodes/`;

async function nodesCommand(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runNodesCommand(argv, { out: (line) => out.push(line), err: (line) => err.push(line) }, {});
  return { code, out, err };
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

describe('nearby-nodes command', () => {
  it('adds, lists and removes nodes, refusing duplicates, unknown ids and bad input with clear messages', async (ctx) => {
    if (!available) return ctx.skip();
    const prefix = freshPrefix();
    const on = ['--etcd', etcd.url, '--prefix', prefix];
    expect(await nodesCommand(...on, 'add', 'pubsub-b', 'redis://10.0.0.2:6379')).toMatchObject({ code: 0, out: ['added pubsub-b redis://10.0.0.2:6379'] });
    expect((await nodesCommand(...on, 'add', 'pubsub-a', 'rediss://10.0.0.1:6380')).code).toBe(0);
    expect(await nodesCommand(...on, 'list')).toMatchObject({ code: 0, out: ['pubsub-a rediss://10.0.0.1:6380', 'pubsub-b redis://10.0.0.2:6379'] });
    expect((await admin.get(`${prefix}pubsub-a`).string())).toBe('rediss://10.0.0.1:6380');

    const duplicate = await nodesCommand(...on, 'add', 'pubsub-a', 'redis://10.9.9.9:6379');
    expect(duplicate.code).toBe(1);
    expect(duplicate.err.join('\n')).toMatch(/"pubsub-a" is already listed \(rediss:\/\/10\.0\.0\.1:6380\)/);
    expect(await admin.get(`${prefix}pubsub-a`).string()).toBe('rediss://10.0.0.1:6380');

    expect(await nodesCommand(...on, 'remove', 'pubsub-a')).toMatchObject({ code: 0, out: ['removed pubsub-a'] });
    const missing = await nodesCommand(...on, 'remove', 'pubsub-a');
    expect(missing.code).toBe(1);
    expect(missing.err.join('\n')).toMatch(/"pubsub-a" is not listed/);
    expect((await nodesCommand(...on, 'list')).out).toEqual(['pubsub-b redis://10.0.0.2:6379']);

    const badUrl = await nodesCommand(...on, 'add', 'pubsub-c', 'http://10.0.0.3:6379');
    expect(badUrl.code).toBe(2);
    expect(badUrl.err.join('\n')).toMatch(/redis:\/\/ or rediss:\/\/ URL/);
    const badId = await nodesCommand(...on, 'add', 'a b', 'redis://10.0.0.3:6379');
    expect(badId.code).toBe(2);
    expect(badId.err.join('\n')).toMatch(/node id must be/);
    expect((await nodesCommand(...on, 'frobnicate')).err[0]).toMatch(/unknown command "frobnicate"/);
    expect((await nodesCommand(...on, 'add', 'only-id')).err[0]).toMatch(/"add" takes 2 argument\(s\), got 1/);
    expect((await nodesCommand(...on, '--bogus', 'list')).code).toBe(2);
    expect((await nodesCommand(...on, '--timeout', 'soon', 'list')).err[0]).toMatch(/--timeout must be a positive integer/);
    expect((await nodesCommand(...on, 'list')).out).toEqual(['pubsub-b redis://10.0.0.2:6379']);
    expect((await nodesCommand('--help')).out[0]).toMatch(/^Usage: nearby-nodes/);
  });

  it('fails with exit code 1 naming the endpoint when etcd does not answer', async (ctx) => {
    if (!available) return ctx.skip();
    const port = await freePort();
    const result = await nodesCommand('--etcd', `http://127.0.0.1:${port}`, '--timeout', '1000', 'list');
    expect(result.code).toBe(1);
    expect(result.err.join('\n')).toContain(`etcd at http://127.0.0.1:${port} did not answer`);
  });
});

describe('EtcdDiscovery', () => {
  it('lists the nodes under its prefix and tells watchers about every change, skipping keys that are not nodes', async (ctx) => {
    if (!available) return ctx.skip();
    const prefix = freshPrefix();
    await admin.put(`${prefix}pubsub-1`).value('redis://10.0.0.1:6379');
    await admin.put(`${prefix}broken`).value('not a url');
    await admin.put(`${prefix.slice(0, -1)}-other/pubsub-9`).value('redis://10.0.0.9:6379'); // another prefix
    const errors: unknown[] = [];
    const discovery = new EtcdDiscovery({ hosts: etcd.url, prefix, onError: (error) => errors.push(error) });
    closeAfter.push(discovery);
    expect(await discovery.getNodes()).toEqual([{ id: 'pubsub-1', url: 'redis://10.0.0.1:6379' }]);
    expect(String(errors[0])).toMatch(/ignoring etcd key ".*broken"/);
    expect(discovery.stats.invalidEntries).toBe(1);

    const seen: Array<readonly DiscoveryNode[]> = [];
    discovery.watch((nodes) => seen.push(nodes));
    expect((await nodesCommand('--etcd', etcd.url, '--prefix', prefix, 'add', 'pubsub-0', 'redis://10.0.0.0:6379')).code).toBe(0);
    await until(() => seen.length === 1, 'the added node is seen');
    expect(seen[0]).toEqual([
      { id: 'pubsub-0', url: 'redis://10.0.0.0:6379' },
      { id: 'pubsub-1', url: 'redis://10.0.0.1:6379' },
    ]);
    await admin.delete().key(`${prefix}pubsub-1`);
    await until(() => seen.length === 2, 'the removed node is seen');
    expect(seen[1]).toEqual([{ id: 'pubsub-0', url: 'redis://10.0.0.0:6379' }]);
    // A key turning invalid drops the node; writing the same list again is not a change.
    await admin.put(`${prefix}pubsub-0`).value('');
    await until(() => seen.length === 3, 'the invalid node is dropped');
    expect(seen[2]).toEqual([]);
    await admin.put(`${prefix}broken`).value('still not a url');
    await admin.put(`${prefix}pubsub-0`).value('redis://10.0.0.0:6379');
    await until(() => seen.length === 4, 'the node is back');
    await sleep(200);
    expect(seen).toHaveLength(4);
    expect(discovery.stats.changes).toBe(5); // the first read, then four changes
  });

  it('rejects connect() with adapter_unavailable naming the endpoint when etcd is unreachable', async (ctx) => {
    if (!available) return ctx.skip();
    const port = await freePort();
    const discovery = new EtcdDiscovery({ hosts: `http://127.0.0.1:${port}`, connectTimeoutMs: 1_000 });
    closeAfter.push(discovery);
    await expect(discovery.connect()).rejects.toMatchObject({
      code: 'adapter_unavailable',
      message: expect.stringContaining(`etcd at http://127.0.0.1:${port}`),
    });
    expect(() => new EtcdDiscovery({ prefix: '' })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
  });

  it('keeps the last list while etcd is down, and catches up on changes made while it was away', async (ctx) => {
    if (!available) return ctx.skip();
    const prefix = freshPrefix();
    await admin.put(`${prefix}pubsub-1`).value('redis://10.0.0.1:6379');
    const discovery = new EtcdDiscovery({ hosts: etcd.url, prefix });
    closeAfter.push(discovery);
    const seen: Array<readonly DiscoveryNode[]> = [];
    discovery.watch((nodes) => seen.push(nodes));
    await discovery.connect();

    await etcd.kill();
    await until(() => !discovery.stats.connected, 'the watch notices etcd is gone');
    expect(await discovery.getNodes()).toEqual([{ id: 'pubsub-1', url: 'redis://10.0.0.1:6379' }]);
    await sleep(500);
    expect(seen).toEqual([]);

    await etcd.restart();
    // Changed right after the restart, before the watch is necessarily back.
    expect((await nodesCommand('--etcd', etcd.url, '--prefix', prefix, 'add', 'pubsub-2', 'redis://10.0.0.2:6379')).code).toBe(0);
    await until(() => seen.length === 1, 'the change made around the restart is seen');
    expect(seen[0]).toEqual([
      { id: 'pubsub-1', url: 'redis://10.0.0.1:6379' },
      { id: 'pubsub-2', url: 'redis://10.0.0.2:6379' },
    ]);
    await until(() => discovery.stats.connected, 'the watch is connected again');
    expect(discovery.stats.disconnects).toBe(1);
    expect((await nodesCommand('--etcd', etcd.url, '--prefix', prefix, 'remove', 'pubsub-1')).code).toBe(0);
    await until(() => seen.length === 2, 'a later change is seen');
  }, 30_000);

  it('drives ShardedRedisPubSub: delivery never stops while etcd is down, and the ring follows etcd once it is back', async (ctx) => {
    if (!available) return ctx.skip();
    const prefix = freshPrefix();
    const redis = [await RedisServerProcess.start(), await RedisServerProcess.start()];
    closeAfter.push({ close: async () => void (await Promise.all(redis.map((r) => r.stop()))) });
    await admin.put(`${prefix}pubsub-0`).value(redis[0]!.url);
    const subscriber = new ShardedRedisPubSub({ discovery: new EtcdDiscovery({ hosts: etcd.url, prefix }), transitionMs: 2_000 });
    const publisher = new ShardedRedisPubSub({ discovery: new EtcdDiscovery({ hosts: etcd.url, prefix }), transitionMs: 2_000 });
    closeAfter.push(subscriber, publisher);
    await Promise.all([subscriber.connect(), publisher.connect()]);
    const channels = Array.from({ length: 200 }, (_, i) => `nearby:u:user-${i}`);
    const received = new Set<string>();
    subscriber.onMessage((channel, message) => received.add(`${channel}|${message}`));
    await subscriber.subscribe(channels);
    let round = 0;
    const deliverRound = async () => {
      const r = ++round;
      await Promise.all(channels.map((channel) => publisher.publish(channel, `r${r}`)));
      await until(() => channels.every((channel) => received.has(`${channel}|r${r}`)), `round ${r} delivered`);
    };
    await deliverRound();

    await etcd.pause();
    for (let i = 0; i < 5; i++) await deliverRound();
    expect(subscriber.stats.nodes).toBe(1);

    await etcd.restart();
    expect((await nodesCommand('--etcd', etcd.url, '--prefix', prefix, 'add', 'pubsub-1', redis[1]!.url)).code).toBe(0);
    await until(() => subscriber.stats.rebalances === 2 && publisher.stats.rebalances === 2, 'both follow the new ring');
    await subscriber.settled();
    expect(subscriber.stats.moved).toBeGreaterThan(40);
    await deliverRound();
    const onSecond = channels.filter((channel) => subscriber.nodeFor(channel).id === 'pubsub-1');
    expect(onSecond.length).toBe(subscriber.stats.moved);
  }, 40_000);
});
