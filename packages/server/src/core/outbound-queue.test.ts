import { describe, expect, it, vi } from 'vitest';
import { OutboundQueue, type FrameSink, type OutboundQueueOptions } from './outbound-queue.js';

/** A sink that records frames and lets the test decide when writes "reach the network". */
class FakeSink implements FrameSink {
  bufferedAmount = 0;
  readonly frames: string[] = [];
  readonly callbacks: (() => void)[] = [];

  send(frame: string, onWritten?: () => void): void {
    this.frames.push(frame);
    if (onWritten !== undefined) this.callbacks.push(onWritten);
  }

  /** Every frame as parsed JSON. */
  parsed(): Record<string, unknown>[] {
    return this.frames.map((frame) => JSON.parse(frame) as Record<string, unknown>);
  }

  /** Fires (and forgets) every pending write callback. */
  written(): void {
    const callbacks = this.callbacks.splice(0);
    for (const callback of callbacks) callback();
  }
}

function setup(options: Omit<OutboundQueueOptions, 'schedule'> = {}) {
  const sink = new FakeSink();
  const scheduled: (() => void)[] = [];
  const schedule = vi.fn((flush: () => void) => {
    scheduled.push(flush);
  });
  const queue = new OutboundQueue(sink, { ...options, schedule });
  /** Runs every flush scheduled so far (the end of the I/O phase). */
  const runScheduled = (): void => {
    for (const flush of scheduled.splice(0)) flush();
  };
  return { sink, queue, schedule, scheduled, runScheduled };
}

const entry = (userId: string, lat: number, lon = 0, updatedAt = 1): string =>
  JSON.stringify({ userId, lat, lon, distanceKm: 0.5, updatedAt });

describe('OutboundQueue coalescing', () => {
  it('coalesces many updates of one friend into one entry carrying the latest value', () => {
    const { sink, queue, schedule, runScheduled } = setup();
    for (let i = 0; i < 100; i++) queue.updateFriend('alice', entry('alice', i));
    expect(queue.pendingFriendEvents).toBe(1);
    expect(schedule).toHaveBeenCalledTimes(1);
    expect(sink.frames).toEqual([]); // nothing is written synchronously

    runScheduled();
    const frames = sink.parsed();
    expect(frames).toHaveLength(1);
    expect(frames[0]).toEqual({
      type: 'friend_update',
      friends: [{ userId: 'alice', lat: 99, lon: 0, distanceKm: 0.5, updatedAt: 1 }],
    });
    expect(queue.pendingFriendEvents).toBe(0);
    expect(queue.framesSent).toBe(1);
  });

  it('sends every update queued before a flush in ONE friend_update frame', () => {
    const { sink, queue, schedule, runScheduled } = setup();
    queue.updateFriend('a', entry('a', 1));
    queue.updateFriend('b', entry('b', 2));
    queue.updateFriend('c', entry('c', 3));
    queue.updateFriend('a', entry('a', 4));
    expect(schedule).toHaveBeenCalledTimes(1);
    runScheduled();

    const frames = sink.parsed();
    expect(frames).toHaveLength(1);
    expect(frames[0]!.type).toBe('friend_update');
    const friends = frames[0]!.friends as { userId: string; lat: number }[];
    expect(friends).toHaveLength(3);
    expect(new Map(friends.map((f) => [f.userId, f.lat]))).toEqual(
      new Map([
        ['a', 4],
        ['b', 2],
        ['c', 3],
      ]),
    );
  });

  it('friendLeft replaces a pending update of that friend', () => {
    const { sink, queue, runScheduled } = setup();
    queue.updateFriend('alice', entry('alice', 1));
    queue.updateFriend('bob', entry('bob', 2));
    queue.friendLeft('alice', JSON.stringify('alice'), 'out_of_range');
    expect(queue.pendingFriendEvents).toBe(2);
    runScheduled();

    const frames = sink.parsed();
    expect(frames).toContainEqual({ type: 'friend_left', userId: 'alice', reason: 'out_of_range' });
    const updates = frames.filter((f) => f.type === 'friend_update');
    expect(updates).toHaveLength(1);
    // alice's stale position must not leave after she left.
    expect(updates[0]!.friends).toEqual([JSON.parse(entry('bob', 2))]);
    expect(frames).toHaveLength(2);
  });

  it('an update replaces a pending friendLeft of that friend', () => {
    const { sink, queue, runScheduled } = setup();
    queue.friendLeft('alice', JSON.stringify('alice'), 'inactive');
    queue.updateFriend('alice', entry('alice', 7));
    expect(queue.pendingFriendEvents).toBe(1);
    runScheduled();

    expect(sink.parsed()).toEqual([{ type: 'friend_update', friends: [JSON.parse(entry('alice', 7))] }]);
  });

  it('writes friend_left with the reason and a JSON-encoded user id', () => {
    const { sink, queue, runScheduled } = setup();
    const awkward = 'we"ird\\id';
    queue.friendLeft(awkward, JSON.stringify(awkward), 'unfriended');
    runScheduled();
    expect(sink.parsed()).toEqual([{ type: 'friend_left', userId: awkward, reason: 'unfriended' }]);
  });
});

