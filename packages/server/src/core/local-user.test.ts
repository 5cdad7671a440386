import { describe, expect, it } from 'vitest';
import { LocalUser } from './local-user.js';

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('LocalUser task order', () => {
  it('order runs at once while nothing is queued', () => {
    const user = new LocalUser('alice', 8, true);
    const seen: string[] = [];
    user.order(() => seen.push('now'), () => undefined);
    expect(seen).toEqual(['now']);
  });

  it('order waits behind a change still waiting on a backend, and keeps the order asked for', async () => {
    const user = new LocalUser('alice', 8, true);
    const seen: string[] = [];
    let release: () => void = () => undefined;
    void user.run(async () => {
      await new Promise<void>((resolve) => (release = resolve));
      seen.push('slow change');
    });
    void user.run(() => {
      seen.push('sharing off');
    });
    user.order(() => seen.push('location 1'), () => undefined);
    user.order(() => seen.push('location 2'), () => undefined);
    await settle();
    expect(seen).toEqual([]);
    release();
    await settle();
    expect(seen).toEqual(['slow change', 'sharing off', 'location 1', 'location 2']);
    user.order(() => seen.push('after'), () => undefined);
    expect(seen.at(-1)).toBe('after');
  });

  it('a failing queued task goes to the error handler and does not stop the queue', async () => {
    const user = new LocalUser('alice', 8, true);
    const errors: unknown[] = [];
    const seen: string[] = [];
    void user.run(() => Promise.resolve());
    user.order(() => {
      throw new Error('boom');
    }, (error) => errors.push(error));
    void user.run(() => {
      seen.push('next');
    });
    await settle();
    expect(errors).toHaveLength(1);
    expect(seen).toEqual(['next']);
  });
});
