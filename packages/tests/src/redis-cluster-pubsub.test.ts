import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisClusterPubSub, type RedisClusterPubSubOptions } from '@nearby/server/redis';
import { RedisClusterProcess, redisClusterAvailable } from './helpers/redis-cluster.js';
import { freePort } from './helpers/free-port.js';

/** Sharded Pub/Sub on a real three-master Redis Cluster, with slots moved under load. */
const available = redisClusterAvailable();
let cluster: RedisClusterProcess;
const opened: RedisClusterPubSub[] = [];
const rawClients: Redis[] = [];

beforeAll(async () => {
  if (available) cluster = await RedisClusterProcess.start({ masters: 3 });
}, 60_000);

afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close()));
  for (const client of rawClients.splice(0)) client.disconnect();
});

afterAll(async () => {
  if (available) await cluster.stop();
});

const channels = Array.from({ length: 300 }, (_, i) => `nearby:u:user-${i}`);

function transport(options: Partial<RedisClusterPubSubOptions> = {}): RedisClusterPubSub {
  const created = new RedisClusterPubSub({ nodes: [cluster.urls[0]!, cluster.urls[1]!], connectTimeoutMs: 5_000, ...options });
  opened.push(created);
  return created;
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(20);
  }
}

/** Records every delivery, and publishes numbered rounds to many channels. */
class Traffic {
  readonly received = new Set<string>();
  #round = 0;

  constructor(
    readonly publisher: RedisClusterPubSub,
    subscriber: RedisClusterPubSub,
  ) {
    subscriber.onMessage((channel, message) => this.received.add(`${channel}|${message}`));
  }

  /** Publishes round `r` to every channel; resolves to the round number. Publish failures count as losses. */
  async round(to: readonly string[]): Promise<number> {
    const r = ++this.#round;
    await Promise.allSettled(to.map((channel) => this.publisher.publish(channel, `r${r}`)));
    return r;
  }

  delivered(r: number, of: readonly string[]): number {
    return of.filter((channel) => this.received.has(`${channel}|r${r}`)).length;
  }
}

/** Index of the master whose PUBSUB SHARDCHANNELS lists each channel (-1: none, -2: several). */
async function subscribedWhere(of: readonly string[]): Promise<number[]> {
  const lists = await Promise.all(cluster.ids.map((_, i) => cluster.shardChannels(i, 'nearby:*')));
  const sets = lists.map((list) => new Set(list));
  return of.map((channel) => {
    const holders = sets.flatMap((set, i) => (set.has(channel) ? [i] : []));
    return holders.length === 1 ? holders[0]! : holders.length === 0 ? -1 : -2;
  });
}

/** Index of the master serving each channel's slot, by the servers' own account. */
async function ownersOf(of: readonly string[]): Promise<number[]> {
  const slotsByNode = await Promise.all(cluster.ids.map(async (_, i) => new Set(await cluster.slotsOf(i))));
  return of.map((channel) => slotsByNode.findIndex((slots) => slots.has(RedisClusterPubSub.slotOf(channel))));
}

/** Whether every channel is subscribed exactly once, on the master serving its slot. */
async function allOnTheirOwner(of: readonly string[]): Promise<boolean> {
  const [where, owners] = await Promise.all([subscribedWhere(of), ownersOf(of)]);
  return where.every((node, i) => node === owners[i]);
}