describe('OutboundQueue ordering', () => {
  it('a snapshot drops older friend events and is written first; later events follow it', () => {
    const { sink, queue, runScheduled } = setup();
    queue.control('{"type":"pong"}', 'pong');
    queue.updateFriend('old', entry('old', 1));
    queue.friendLeft('gone', '"gone"', 'sharing_off');
    const snapshot = JSON.stringify({ type: 'snapshot', friends: [JSON.parse(entry('x', 5))] });
    queue.snapshot(snapshot);
    expect(queue.pendingFriendEvents).toBe(0);
    queue.updateFriend('new', entry('new', 9));
    runScheduled();

    expect(sink.frames[0]).toBe(snapshot);
    const frames = sink.parsed();
    expect(frames.map((f) => f.type)).toEqual(['snapshot', 'friend_update', 'pong']);
    expect(frames[1]!.friends).toEqual([JSON.parse(entry('new', 9))]);
    expect(sink.frames.some((f) => f.includes('"old"') || f.includes('"gone"'))).toBe(false);
  });

  it('only the latest snapshot is written', () => {
    const { sink, queue, runScheduled } = setup();
    queue.snapshot('{"type":"snapshot","friends":[],"n":1}');
    queue.snapshot('{"type":"snapshot","friends":[],"n":2}');
    runScheduled();
    expect(sink.parsed()).toEqual([{ type: 'snapshot', friends: [], n: 2 }]);
  });

  it('control frames keep their order and come after friend events', () => {
    const { sink, queue, runScheduled } = setup();
    queue.control('{"type":"ack","seq":1,"count":1}', 'ack');
    queue.updateFriend('a', entry('a', 1));
    queue.control('{"type":"error","code":"rate_limited","message":"x"}', 'rate_limited');
    queue.friendLeft('b', '"b"', 'inactive');
    queue.control('{"type":"ack","seq":2,"count":3}', 'ack');
    runScheduled();

    const frames = sink.parsed();
    expect(frames).toHaveLength(5);
    const friendTypes = frames.slice(0, 2).map((f) => f.type);
    expect(friendTypes.sort()).toEqual(['friend_left', 'friend_update']);
    expect(frames.slice(2)).toEqual([
      { type: 'ack', seq: 1, count: 1 },
      { type: 'error', code: 'rate_limited', message: 'x' },
      { type: 'ack', seq: 2, count: 3 },
    ]);
    expect(queue.framesSent).toBe(5);
  });

  it('schedules one flush per batch and a new one once the batch was written', () => {
    const { sink, queue, schedule, runScheduled } = setup();
    queue.updateFriend('a', entry('a', 1));
    queue.control('{"type":"pong"}', 'pong');
    queue.snapshot('{"type":"snapshot","friends":[]}');
    expect(schedule).toHaveBeenCalledTimes(1);
    runScheduled();
    expect(sink.frames).toHaveLength(2);

    queue.updateFriend('a', entry('a', 2));
    expect(schedule).toHaveBeenCalledTimes(2);
    runScheduled();
    expect(sink.parsed()[2]).toEqual({ type: 'friend_update', friends: [JSON.parse(entry('a', 2))] });
  });

  it('a flush with nothing pending writes nothing', () => {
    const { sink, queue } = setup();
    queue.flush();
    expect(sink.frames).toEqual([]);
    expect(queue.framesSent).toBe(0);
  });

  it('uses setImmediate by default so one I/O phase shares a frame', async () => {
    const sink = new FakeSink();
    const queue = new OutboundQueue(sink);
    queue.updateFriend('a', entry('a', 1));
    queue.updateFriend('b', entry('b', 1));
    await Promise.resolve();
    expect(sink.frames).toEqual([]); // not flushed in a microtask
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(sink.frames).toHaveLength(1);
    expect((sink.parsed()[0]!.friends as unknown[]).length).toBe(2);
  });
});

