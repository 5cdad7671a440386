import { CloseCode, ErrorCode, type NearbyFriend } from '@nearby/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHarness } from './test-utils/harness.js';

const T0 = 1_700_000_000_000;

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

const f = (userId: string, distanceKm: number, updatedAt = T0): NearbyFriend => ({
  userId,
  lat: 37.5,
  lon: 127,
  distanceKm,
  updatedAt,
});

const names = (h: ReturnType<typeof createHarness>) => h.events.map((e) => e.event);

describe('delivery at the end of an entry point', () => {
  it('an inbound frame is handled in full before any listener runs', () => {
    const h = createHarness();
    h.client.updateLocation({ lat: 1, lon: 2 });
    h.client.connect();
    const seen: unknown[] = [];
    h.client.on('state', (state) => {
      if (state !== 'connected') return;
      seen.push({
        snapshot: h.client.getSnapshot(),
        locationFrames: h.server.latest.framesOf('location').length,
      });
    });
    h.server.accept({ friends: [f('ann', 1)] });
    expect(seen).toEqual([
      {
        snapshot: expect.objectContaining({ state: 'connected', friends: [expect.objectContaining({ userId: 'ann' })] }),
        // The buffered sample went out with the snapshot's handling, before the listener ran.
        locationFrames: 1,
      },
    ]);
  });

  it('notifies subscribers once per entry point, before the event listeners', () => {
    const h = createHarness();
    h.client.connect();
    const socket = h.server.accept({ friends: [f('ann', 1)] });
    const order: string[] = [];
    h.client.subscribe(() => order.push(`subscribe:${h.client.getSnapshot().state}`));
    h.client.on('state', (state) => order.push(`state:${state}:${h.client.getSnapshot().lastError?.code}`));
    h.client.on('error', (error) => order.push(`error:${error.code}`));
    // Closing changes the state, empties the list and records the error: one notification.
    socket.serverClose(CloseCode.UNAUTHORIZED);
    expect(order).toEqual(['subscribe:closed', `state:closed:${ErrorCode.UNAUTHORIZED}`, `error:${ErrorCode.UNAUTHORIZED}`]);
  });

  it('a timer callback delivers its events once the list is updated', () => {
    const h = createHarness();
    h.client.connect();
    h.server.accept({ inactiveAfterMs: 1_000, friends: [f('ann', 1), f('bob', 2), f('cat', 3, T0 + 5_000)] });
    const remaining: string[][] = [];
    h.client.on('friendLeft', () => remaining.push(h.client.getSnapshot().friends.map((x) => x.userId)));
    h.events.length = 0;
    vi.advanceTimersByTime(1_000);
    expect(names(h)).toEqual(['friendLeft', 'friendLeft', 'nearby']);
    expect(remaining).toEqual([['cat'], ['cat']]);
  });

  it('a method called by a listener delivers its events after those already waiting', () => {
    const h = createHarness({ maxBufferedSamples: 1 });
    h.client.connect();
    const socket = h.server.accept();
    h.client.updateLocation({ lat: 1, lon: 2 }); // in flight: the buffer is full
    let calls = 0;
    h.client.on('friendUpdate', () => {
      if (calls++ === 0) h.client.updateLocation({ lat: 1, lon: 3 }); // overflows
    });
    h.events.length = 0;
    socket.push({ type: 'friend_update', friends: [f('ann', 1), f('bob', 2)] });
    expect(names(h)).toEqual(['friendUpdate', 'friendUpdate', 'nearby', 'error']);
    expect(h.errorCodes()).toEqual([ErrorCode.BUFFER_OVERFLOW]);
  });

  it('a listener that changes a setting does not stop the other events', () => {
    const h = createHarness();
    h.client.on('state', (state) => {
      if (state === 'connected') h.client.setRadius(3);
    });
    h.client.connect();
    const socket = h.server.accept({ friends: [f('ann', 1)] });
    expect(socket.framesOf('radius')).toEqual([{ type: 'radius', radiusKm: 3 }]);
    expect(names(h)).toEqual(['state', 'state', 'nearby']);
    expect(h.client.getSnapshot().radiusKm).toBe(3);
  });
});

