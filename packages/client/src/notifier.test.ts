import { describe, expect, it } from 'vitest';
import { Emitter } from './emitter.js';
import { Notifier } from './notifier.js';
import { SnapshotStore } from './store.js';
import { ManualTimers } from './test-utils/manual-timers.js';
import type { NearbyClientEvents, NearbySnapshot } from './types.js';

function setup() {
  let snapshot: NearbySnapshot = {
    state: 'idle',
    userId: null,
    friends: [],
    radiusKm: null,
    maxRadiusKm: null,
    sharing: true,
    strangers: [],
    discoverable: false,
    seeingStrangers: false,
    inactiveAfterMs: 600_000,
    serverTimeOffsetMs: 0,
    pendingSamples: 0,
    lastError: null,
  };
  const log: string[] = [];
  const emitter = new Emitter<NearbyClientEvents>(() => {});
  const store = new SnapshotStore(snapshot, () => {});
  const notifier = new Notifier(emitter, { commit: () => store.set(snapshot), notify: () => store.notify() });
  emitter.on('friendAdded', (userId) => log.push(`event:${userId}`));
  store.subscribe(() => log.push(`snapshot:${store.get().pendingSamples}`));
  const update = (patch: Partial<NearbySnapshot>) => {
    snapshot = { ...snapshot, ...patch };
  };
  return { notifier, emitter, log, update };
}

describe('Notifier', () => {
  it('delivers nothing until the outermost batch ends, then the snapshot first and events in order', () => {
    const { notifier, log, update } = setup();
    notifier.batch(() => {
      notifier.emit('friendAdded', 'a');
      notifier.batch(() => {
        notifier.emit('friendAdded', 'b');
        update({ pendingSamples: 1 });
      });
      expect(log).toEqual([]);
      update({ pendingSamples: 2 });
    });
    expect(log).toEqual(['snapshot:2', 'event:a', 'event:b']);
  });

  it('delivers even when the batch throws', () => {
    const { notifier, log } = setup();
    expect(() =>
      notifier.batch(() => {
        notifier.emit('friendAdded', 'a');
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(log).toEqual(['event:a']);
  });

  it('queues the events of a batch run by a listener after those already waiting', () => {
    const { notifier, emitter, log } = setup();
    emitter.on('friendAdded', (userId) => {
      if (userId === 'a') notifier.batch(() => notifier.emit('friendAdded', 'nested'));
    });
    notifier.batch(() => {
      notifier.emit('friendAdded', 'a');
      notifier.emit('friendAdded', 'b');
    });
    expect(log).toEqual(['event:a', 'event:b', 'event:nested']);
  });

  it('discardWaiting drops the waiting events but keeps those of the batch in progress', () => {
    const { notifier, emitter, log } = setup();
    emitter.on('friendAdded', (userId) => {
      if (userId !== 'a') return;
      notifier.batch(() => {
        notifier.emit('friendAdded', 'kept');
        notifier.discardWaiting();
      });
    });
    notifier.batch(() => {
      notifier.emit('friendAdded', 'a');
      notifier.emit('friendAdded', 'dropped');
    });
    expect(log).toEqual(['event:a', 'event:kept']);
  });

  it('runs timer callbacks as entry points', () => {
    const { notifier, log } = setup();
    const manual = new ManualTimers();
    const timers = notifier.entryTimers(manual);
    timers.setTimeout(() => {
      notifier.emit('friendAdded', 'a');
      expect(log).toEqual([]);
    }, 10);
    manual.advance(10);
    expect(log).toEqual(['event:a']);
    expect(timers.now()).toBe(manual.now());
  });
});
