import { ErrorCode, NearbyError } from '@nearby/protocol';
import { describe, expect, it, vi } from 'vitest';
import { SnapshotStore, sameFields } from './store.js';
import type { NearbySnapshot } from './types.js';

const base: NearbySnapshot = {
  state: 'connected',
  userId: 'me',
  friends: [],
  radiusKm: 8,
  maxRadiusKm: 50,
  sharing: true,
  strangers: [],
  discoverable: false,
  seeingStrangers: false,
  inactiveAfterMs: 600_000,
  serverTimeOffsetMs: 0,
  pendingSamples: 0,
  lastError: null,
};

/** A different value for every field of the snapshot, keyed by the snapshot type. */
const changed: { [K in keyof NearbySnapshot]-?: NearbySnapshot[K] } = {
  state: 'reconnecting',
  userId: 'other',
  friends: [],
  radiusKm: 3,
  maxRadiusKm: 30,
  sharing: false,
  strangers: [],
  discoverable: true,
  seeingStrangers: true,
  inactiveAfterMs: 60_000,
  serverTimeOffsetMs: -250,
  pendingSamples: 4,
  lastError: new NearbyError(ErrorCode.INTERNAL, 'x'),
};

describe('SnapshotStore', () => {
  it('publishes a change of maxRadiusKm alone', () => {
    const store = new SnapshotStore(base, () => {});
    const listener = vi.fn();
    store.subscribe(listener);
    expect(store.set({ ...base, maxRadiusKm: 30 })).toBe(true);
    store.notify();
    expect(listener).toHaveBeenCalledTimes(1);
    expect(store.get().maxRadiusKm).toBe(30);
  });

  it.each(Object.keys(base) as (keyof NearbySnapshot)[])('compares the %s field', (key) => {
    const store = new SnapshotStore(base, () => {});
    expect(store.set({ ...base })).toBe(false);
    expect(store.set({ ...base, [key]: changed[key] })).toBe(true);
  });

  it('keeps the same frozen object until a field changes, and notifies once per change', () => {
    const store = new SnapshotStore(base, () => {});
    const first = store.get();
    expect(Object.isFrozen(first)).toBe(true);
    const listener = vi.fn();
    store.subscribe(listener);
    store.set({ ...base });
    store.notify();
    expect(store.get()).toBe(first);
    expect(listener).not.toHaveBeenCalled();
    store.set({ ...base, pendingSamples: 1 });
    store.set({ ...base, pendingSamples: 2 });
    store.notify();
    store.notify();
    expect(listener).toHaveBeenCalledTimes(1);
    expect(store.get().pendingSamples).toBe(2);
  });

  it('passes a throwing subscriber to onError and still calls the others', () => {
    const errors: unknown[] = [];
    const store = new SnapshotStore(base, (error) => errors.push(error));
    const other = vi.fn();
    store.subscribe(() => {
      throw new Error('bug');
    });
    store.subscribe(other);
    store.set({ ...base, sharing: false });
    store.notify();
    expect(other).toHaveBeenCalledTimes(1);
    expect(errors).toHaveLength(1);
  });
});

describe('sameFields', () => {
  it('sees a field present on one side only', () => {
    expect(sameFields<Record<string, unknown>>({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(sameFields<Record<string, unknown>>({ a: 1, b: undefined }, { a: 1, c: undefined })).toBe(false);
    expect(sameFields({ a: Number.NaN }, { a: Number.NaN })).toBe(true);
  });
});