describe('RedisClusterPubSub', () => {
  it('computes slots as the cluster does', async (ctx) => {
    if (!available) return ctx.skip();
    const samples = [...channels.slice(0, 50), '{user-1}:a', 'x{}y', 'a{b}{c}', '{}', 'päivää-ünïcode', '🛰️-sat', 'mixed{tagé}end', ''];
    for (const sample of samples) expect(RedisClusterPubSub.slotOf(sample), sample).toBe(await cluster.keySlot(sample));
  });

  it('publishes and subscribes across all three masters, each channel on its slot owner', async (ctx) => {
    if (!available) return ctx.skip();
    const publisher = transport();
    const subscriber = transport();
    await Promise.all([publisher.connect(), subscriber.connect()]);
    const traffic = new Traffic(publisher, subscriber);
    await subscriber.subscribe(channels);

    const where = await subscribedWhere(channels);
    const perMaster = cluster.ids.map((_, i) => where.filter((node) => node === i).length);
    expect(perMaster.every((n) => n > 50)).toBe(true);
    expect(perMaster.reduce((a, b) => a + b, 0)).toBe(channels.length);
    expect(where).toEqual(await ownersOf(channels));
    expect(subscriber.nodeFor(channels[0]!)).toBe(cluster.keys[where[0]!]);
    expect(subscriber.stats).toMatchObject({ channels: channels.length, pending: 0, nodes: 3 });
    // Channels of different slots cannot share an SSUBSCRIBE: one command per slot.
    expect(subscriber.stats.subscribeCommands).toBe(new Set(channels.map((c) => RedisClusterPubSub.slotOf(c))).size);

    const r = await traffic.round(channels);
    await until(() => traffic.delivered(r, channels) === channels.length, 'delivery on three masters');
    expect(publisher.stats.published).toBe(channels.length);
    expect(subscriber.stats.received).toBe(channels.length);
  });

  it('moves every affected subscription to its new master while slots are resharded under load', async (ctx) => {
    if (!available) return ctx.skip();
    const publisher = transport();
    const subscriber = transport();
    await Promise.all([publisher.connect(), subscriber.connect()]);
    const traffic = new Traffic(publisher, subscriber);
    await subscriber.subscribe(channels);
    const first = await traffic.round(channels);
    await until(() => traffic.delivered(first, channels) === channels.length, 'delivery before the moves');
    const ownersBefore = await ownersOf(channels);

    // Publish to every channel continuously while the slots move.
    let publishing = true;
    const rounds: number[] = [];
    const load = (async () => {
      while (publishing) {
        rounds.push(await traffic.round(channels));
        await sleep(2);
      }
    })();

    const channelSlots = new Set(channels.map((c) => RedisClusterPubSub.slotOf(c)));
    let moved = 0;
    // Channel owners after each move: each change is one subscription the transport has to move.
    const layouts = [ownersBefore];
    const step = async (slots: number) => {
      moved += slots;
      layouts.push(await ownersOf(channels));
    };
    // 1. Half of master 0's slots, with the subscribed channels among them, to master 1.
    const zero = await cluster.slotsOf(0);
    const firstBatch = zero.slice(0, Math.floor(zero.length / 2));
    expect(firstBatch.filter((slot) => channelSlots.has(slot)).length).toBeGreaterThan(20);
    await cluster.moveSlots(firstBatch, 0, 1);
    await step(firstBatch.length);
    // 2. 1000 slots from master 1 to master 2 by redis-cli, as an operator reshards.
    await cluster.reshard(1, 2, 1000);
    await step(1000);
    // 3. Master 0 emptied: the rest of its slots split between masters 1 and 2.
    const rest = await cluster.slotsOf(0);
    const half = Math.floor(rest.length / 2);
    await cluster.moveSlots(rest.slice(0, half), 0, 1);
    await step(half);
    await cluster.moveSlots(rest.slice(half), 0, 2);
    await step(rest.length - half);
    expect(await cluster.slotsOf(0)).toEqual([]);
    await until(async () => subscriber.stats.pending === 0 && (await allOnTheirOwner(channels)), 'subscriptions to follow the moves');
    expect(await cluster.shardChannels(0)).toEqual([]);
    // The emptied master's subscriber connection is closed.
    await until(() => subscriber.stats.nodes === 2, 'the emptied master to be let go');
    // 4. Master 0 takes slots again (from master 1), getting a subscriber connection back.
    await cluster.reshard(1, 0, 3000);
    await step(3000);

    await until(async () => subscriber.stats.pending === 0 && (await allOnTheirOwner(channels)), 'subscriptions to settle');
    await sleep(100);
    publishing = false;
    await load;
    await sleep(200);
    const ownersAfter = await ownersOf(channels);
    expect(await allOnTheirOwner(channels)).toBe(true);
    expect(subscriber.stats.nodes).toBe(3);
    expect(subscriber.stats.pending).toBe(0);

    // Nothing is lost once the moves have settled.
    const last = await traffic.round(channels);
    await until(() => traffic.delivered(last, channels) === channels.length, 'delivery after the moves');

    const published = rounds.length * channels.length;
    const lost = rounds.reduce((sum, r) => sum + (channels.length - traffic.delivered(r, channels)), 0);
    let relocations = 0;
    for (let i = 1; i < layouts.length; i++) relocations += channels.filter((_, c) => layouts[i]![c] !== layouts[i - 1]![c]).length;
    const touched = channels.filter((_, c) => layouts.some((layout) => layout[c] !== ownersBefore[c])).length;
    const { resubscribed } = subscriber.stats;
    console.log(
      `CLUSTER_RESHARD: moved ${moved} slots in ${layouts.length - 1} moves, lost ${lost} of ${published} messages during the moves ` +
        `(${rounds.length} rounds of ${channels.length}), resubscribed ${resubscribed} (${relocations} channel relocations, ` +
        `${touched} distinct channels), publisher dropped ${publisher.stats.dropped}, slot map changes seen ${subscriber.stats.slotMapChanges}`,
    );
    // Every channel whose slot moved was subscribed again on its new master, at least once.
    expect(touched).toBeGreaterThan(80);
    expect(resubscribed).toBeGreaterThanOrEqual(touched);
    expect(ownersAfter).toEqual(layouts.at(-1));
  }, 30_000);

  it('negative control: a plain subscriber loses its shard channel when the slot moves', async (ctx) => {
    if (!available) return ctx.skip();
    // Two channels in one slot (same hash tag): one on a plain ioredis connection, one on the transport.
    const plainChannel = 'nearby:{control}:plain';
    const ourChannel = 'nearby:{control}:ours';
    const slot = RedisClusterPubSub.slotOf(plainChannel);
    expect(RedisClusterPubSub.slotOf(ourChannel)).toBe(slot);
    const owner = await cluster.ownerOf(slot);
    const plain = cluster.client(owner);
    rawClients.push(plain);
    const plainReceived: string[] = [];
    plain.on('smessage', (_channel: string, message: string) => plainReceived.push(message));
    await plain.ssubscribe(plainChannel);
    const publisher = transport();
    const subscriber = transport();
    await Promise.all([publisher.connect(), subscriber.connect()]);
    const ourReceived: string[] = [];
    subscriber.onMessage((_channel, message) => ourReceived.push(message));
    await subscriber.subscribe([ourChannel]);

    await publisher.publish(plainChannel, 'before');
    await publisher.publish(ourChannel, 'before');
    await until(() => plainReceived.length === 1 && ourReceived.length === 1, 'delivery before the move');

    const target = (owner + 1) % 3;
    await cluster.moveSlots([slot], owner, target);
    await until(async () => (await cluster.shardChannels(target, 'nearby:{control}:*')).includes(ourChannel), 'the transport to follow');
    await publisher.publish(plainChannel, 'after');
    await publisher.publish(ourChannel, 'after');
    await until(() => ourReceived.length === 2, 'delivery to the transport after the move');
    await sleep(200);
    // The plain connection was unsubscribed by the old owner and never subscribed on the new one.
    expect(plainReceived).toEqual(['before']);
    expect(await cluster.shardChannels(target, 'nearby:{control}:*')).toEqual([ourChannel]);
    expect(await cluster.shardChannels(owner, 'nearby:{control}:*')).toEqual([]);
    expect(ourReceived).toEqual(['before', 'after']);
    expect(subscriber.stats.resubscribed).toBe(1);
  });

  it('unsubscribe removes the shard subscriptions', async (ctx) => {
    if (!available) return ctx.skip();
    const publisher = transport();
    const subscriber = transport();
    await Promise.all([publisher.connect(), subscriber.connect()]);
    const traffic = new Traffic(publisher, subscriber);
    await subscriber.subscribe(channels);
    const dropped = channels.filter((_, i) => i % 3 === 0);
    const kept = channels.filter((_, i) => i % 3 !== 0);
    await subscriber.unsubscribe(dropped);
    expect(subscriber.stats.channels).toBe(kept.length);
    const where = await subscribedWhere(channels);
    expect(channels.filter((_, i) => where[i] !== -1)).toEqual(kept);
    const r = await traffic.round(channels);
    await until(() => traffic.delivered(r, kept) === kept.length, 'delivery on the kept channels');
    await sleep(100);
    expect(traffic.delivered(r, dropped)).toBe(0);
    await subscriber.unsubscribe(kept);
    expect((await subscribedWhere(channels)).every((node) => node === -1)).toBe(true);
  });

  it('drops and counts publishes to a killed master, and resubscribes its channels when it is back', async (ctx) => {
    if (!available) return ctx.skip();
    const errors: unknown[] = [];
    const publisher = transport({ onError: (error) => errors.push(error) });
    const subscriber = transport();
    await Promise.all([publisher.connect(), subscriber.connect()]);
    const traffic = new Traffic(publisher, subscriber);
    await subscriber.subscribe(channels);
    const owners = await ownersOf(channels);
    const victim = 2;
    const onVictim = channels.filter((_, i) => owners[i] === victim);
    const elsewhere = channels.filter((_, i) => owners[i] !== victim);
    expect(onVictim.length).toBeGreaterThan(20);

    await cluster.kill(victim);
    await until(() => subscriber.stats.pending === onVictim.length, 'the subscriber to notice');
    // The publisher's own connection to that master closes at the same moment: from then on a
    // publish there is dropped at once, without an error.
    await until(async () => {
      const dropped = publisher.stats.dropped;
      const ok = await publisher.publish(onVictim[0]!, 'probe').then(
        () => true,
        () => false,
      );
      return ok && publisher.stats.dropped === dropped + 1;
    }, 'the publisher to notice');
    // Publishes to the dead master's slots are dropped at once, without errors; the rest go through.
    const before = publisher.stats;
    const rejected = (await Promise.allSettled(channels.map((c) => publisher.publish(c, 'during')))).filter((r) => r.status === 'rejected');
    expect(rejected).toEqual([]);
    expect(publisher.stats.dropped - before.dropped).toBe(onVictim.length);
    expect(publisher.stats.published - before.published).toBe(elsewhere.length);

    await cluster.restart(victim);
    await cluster.waitUntilConsistent();
    await until(() => subscriber.stats.pending === 0, 'the channels to be subscribed again');
    expect(subscriber.stats.resubscribed).toBe(onVictim.length);
    expect(await allOnTheirOwner(channels)).toBe(true);
    await until(async () => {
      const r = await traffic.round(channels);
      await sleep(50);
      return traffic.delivered(r, channels) === channels.length;
    }, 'delivery to every channel after the restart');
  }, 30_000);

  it('rejects connect() with adapter_unavailable naming the address when the cluster is unreachable', async (ctx) => {
    if (!available) return ctx.skip();
    const port = await freePort();
    const unreachable = new RedisClusterPubSub({ nodes: [`redis://127.0.0.1:${port}`], connectTimeoutMs: 500 });
    opened.push(unreachable);
    await expect(unreachable.connect()).rejects.toMatchObject({
      code: 'adapter_unavailable',
      message: expect.stringContaining(`127.0.0.1:${port}`),
    });
    // Publishing meanwhile is dropped and counted, never queued.
    await unreachable.publish('nearby:u:someone', 'x');
    expect(unreachable.stats.dropped).toBe(1);
    expect(unreachable.stats.published).toBe(0);
  });
});
