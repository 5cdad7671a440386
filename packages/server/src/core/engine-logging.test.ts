import { describe, expect, it } from 'vitest';
import { CloseCode } from '@nearby/protocol';
import type { ServerSocket } from './connection.js';
import { createNearbyEngine, type EngineSession, type NearbyEngine } from './engine.js';
import type { NearbyLogger } from './telemetry.js';

interface Entry {
  level: string;
  fields: Record<string, unknown>;
}

function recorder(): NearbyLogger & { entries: Entry[]; find(event: string): Entry | undefined } {
  const entries: Entry[] = [];
  const at = (level: string) => (fields: Record<string, unknown>) => entries.push({ level, fields });
  return {
    entries,
    find: (event) => entries.find((entry) => entry.fields.event === event),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
}

/** A socket-like object that closes as a socket would, after the current turn. */
class FakeSocket implements ServerSocket {
  bufferedAmount = 0;
  frames: string[] = [];
  closedWith: number | undefined;
  terminated = false;
  session: EngineSession | undefined;

  send(data: string, callback?: (error?: Error) => void): void {
    this.frames.push(data);
    callback?.();
  }

  close(code: number): void {
    this.closedWith = code;
    setImmediate(() => this.session?.closed(code));
  }

  terminate(): void {
    this.terminated = true;
    setImmediate(() => this.session?.closed(1006));
  }
}

function connect(engine: NearbyEngine, userId: string): FakeSocket {
  const socket = new FakeSocket();
  socket.session = engine.accept(socket, userId);
  socket.session.receive(JSON.stringify({ type: 'init', v: 1 }));
  return socket;
}

async function waitUntil(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1_000; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('condition not met');
}

const friends = { getFriends: async () => [] as string[] };

describe('the engine log', () => {
  it('logs accepted connections, an idle close at info, a slow consumer cut, and a drain', async () => {
    const logger = recorder();
    const idling = createNearbyEngine({ friends, logger, busProbeIntervalMs: 0, idleTimeoutMs: 50, sweepIntervalMs: 10 });
    await idling.start();
    const idle = connect(idling, 'idle');
    await waitUntil(() => idle.closedWith !== undefined);
    expect(idle.closedWith).toBe(CloseCode.IDLE_TIMEOUT);
    await waitUntil(() => logger.find('connection_closed') !== undefined);
    expect(logger.find('connection_accepted')).toEqual({ level: 'debug', fields: { event: 'connection_accepted', connectionId: 1, userId: 'idle' } });
    expect(logger.find('connection_closed')).toEqual({
      level: 'info',
      fields: { event: 'connection_closed', connectionId: 1, userId: 'idle', code: 4008, reason: 'idle timeout', byServer: true },
    });
    await idling.close();
    logger.entries.length = 0;

    const engine = createNearbyEngine({
      friends,
      logger,
      busProbeIntervalMs: 0,
      idleTimeoutMs: 0,
      rateLimit: { frames: { capacity: 5_000, refillPerSecond: 5_000 } },
    });
    await engine.start();

    // A peer that stops reading while its pongs pile up is cut.
    const slow = connect(engine, 'slow');
    await waitUntil(() => slow.frames.some((frame) => frame.includes('"snapshot"')));
    slow.bufferedAmount = 1 << 30;
    for (let i = 0; i < 1_100 && !slow.terminated; i++) {
      slow.session!.receive(JSON.stringify({ type: 'ping', id: i }));
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await waitUntil(() => slow.terminated);
    expect(logger.find('slow_consumer_closed')).toEqual({
      level: 'warn',
      fields: { event: 'slow_consumer_closed', connectionId: 1, userId: 'slow' },
    });
    expect(engine.stats().slowConsumersClosed).toBe(1);

    const a = connect(engine, 'a');
    const b = connect(engine, 'b');
    await waitUntil(() => engine.stats().connections === 2);
    await engine.drain({ windowMs: 0 });
    expect(a.closedWith).toBe(CloseCode.SERVICE_RESTART);
    expect(b.closedWith).toBe(CloseCode.SERVICE_RESTART);
    expect(logger.find('drain_started')?.fields).toEqual({ event: 'drain_started', count: 2, windowMs: 0, waves: 2 });
    expect(logger.find('drain_finished')).toMatchObject({ level: 'info', fields: { count: 2, cut: 0, durationMs: expect.any(Number) } });
    const drainCloses = logger.entries.filter((entry) => entry.fields.event === 'connection_closed' && entry.fields.code === 1012);
    expect(drainCloses.map((entry) => entry.level)).toEqual(['debug', 'debug']);
    await engine.close();
    expect(logger.entries.filter((entry) => entry.fields.event === 'internal_error')).toEqual([]);
  });

  it('logs an error of no adapter as internal_error, and still hands it to onError', async () => {
    const logger = recorder();
    const errors: unknown[] = [];
    // A friendship refused by maxFriends is reported without any adapter failing.
    const many = createNearbyEngine({
      friends: { getFriends: async () => ['x'] },
      logger,
      onError: (error) => errors.push(error),
      busProbeIntervalMs: 0,
      maxFriends: 1,
    });
    await many.start();
    const socket = connect(many, 'u');
    await waitUntil(() => socket.frames.some((frame) => frame.includes('"snapshot"')));
    await many.friendAdded('u', 'y');
    await waitUntil(() => errors.length > 0);
    const internal = logger.find('internal_error');
    expect(internal?.level).toBe('error');
    expect(internal?.fields.err).toBe(errors[0]);
    expect(logger.find('adapter_unavailable')).toBeUndefined();
    await many.close();
  });
});