describe('OutboundQueue backpressure', () => {
  it('writes nothing above the high-water mark, keeps coalescing, and writes everything when the last write drains', () => {
    const { sink, queue, schedule, runScheduled } = setup({ highWaterMark: 1000 });
    queue.control('{"type":"pong","n":0}', 'pong');
    runScheduled();
    expect(sink.frames).toHaveLength(1);
    expect(sink.callbacks).toHaveLength(1);

    // The peer stops reading.
    sink.bufferedAmount = 5000;
    for (let round = 0; round < 50; round++) {
      for (let f = 0; f < 100; f++) queue.updateFriend(`f${f}`, entry(`f${f}`, round));
    }
    queue.control('{"type":"pong","n":1}', 'pong');
    runScheduled();
    expect(sink.frames).toHaveLength(1); // nothing written while blocked

    // More events while blocked: still coalesced, no extra flush scheduled or written.
    const schedulesWhenBlocked = schedule.mock.calls.length;
    for (let round = 50; round < 100; round++) {
      for (let f = 0; f < 100; f++) queue.updateFriend(`f${f}`, entry(`f${f}`, round));
    }
    queue.friendLeft('f0', '"f0"', 'out_of_range');
    queue.control('{"type":"pong","n":2}', 'pong');
    runScheduled();
    expect(sink.frames).toHaveLength(1);
    expect(schedule.mock.calls.length).toBe(schedulesWhenBlocked);
    // Memory is bounded by the number of distinct friends, not the number of updates.
    expect(queue.pendingFriendEvents).toBe(100);

    // The earlier write reaches the network and the buffer is low again.
    sink.bufferedAmount = 0;
    sink.written();

    const frames = sink.parsed().slice(1);
    expect(frames.map((f) => f.type)).toEqual(['friend_left', 'friend_update', 'pong', 'pong']);
    expect(frames[0]).toEqual({ type: 'friend_left', userId: 'f0', reason: 'out_of_range' });
    const friends = frames[1]!.friends as { userId: string; lat: number }[];
    expect(friends).toHaveLength(99);
    expect(friends.every((f) => f.lat === 99)).toBe(true);
    expect(new Set(friends.map((f) => f.userId)).size).toBe(99);
    expect(frames.slice(2)).toEqual([
      { type: 'pong', n: 1 },
      { type: 'pong', n: 2 },
    ]);
    expect(queue.pendingFriendEvents).toBe(0);
  });

  it('resumes normal scheduling after the backlog was written', () => {
    const { sink, queue, runScheduled } = setup({ highWaterMark: 10 });
    queue.control('{"type":"pong"}', 'pong');
    runScheduled();
    sink.bufferedAmount = 11;
    queue.updateFriend('a', entry('a', 1));
    runScheduled();
    expect(sink.frames).toHaveLength(1);

    sink.bufferedAmount = 10; // at the mark (not above) counts as low
    sink.written();
    expect(sink.frames).toHaveLength(2);

    sink.written();
    queue.updateFriend('a', entry('a', 2));
    runScheduled();
    expect(sink.frames).toHaveLength(3);
    expect(sink.parsed()[2]).toEqual({ type: 'friend_update', friends: [JSON.parse(entry('a', 2))] });
  });

  it('a snapshot queued while blocked supersedes events queued while blocked', () => {
    const { sink, queue, runScheduled } = setup({ highWaterMark: 0 });
    queue.control('{"type":"pong"}', 'pong');
    runScheduled();
    sink.bufferedAmount = 1;
    queue.updateFriend('a', entry('a', 1));
    runScheduled();
    queue.snapshot('{"type":"snapshot","friends":[]}');
    queue.updateFriend('b', entry('b', 1));
    sink.bufferedAmount = 0;
    sink.written();
    expect(sink.parsed().slice(1)).toEqual([
      { type: 'snapshot', friends: [] },
      { type: 'friend_update', friends: [JSON.parse(entry('b', 1))] },
    ]);
  });
});

