import { describe, expect, it, type TestContext } from 'vitest';
import type { PresenceRegistry } from '../adapters/types.js';

/** Registries under test: each call of `peer` is one more process on the same backend. */
export interface PresenceRegistryUnderTest {
  /** The registry of one more process sharing the backend, connected (its `connect()` resolved). */
  peer(): Promise<PresenceRegistry>;
  /**
   * Ends the process of `registry` the way a crash does: it stops all work (refreshes included)
   * without removing anything. Required when the contract runs with `{ expires: true }`.
   */
  crash?(registry: PresenceRegistry): Promise<void>;
  /**
   * Lets `ms` of the registry's time pass: move an injected clock, or wait for real when the
   * backend keeps time itself (Redis expires keys on its own clock). Default: a real wait.
   */
  advance?(ms: number): Promise<void>;
  /**
   * Restarts the backend, losing its data; required when the contract runs with
   * `{ restarts: true }`, which checks that every process registers its users again.
   */
  restart?(): Promise<void>;
}

export interface PresenceRegistryContractOptions {
  /**
   * The registry has `expiryMs` (processes may crash independently): check that a crashed
   * process stops counting once it has passed. Needs `crash`. Default false.
   */
  expires?: boolean;
  /** The backend can be restarted (`restart`): check that presence is registered again. Default false. */
  restarts?: boolean;
}

const realWait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What every {@link PresenceRegistry} must do. `make` returns a backend for each test (fresh,
 * or keys of its own); it receives the test context, so it may `ctx.skip()` when its backend is
 * not available.
 */
export function describePresenceRegistryContract(
  label: string,
  make: (ctx: TestContext) => Promise<PresenceRegistryUnderTest>,
  options: PresenceRegistryContractOptions = {},
): void {
  describe(`PresenceRegistry contract: ${label}`, () => {
    it('counts the servers still holding a user, each once, across processes', async (ctx) => {
      const backend = await make(ctx);
      const [a, b] = [await backend.peer(), await backend.peer()];
      await a.add('alice', 's1');
      await b.add('alice', 's2');
      await b.add('alice', 's2');
      expect(await a.remove('alice', 's1')).toBe(1);
      expect(await b.remove('alice', 's2')).toBe(0);
      expect(await b.remove('alice', 's2')).toBe(0);
      expect(await a.remove('nobody', 's1')).toBe(0);
    });

    it('removing a server that never held the user only counts the others', async (ctx) => {
      const backend = await make(ctx);
      const [a, b] = [await backend.peer(), await backend.peer()];
      await a.add('bob', 's1');
      expect(await b.remove('bob', 's2')).toBe(1);
      expect(await a.remove('bob', 's1')).toBe(0);
    });

    it('keeps user ids apart, whatever characters they hold', async (ctx) => {
      const backend = await make(ctx);
      const a = await backend.peer();
      const ids = ['ünïcødé 🚀', 'with:colons', 'with,commas', ' spaced '];
      for (const [i, id] of ids.entries()) for (let s = 0; s <= i; s++) await a.add(id, `s${s}`);
      const counts = await Promise.all(ids.map((id) => a.remove(id, 'other')));
      expect(counts).toEqual([1, 2, 3, 4]);
    });

    if (options.expires === true) {
      it('stops counting a process that crashed once expiryMs has passed', async (ctx) => {
        const backend = await make(ctx);
        if (backend.crash === undefined) throw new Error('the contract runs with { expires: true } but the backend has no crash()');
        const { advance = realWait } = backend;
        const [alive, crashed, other] = [await backend.peer(), await backend.peer(), await backend.peer()];
        const expiryMs = crashed.expiryMs;
        expect(typeof expiryMs === 'number' && Number.isFinite(expiryMs) && expiryMs > 0).toBe(true);
        await alive.add('carol', 'alive');
        await crashed.add('carol', 'crashed');
        await other.add('carol', 'other');
        await backend.crash(crashed);
        // Until expiryMs has passed the crashed process may still count; after it, never.
        expect(await other.remove('carol', 'other')).toBeGreaterThanOrEqual(1);
        await advance(expiryMs! + 100);
        expect(await other.remove('carol', 'other')).toBe(1);
        expect(await alive.remove('carol', 'alive')).toBe(0);
      }, 60_000);
    }

    if (options.restarts === true) {
      it('registers every process\'s users again after the backend restarts without its data', async (ctx) => {
        const backend = await make(ctx);
        if (backend.restart === undefined) throw new Error('the contract runs with { restarts: true } but the backend has no restart()');
        const [a, b] = [await backend.peer(), await backend.peer()];
        await a.add('dora', 'proc-1');
        await a.add('eli', 'proc-1');
        await a.remove('eli', 'proc-1');
        await backend.restart();
        // Reads fail until the registries reconnect, and the first ones may come before the
        // registration is written again; keep asking.
        const deadline = Date.now() + 15_000;
        let count: number | undefined;
        while (count !== 1) {
          if (Date.now() > deadline) throw new Error(`dora was not registered again after the restart (count ${String(count)})`);
          count = await b.remove('dora', 'proc-2').catch(() => undefined);
          if (count !== 1) await realWait(100);
        }
        expect(await b.remove('eli', 'proc-2')).toBe(0);
      }, 30_000);
    }
  });
}