describe('a listener that closes the client', () => {
  it('close() in a friendUpdate listener: the rest of that frame is not delivered', () => {
    const h = createHarness();
    h.client.connect();
    const socket = h.server.accept();
    h.client.on('friendUpdate', () => h.client.close());
    h.events.length = 0;
    socket.push({ type: 'friend_update', friends: [f('ann', 1), f('bob', 2), f('cat', 3)] });
    expect(h.events).toEqual([
      { event: 'friendUpdate', args: [expect.objectContaining({ userId: 'ann' })] },
      { event: 'state', args: ['closed', 'connected'] },
      { event: 'nearby', args: [[]] },
    ]);
    expect(h.client.getSnapshot()).toMatchObject({ state: 'closed', friends: [] });
  });

  it('close() in a nearby listener: events of the closed connection raised after it are not delivered', () => {
    const h = createHarness();
    h.client.updateLocation({ lat: 1, lon: 2 });
    h.client.connect();
    const socket = h.server.latest.open();
    // The flush right after the snapshot fails: the connection is lost within the same frame.
    socket.send = () => {
      throw new Error('socket gone');
    };
    const lists: string[][] = [];
    h.client.on('nearby', (friends) => {
      lists.push(friends.map((x) => x.userId));
      h.client.close();
    });
    socket.push(h.server.snapshot({ friends: [f('ann', 1)] }));
    // 'reconnecting' and the connection_failed error were raised, but belong to the closed connection.
    expect(names(h)).toEqual(['state', 'state', 'nearby', 'state', 'nearby']);
    expect(h.of('state')).toEqual([
      ['connecting', 'idle'],
      ['connected', 'connecting'],
      ['closed', 'reconnecting'],
    ]);
    expect(h.errorCodes()).toEqual([]);
    expect(lists).toEqual([['ann'], []]);
    // The snapshot still records what happened; only the notifications were dropped.
    expect(h.client.getSnapshot()).toMatchObject({ state: 'closed', friends: [], lastError: { code: ErrorCode.CONNECTION_FAILED } });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close() in a friendLeft listener during expiry stops the remaining expiry events', () => {
    const h = createHarness();
    h.client.connect();
    h.server.accept({ inactiveAfterMs: 1_000, friends: [f('ann', 1), f('bob', 2)] });
    h.client.on('friendLeft', () => h.client.close());
    h.events.length = 0;
    vi.advanceTimersByTime(1_000);
    expect(h.events).toEqual([
      { event: 'friendLeft', args: [{ userId: 'ann', reason: 'inactive' }] },
      { event: 'state', args: ['closed', 'connected'] },
    ]);
  });

  it('close() then connect() in a listener: only the new connection is reported', () => {
    const h = createHarness();
    h.client.connect();
    const first = h.server.accept();
    h.client.on('state', (state) => {
      if (state !== 'reconnecting') return;
      h.client.close();
      h.client.connect();
    });
    h.events.length = 0;
    first.serverClose(1011);
    expect(h.of('state')).toEqual([
      ['reconnecting', 'connected'],
      ['closed', 'reconnecting'],
      ['connecting', 'closed'],
    ]);
    expect(h.errorCodes()).toEqual([]); // the lost connection's error was still waiting
    expect(h.client.getSnapshot().lastError?.code).toBe(ErrorCode.CONNECTION_FAILED);
    expect(h.server.sockets).toHaveLength(2);
    h.server.accept();
    expect(h.client.getSnapshot().state).toBe('connected');
  });

  it('a subscriber that closes the client also stops the events still waiting', () => {
    const h = createHarness();
    h.client.connect();
    const socket = h.server.accept();
    const unsubscribe = h.client.subscribe(() => {
      if (h.client.getSnapshot().friends.length > 0) h.client.close();
    });
    h.events.length = 0;
    socket.push({ type: 'friend_update', friends: [f('ann', 1)] });
    unsubscribe();
    expect(names(h)).toEqual(['state', 'nearby']);
    expect(h.of('nearby')).toEqual([[[]]]);
  });
});