describe('OutboundQueue overflow and close', () => {
  it('control-frame overflow while blocked calls onOverflow once and closes the queue', () => {
    const onOverflow = vi.fn();
    const { sink, queue, runScheduled } = setup({ highWaterMark: 100, maxControlFrames: 3, onOverflow });
    queue.control('{"type":"pong","n":0}', 'pong');
    runScheduled();
    sink.bufferedAmount = 1000;
    queue.updateFriend('a', entry('a', 1));
    runScheduled();

    queue.control('{"type":"pong","n":1}', 'pong');
    queue.control('{"type":"pong","n":2}', 'pong');
    queue.control('{"type":"pong","n":3}', 'pong');
    expect(onOverflow).not.toHaveBeenCalled();
    queue.control('{"type":"pong","n":4}', 'pong');
    expect(onOverflow).toHaveBeenCalledTimes(1);
    expect(queue.pendingFriendEvents).toBe(0);

    queue.control('{"type":"pong","n":5}', 'pong');
    queue.control('{"type":"pong","n":6}', 'pong');
    expect(onOverflow).toHaveBeenCalledTimes(1);

    // Even when the peer catches up, a closed queue writes nothing more.
    sink.bufferedAmount = 0;
    sink.written();
    queue.updateFriend('b', entry('b', 1));
    queue.snapshot('{"type":"snapshot","friends":[]}');
    runScheduled();
    queue.flush();
    expect(sink.frames).toEqual(['{"type":"pong","n":0}']);
  });

  it('does not overflow when many control frames are queued in one phase while the peer keeps reading', () => {
    // maxControlFrames is documented as the number held *while blocked*, and onOverflow as
    // "called when the peer stopped reading". Here the sink is never above its mark.
    const onOverflow = vi.fn();
    const { sink, queue, runScheduled } = setup({ maxControlFrames: 2, onOverflow });
    queue.control('{"type":"ack","seq":1,"count":1}', 'ack');
    queue.control('{"type":"ack","seq":2,"count":1}', 'ack');
    queue.control('{"type":"ack","seq":3,"count":1}', 'ack');
    runScheduled();
    expect(onOverflow).not.toHaveBeenCalled();
    expect(sink.parsed().map((f) => f.seq)).toEqual([1, 2, 3]);
  });

  it('after close nothing is written, even a flush that was already scheduled', () => {
    const { sink, queue, scheduled, runScheduled } = setup();
    queue.updateFriend('a', entry('a', 1));
    queue.control('{"type":"pong"}', 'pong');
    queue.snapshot('{"type":"snapshot","friends":[]}');
    expect(scheduled).toHaveLength(1);
    queue.close();
    expect(queue.pendingFriendEvents).toBe(0);
    runScheduled();

    queue.updateFriend('b', entry('b', 1));
    queue.friendLeft('c', '"c"', 'inactive');
    queue.control('{"type":"pong"}', 'pong');
    queue.snapshot('{"type":"snapshot","friends":[]}');
    runScheduled();
    queue.flush();
    expect(sink.frames).toEqual([]);
    expect(queue.framesSent).toBe(0);
  });

  it('a write callback arriving after close writes nothing', () => {
    const { sink, queue, runScheduled } = setup({ highWaterMark: 0 });
    queue.control('{"type":"pong"}', 'pong');
    runScheduled();
    sink.bufferedAmount = 1;
    queue.control('{"type":"pong","n":2}', 'pong');
    runScheduled();
    queue.close();
    sink.bufferedAmount = 0;
    sink.written();
    expect(sink.frames).toHaveLength(1);
  });
});

