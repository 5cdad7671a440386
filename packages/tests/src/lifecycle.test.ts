import { afterEach, describe, expect, it, vi } from 'vitest';
import { CloseCode, LeaveReason } from '@nearby/protocol';
import { startServer, type ServerResource } from './helpers/server-resource.js';
import { RawPeer, at } from './helpers/raw-peer.js';
import { ORIGIN, offsetKm } from './helpers/geo.js';

const FAKE = { toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] as const };

let env: ServerResource | undefined;
const peers: RawPeer[] = [];

async function peer(userId: string): Promise<RawPeer> {
  const p = await RawPeer.connect(env!.urlFor(userId));
  peers.push(p);
  return p;
}

/** Advances fake time in steps, letting real socket I/O happen between steps. */
async function advance(ms: number, stepMs = 5_000, between?: () => Promise<void>): Promise<void> {
  for (let elapsed = 0; elapsed < ms; elapsed += stepMs) {
    await vi.advanceTimersByTimeAsync(Math.min(stepMs, ms - elapsed));
    await between?.();
  }
}

afterEach(async () => {
  for (const p of peers.splice(0)) p.socket.terminate();
  vi.useRealTimers();
  await env?.close();
  env = undefined;
});

describe('inactivity', () => {
  it('a friend with no update for 10 minutes disappears with reason inactive, on the server clock', async () => {
    vi.useFakeTimers({ toFake: [...FAKE.toFake] });
    env = await startServer({ idleTimeoutMs: 0 });
    env.graph.link('alice', 'bob');
    env.graph.link('carol', 'bob');
    const alice = await peer('alice');
    const bob = await peer('bob');
    await alice.init({ location: at(ORIGIN.lat, ORIGIN.lon) });
    await bob.init({ location: at(offsetKm(ORIGIN, 1).lat, ORIGIN.lon) });
    await alice.waitFor((f) => f.type === 'friend_update');

    // Alice keeps moving (so her own view stays alive); Bob says nothing.
    let step = 0;
    const aliceMoves = async () => {
      const point = offsetKm(ORIGIN, 0.01 * ++step);
      alice.send({ type: 'location', seq: step, samples: [at(point.lat, point.lon)] });
      await alice.sync();
    };
    await advance(9 * 60_000 + 50_000, 10_000, aliceMoves);
    expect(alice.ofType('friend_left')).toEqual([]);

    await advance(15_000, 5_000, aliceMoves);
    expect(alice.ofType('friend_left')).toEqual([{ type: 'friend_left', userId: 'bob', reason: LeaveReason.INACTIVE }]);

    // The cache entry expired with the same TTL: a friend joining now does not see Bob either.
    const carol = await peer('carol');
    expect((await carol.init({ location: at(ORIGIN.lat, ORIGIN.lon) })).friends).toEqual([]);

    // Bob's next update brings him back.
    const mark = alice.frames.length;
    bob.send({ type: 'location', seq: 1, samples: [at(offsetKm(ORIGIN, 1).lat, ORIGIN.lon)] });
    await alice.waitFor((f) => f.type === 'friend_update' && f.friends[0]?.userId === 'bob', mark);
  });

  it('a connection that sends nothing for the idle timeout is closed with 4008', async () => {
    vi.useFakeTimers({ toFake: [...FAKE.toFake] });
    env = await startServer({ idleTimeoutMs: 60_000, sweepIntervalMs: 1_000 });
    const quiet = await peer('quiet');
    const chatty = await peer('chatty');
    await quiet.init();
    await chatty.init();
    await advance(70_000, 1_000, () => chatty.sync());
    expect((await quiet.closed).code).toBe(CloseCode.IDLE_TIMEOUT);
    expect(chatty.socket.readyState).toBe(chatty.socket.OPEN);
  });
});

describe('draining and health', () => {
  it('drain moves every client off with a reconnect notice and 1012, refuses new ones, then resolves', async () => {
    env = await startServer();
    const clients = await Promise.all(['u1', 'u2', 'u3', 'u4', 'u5'].map((id) => peer(id)));
    await Promise.all(clients.map((c) => c.init()));
    const health = await fetch(`http://127.0.0.1:${env.port}/healthz`);
    expect(health.status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${env.port}/readyz`)).status).toBe(200);

    const drained = env.server.drain({ windowMs: 200, waves: 3 });
    expect(env.server.state).toBe('draining');
    // Still alive (nothing should restart it), but no longer ready for new clients.
    expect((await fetch(`http://127.0.0.1:${env.port}/healthz`)).status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${env.port}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reasons: string[] }).reasons).toEqual(['server draining']);
    const late = new RawPeer(env.urlFor('late'));
    await expect(late.opened).rejects.toThrow(/503/);

    await drained;
    for (const client of clients) {
      expect((await client.closed).code).toBe(CloseCode.SERVICE_RESTART);
      const notice = client.ofType('reconnect');
      expect(notice).toHaveLength(1);
      expect(notice[0]!.reason).toBe('draining');
      expect(notice[0]!.delayMs).toBeGreaterThanOrEqual(0);
      expect(notice[0]!.delayMs).toBeLessThan(200);
    }
    expect(env.server.stats().connections).toBe(0);
  });

  it('close() closes every connection with 1001 and is idempotent', async () => {
    env = await startServer();
    const client = await peer('u1');
    await client.init();
    await env.server.close();
    expect((await client.closed).code).toBe(CloseCode.GOING_AWAY);
    await env.server.close();
    expect(env.server.state).toBe('closed');
  });

  it('plain HTTP on the protocol path answers 426, elsewhere 404', async () => {
    env = await startServer();
    expect((await fetch(`http://127.0.0.1:${env.port}/nearby`)).status).toBe(426);
    expect((await fetch(`http://127.0.0.1:${env.port}/other`)).status).toBe(404);
  });
});
