import { ErrorCode, NearbyError, type LocationSample } from '@nearby/protocol';
import { toSample } from './location.js';

/**
 * Key-value storage for the unacknowledged samples, so they survive an app kill. React Native's
 * AsyncStorage has this shape; in a browser, wrap `localStorage` in promises.
 */
export interface SampleStorage {
  getItem(key: string): Promise<string | null>;
  setItem(key: string, value: string): Promise<void>;
  /** Used, when present, to remove the key once nothing is pending. */
  removeItem?(key: string): Promise<void>;
}

/** What the persister needs from the client. */
export interface PersistHooks {
  /** Every unacknowledged sample (in flight and unsent), to write. */
  read(): LocationSample[];
  /** Samples loaded from storage, to merge into the buffer. */
  restore(samples: LocationSample[]): void;
  /** Reports a storage failure. */
  report(error: NearbyError): void;
  /** Runs a settled storage call as an entry point. */
  batch(fn: () => void): void;
}

/** Calls `fn` in a microtask and turns a throw or a non-promise result into a promise. */
const call = <T>(fn: () => Promise<T> | T): Promise<T> => Promise.resolve().then(fn);

/**
 * Mirrors the unacknowledged samples into a {@link SampleStorage} as `{"v":1,"samples":[…]}`.
 * Loads once, at once; writes only after that (an earlier write would replace what was stored
 * before it was read), one write at a time, each with the latest state. A failing or corrupt
 * storage is reported as `storage_failed`; the client carries on in memory.
 *
 * @returns `changed`, to call whenever samples joined or left the buffer.
 */
export function persist(storage: SampleStorage, key: string, hooks: PersistHooks): () => void {
  let loaded = false;
  let writing = false;
  let dirty = false;
  /** A write failed and none succeeded since: the failure was reported already. */
  let failing = false;
  const fail = (message: string, cause?: unknown): void =>
    hooks.report(new NearbyError(ErrorCode.STORAGE_FAILED, message, { cause }));

  const write = (): void => {
    writing = true;
    const done = (error?: unknown, failed = false): void =>
      hooks.batch(() => {
        writing = false;
        if (failed && !failing) fail('storage write failed', error);
        failing = failed;
        if (dirty) write();
      });
    // Read a microtask later: every change of the current entry point is in this write.
    call(() => {
      dirty = false;
      const samples = hooks.read();
      return samples.length === 0 && storage.removeItem
        ? storage.removeItem(key)
        : storage.setItem(key, JSON.stringify({ v: 1, samples }));
    }).then(() => done(), (error: unknown) => done(error, true));
  };

  const load = (text: string | null | undefined): void => {
    loaded = true;
    if (text != null) {
      let stored: unknown;
      try {
        const data = JSON.parse(text) as { v?: unknown; samples?: unknown } | null;
        if (data?.v === 1) stored = data.samples;
      } catch {
        // Unreadable: reported below.
      }
      if (!Array.isArray(stored)) {
        fail('stored samples unreadable: discarded');
        dirty = true;
      } else {
        const valid = stored.flatMap((sample: LocationSample) => {
          try {
            return typeof sample?.timestamp === 'number' ? [toSample(sample, 0)] : [];
          } catch {
            return [];
          }
        });
        if (valid.length < stored.length) {
          fail(`${stored.length - valid.length} invalid stored sample(s) discarded`);
          dirty = true;
        }
        hooks.restore(valid);
      }
    }
    if (dirty) write();
  };

  call(() => storage.getItem(key)).then(
    (text) => hooks.batch(() => load(text)),
    (error: unknown) =>
      hooks.batch(() => {
        fail('storage read failed', error);
        load(null);
      }),
  );

  return () => {
    dirty = true;
    if (loaded && !writing) write();
  };
}
