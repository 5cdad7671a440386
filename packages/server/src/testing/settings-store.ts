import { describe, expect, it, type TestContext } from 'vitest';
import type { SettingsStore, UserSettings } from '../adapters/types.js';

/**
 * What every {@link SettingsStore} must do. `make` returns an empty store for each test (or one
 * with a key prefix of its own); it receives the test context, so it may `ctx.skip()` when its
 * backend is not available. `mergeSettings` from `@nearby/server` is the reference for the merge.
 */
export function describeSettingsStoreContract(label: string, make: (ctx: TestContext) => Promise<SettingsStore>): void {
  describe(`SettingsStore contract: ${label}`, () => {
    it('returns what was saved, exactly, and nothing for a user who saved nothing', async (ctx) => {
      const store = await make(ctx);
      expect(await store.get('nobody')).toBeUndefined();
      const saved: UserSettings = { radiusKm: 2.5, sharing: false, radiusVersion: 1_767_225_600_123, sharingVersion: 1_767_225_600_124 };
      await store.set('alice', saved);
      expect(await store.get('alice')).toEqual(saved);
    });

    it('reads settings saved without versions back with versions 0', async (ctx) => {
      const store = await make(ctx);
      await store.set('bob', { radiusKm: 12, sharing: true });
      expect(await store.get('bob')).toEqual({ radiusKm: 12, sharing: true, radiusVersion: 0, sharingVersion: 0 });
    });

    it('merges per field by version: a late write of an older change never undoes a newer one', async (ctx) => {
      const store = await make(ctx);
      await store.set('carol', { radiusKm: 5, radiusVersion: 1_700_000_000_010, sharing: false, sharingVersion: 1_700_000_000_020 });
      // A radius change made later, carrying a sharing value from before the sharing change: only the radius moves.
      await store.set('carol', { radiusKm: 3, radiusVersion: 1_700_000_000_030, sharing: true, sharingVersion: 1_700_000_000_015 });
      expect(await store.get('carol')).toEqual({ radiusKm: 3, radiusVersion: 1_700_000_000_030, sharing: false, sharingVersion: 1_700_000_000_020 });
      // An equal version takes the new value; a higher one replaces the field.
      await store.set('carol', { radiusKm: 9, radiusVersion: 1_700_000_000_030, sharing: true, sharingVersion: 1_700_000_000_021 });
      expect(await store.get('carol')).toEqual({ radiusKm: 9, radiusVersion: 1_700_000_000_030, sharing: true, sharingVersion: 1_700_000_000_021 });
      // Any versioned change wins over settings saved without versions.
      await store.set('dave', { radiusKm: 4, sharing: true });
      await store.set('dave', { radiusKm: 6, radiusVersion: 1, sharing: false, sharingVersion: 1 });
      expect(await store.get('dave')).toEqual({ radiusKm: 6, radiusVersion: 1, sharing: false, sharingVersion: 1 });
    });

    it('keeps the newest of each field whatever order concurrent writers land in', async (ctx) => {
      const store = await make(ctx);
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          store.set('erin', { radiusKm: 1 + i, radiusVersion: 1000 + i, sharing: i % 2 === 0, sharingVersion: 2000 - i }),
        ),
      );
      expect(await store.get('erin')).toEqual({ radiusKm: 50, radiusVersion: 1049, sharing: true, sharingVersion: 2000 });
    });

    it('keeps user ids apart, whatever characters they hold, and hands out copies', async (ctx) => {
      const store = await make(ctx);
      const ids = ['ünïcødé 🚀', 'with:colons', 'with,commas', ' spaced '];
      for (const [i, id] of ids.entries()) await store.set(id, { radiusKm: i + 1, sharing: true, radiusVersion: i, sharingVersion: i });
      const read = await Promise.all(ids.map((id) => store.get(id)));
      expect(read.map((settings) => settings?.radiusKm)).toEqual([1, 2, 3, 4]);
      read[0]!.radiusKm = 99;
      expect((await store.get(ids[0]!))?.radiusKm).toBe(1);
    });
  });
}
