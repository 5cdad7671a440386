import { describe, expect, it } from 'vitest';
import { decodeServerFrame, type ServerFrame } from '@nearby/protocol';
import type { ServerSocket } from './connection.js';
import { createNearbyEngine, type EngineSession, type NearbyEngine } from './engine.js';

/** A socket-like object that records what the engine writes, and closes like a socket would. */
class FakeSocket implements ServerSocket {
  readonly frames: ServerFrame[] = [];
  bufferedAmount = 0;
  closedWith: number | undefined;
  session: EngineSession | undefined;

  send(data: string, callback?: (error?: Error) => void): void {
    const decoded = decodeServerFrame(data);
    if (!decoded.ok) throw new Error(`the engine wrote an invalid frame: ${data}`);
    this.frames.push(decoded.frame);
    callback?.();
  }

  close(code: number): void {
    this.closedWith = code;
    setImmediate(() => this.session?.closed(code));
  }

  terminate(): void {
    this.close(1006);
  }

  send_(frame: object): void {
    this.session!.receive(JSON.stringify(frame));
  }

  async next(type: ServerFrame['type'], from = 0): Promise<ServerFrame> {
    for (let i = 0; i < 200; i++) {
      const frame = this.frames.slice(from).find((f) => f.type === type);
      if (frame !== undefined) return frame;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error(`no ${type} frame; got ${JSON.stringify(this.frames)}`);
  }
}

function connect(engine: NearbyEngine, userId: string): FakeSocket {
  const socket = new FakeSocket();
  socket.session = engine.accept(socket, userId);
  return socket;
}

const at = (lat: number, lon: number) => ({ lat, lon, timestamp: Date.now() });

describe('the engine on its own: a user id and a socket-like object, nothing from http', () => {
  it('runs sessions, fan-out, sign-off, drain and close', async () => {
    const graph: Record<string, string[]> = { alice: ['bob'], bob: ['alice'] };
    const engine = createNearbyEngine({ friends: { getFriends: async (id) => graph[id] ?? [] }, busProbeIntervalMs: 0 });
    expect(engine.accepting).toBe(false);
    await engine.start();
    expect(engine.state).toBe('running');
    const alice = connect(engine, 'alice');
    const bob = connect(engine, 'bob');
    alice.send_({ type: 'init', v: 1, location: at(37.5665, 126.978) });
    await alice.next('snapshot');
    bob.send_({ type: 'init', v: 1, location: at(37.57, 126.98) });
    expect(await bob.next('snapshot')).toMatchObject({ friends: [{ userId: 'alice' }] });
    expect(await alice.next('friend_update')).toMatchObject({ friends: [{ userId: 'bob' }] });

    // A deliberate sign-off (1000 from the client) tells friends "offline".
    bob.session!.closed(1000);
    expect(await alice.next('friend_left')).toEqual({ type: 'friend_left', userId: 'bob', reason: 'offline' });
    expect(engine.stats()).toMatchObject({ connections: 1, users: 1 });

    const drained = engine.drain({ windowMs: 0 });
    expect(engine.accepting).toBe(false);
    await drained;
    expect(alice.frames.at(-1)).toMatchObject({ type: 'reconnect', reason: 'draining' });
    expect(alice.closedWith).toBe(1012);
    expect(engine.stats().connections).toBe(0);
    await engine.close();
    expect(engine.state).toBe('closed');
  });

  it('refuses friendship changes with invalid ids', async () => {
    const engine = createNearbyEngine({ friends: { getFriends: async () => [] }, busProbeIntervalMs: 0 });
    await expect(engine.friendAdded('a', 'a')).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(engine.friendRemoved('', 'b')).rejects.toMatchObject({ code: 'invalid_argument' });
    await engine.close();
  });
});