describe('OutboundQueue liveness while blocked', () => {
  it('resumes by itself when the sink drains without any write callback of its own being due', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { sink, queue, runScheduled } = setup({ highWaterMark: 100, retryMs: 25 });
      // The socket is full of frames this queue did not write (so no callback of ours is due).
      sink.bufferedAmount = 1_000;
      queue.updateFriend('bob', entry('bob', 1));
      runScheduled();
      expect(sink.frames).toEqual([]);
      queue.updateFriend('bob', entry('bob', 2));
      vi.advanceTimersByTime(25);
      expect(sink.frames).toEqual([]); // still full: keeps waiting, keeps coalescing
      sink.bufferedAmount = 0;
      vi.advanceTimersByTime(25);
      expect(sink.parsed()).toEqual([{ type: 'friend_update', friends: [JSON.parse(entry('bob', 2))] }]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('stops its retry timer when closed', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { sink, queue, runScheduled } = setup({ highWaterMark: 100, retryMs: 25 });
      sink.bufferedAmount = 1_000;
      queue.control('{"type":"pong","serverTime":1}', 'pong');
      runScheduled();
      queue.close();
      sink.bufferedAmount = 0;
      vi.advanceTimersByTime(100);
      expect(sink.frames).toEqual([]);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('OutboundQueue tally and timing', () => {
  function zeroTally() {
    return {
      framesOutByType: {
        snapshot: 0,
        friend_update: 0,
        friend_left: 0,
        friend_added: 0,
        friend_removed: 0,
        ack: 0,
        error: 0,
        pong: 0,
        reconnect: 0,
        discovery_state: 0,
        stranger_update: 0,
        stranger_left: 0,
      },
      errorsByCode: {
        bad_json: 0,
        unknown_type: 0,
        invalid_frame: 0,
        invalid_location: 0,
        invalid_radius: 0,
        not_initialized: 0,
        unsupported_version: 0,
        rate_limited: 0,
        history_unavailable: 0,
        internal: 0,
        not_allowed: 0,
      },
    };
  }

  it('counts written frames by type and error frames by code, adding up to framesSent', () => {
    const tally = zeroTally();
    const { queue, runScheduled } = setup({ tally });
    queue.snapshot('{"type":"snapshot","friends":[]}');
    queue.updateFriend('a', entry('a', 1));
    queue.friendLeft('b', '"b"', 'inactive');
    queue.friendLeft('c', '"c"', 'out_of_range');
    queue.control('{"type":"ack","seq":1,"count":1}', 'ack');
    queue.control('{"type":"error","code":"rate_limited","message":"x"}', 'rate_limited');
    queue.control('{"type":"error","code":"invalid_radius","message":"x"}', 'invalid_radius');
    queue.control('{"type":"pong"}', 'pong');
    queue.control('{"type":"friend_added","userId":"d"}', 'friend_added');
    runScheduled();

    expect(tally.framesOutByType).toEqual({
      ...zeroTally().framesOutByType,
      snapshot: 1,
      friend_update: 1,
      friend_left: 2,
      ack: 1,
      error: 2,
      pong: 1,
      friend_added: 1,
    });
    expect(tally.errorsByCode).toEqual({ ...zeroTally().errorsByCode, rate_limited: 1, invalid_radius: 1 });
    const total = Object.values(tally.framesOutByType).reduce((sum, n) => sum + n, 0);
    expect(total).toBe(queue.framesSent);
  });

  it('does not count frames dropped by close', () => {
    const tally = zeroTally();
    const { queue, runScheduled } = setup({ tally });
    queue.control('{"type":"ack","seq":1,"count":1}', 'ack');
    queue.updateFriend('a', entry('a', 1));
    queue.close();
    runScheduled();
    expect(tally.framesOutByType).toEqual(zeroTally().framesOutByType);
  });

  it('times each friend frame from the oldest measured entry, and the awaited snapshot', () => {
    const now = vi.spyOn(performance, 'now');
    try {
      const stamp = { at: Number.NaN };
      const timing = { stamp, fanout: vi.fn(), snapshot: vi.fn() };
      const { queue, runScheduled } = setup({ timing });

      // Not measured (no stamp): nothing observed.
      queue.updateFriend('a', entry('a', 1));
      now.mockReturnValue(1_000);
      runScheduled();
      expect(timing.fanout).not.toHaveBeenCalled();

      // The oldest entry counts: later entries do not move the start.
      stamp.at = 100;
      queue.updateFriend('a', entry('a', 2));
      stamp.at = 300;
      queue.friendLeft('b', '"b"', 'inactive');
      stamp.at = Number.NaN;
      now.mockReturnValue(350);
      runScheduled();
      // Two friend frames written (friend_left, friend_update), each 250 ms after the first entry.
      expect(timing.fanout.mock.calls).toEqual([[0.25], [0.25]]);

      // An unmeasured first entry gives way to the first measured one.
      timing.fanout.mockClear();
      queue.updateFriend('c', entry('c', 1));
      stamp.at = 400;
      queue.updateFriend('d', entry('d', 1));
      now.mockReturnValue(500);
      runScheduled();
      expect(timing.fanout.mock.calls).toEqual([[0.1]]);

      // The awaited snapshot is reported once.
      queue.awaitSnapshot(600);
      queue.snapshot('{"type":"snapshot","friends":[]}');
      now.mockReturnValue(650);
      runScheduled();
      queue.snapshot('{"type":"snapshot","friends":[]}');
      runScheduled();
      expect(timing.snapshot.mock.calls).toEqual([[0.05]]);
    } finally {
      now.mockRestore();
    }
  });
});

describe('OutboundQueue stranger events', () => {
  const stranger = (id: string, lat: number): string => JSON.stringify({ id, lat, lon: 1, distanceKm: 2, updatedAt: 30_000 });

  it('coalesce per stranger, leave after the friend frames, and are counted by type', () => {
    const tally = {
      framesOutByType: { snapshot: 0, friend_update: 0, friend_left: 0, stranger_update: 0, stranger_left: 0, discovery_state: 0 },
      errorsByCode: {},
    } as unknown as NonNullable<OutboundQueueOptions['tally']>;
    const { sink, queue, runScheduled } = setup({ tally });
    queue.control('{"type":"discovery_state","discoverable":true,"seeStrangers":true}', 'discovery_state');
    queue.updateStranger('s1', stranger('s1', 1));
    queue.updateStranger('s1', stranger('s1', 2)); // latest wins
    queue.updateStranger('s2', stranger('s2', 3));
    queue.strangerLeft('s2', '"s2"', 'displaced'); // replaces its pending update
    queue.updateFriend('alice', entry('alice', 5));
    runScheduled();
    expect(sink.parsed()).toEqual([
      { type: 'friend_update', friends: [{ userId: 'alice', lat: 5, lon: 0, distanceKm: 0.5, updatedAt: 1 }] },
      { type: 'stranger_left', id: 's2', reason: 'displaced' },
      { type: 'stranger_update', strangers: [{ id: 's1', lat: 2, lon: 1, distanceKm: 2, updatedAt: 30_000 }] },
      { type: 'discovery_state', discoverable: true, seeStrangers: true },
    ]);
    expect(tally.framesOutByType).toMatchObject({ friend_update: 1, stranger_left: 1, stranger_update: 1, discovery_state: 1 });
  });

  it('are dropped by a snapshot and by clearStrangers', () => {
    const { sink, queue, runScheduled } = setup();
    queue.updateStranger('s1', stranger('s1', 1));
    queue.snapshot('{"type":"snapshot","friends":[]}');
    runScheduled();
    expect(sink.parsed().map((frame) => frame.type)).toEqual(['snapshot']);
    queue.updateStranger('s1', stranger('s1', 1));
    queue.clearStrangers();
    runScheduled();
    expect(sink.frames).toHaveLength(1);
  });

  it('never put more than MAX_STRANGERS_PER_FRAME entries in one frame', () => {
    const { sink, queue, runScheduled } = setup();
    for (let i = 0; i < 150; i++) queue.updateStranger(`s${i}`, stranger(`s${i}`, i));
    runScheduled();
    expect(sink.parsed().map((frame) => (frame.strangers as unknown[]).length)).toEqual([100, 50]);
  });
});
