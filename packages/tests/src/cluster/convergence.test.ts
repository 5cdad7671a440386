import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { redisAvailable } from '../helpers/redis-server.js';
import { Scenario, type Convergence } from './convergence.js';
import { describePlan, type ChangePlan } from './change-plan.js';

/**
 * Convergence after faults: 27 real NearbyClients on three server processes over one
 * redis-server. During each fault the test unfriends a pair, befriends a pair, turns one user's
 * sharing off and another's on, changes a radius and signs one user off; once the fault is over
 * every client sends a fresh fix, and every list must then equal the truth the test computes
 * (same members, distances within 50 m) within the bound, and stay so.
 */

/** Longest time from the end of a fault until every list is right. */
export const CONVERGENCE_BOUND_MS = 10_000;

/** A crashed process counts as holding its users this long, so a sign-off behind a crash converges within the bound. */
const LIVENESS_TTL_MS = 3_000;
/** Long enough for every process to notice the bus is gone (its probe finds out within 3 s). */
const REDIS_DOWN_MS = 4_000;
const REDIS_PAUSE_MS = 10_000;
const DRAIN_WINDOW_MS = 3_000;
const FAULT_TEST_TIMEOUT_MS = 60_000;

function percent(share: number): string {
  return `${Math.round(share * 100)}%`;
}

/**
 * Fails, listing every wrong list, unless `result` reached 100 % within the bound. With a plan
 * (after a fault, not for the steady state before it), prints the CI line for `fault` first.
 */
async function expectConverged(s: Scenario, fault: string, result: Convergence, plan?: ChangePlan): Promise<void> {
  const ok = result.reachedMs !== undefined && result.reachedMs <= CONVERGENCE_BOUND_MS;
  const outcome = ok ? `100% after ${result.reachedMs} ms` : `${percent(result.lastShare)} after ${CONVERGENCE_BOUND_MS} ms, not converged`;
  if (plan !== undefined) console.log(`CONVERGENCE ${fault}: ${outcome} (min share ${percent(result.minShare)})`);
  if (ok) return;
  const details = [
    `${fault}: lists not right within ${CONVERGENCE_BOUND_MS} ms of the end of the fault (user@process their client is connected to)`,
    ...(plan === undefined ? [] : [`changes: ${describePlan(plan, (id) => s.where(id))}`]),
    ...(s.friendCallFailures.length === 0 ? [] : [`failed friend calls: ${s.friendCallFailures.join('; ')}`]),
    ...(await s.processReport()),
    ...result.mismatches,
  ];
  expect.fail(details.join('\n  '));
}

describe('lists converge after faults: real clients, 3 server processes, one redis-server', () => {
  let scenario: Scenario | undefined;

  afterEach(async () => {
    await scenario?.close();
    scenario = undefined;
  });

  /** A fresh town on a fresh cluster, every client connected and every list right before the fault. */
  async function steadyTown(fault: string): Promise<Scenario> {
    const s = await Scenario.start({ livenessTtlMs: LIVENESS_TTL_MS });
    scenario = s;
    await s.connectAll();
    const steady = await s.converge(performance.now(), CONVERGENCE_BOUND_MS);
    await expectConverged(s, `${fault}, steady state before the fault`, steady);
    return s;
  }

  /** After the fault: fresh fixes from everyone signed in, then every list must converge. */
  async function afterFault(s: Scenario, fault: string, endedAt: number, plan: ChangePlan): Promise<void> {
    s.freshFixes();
    await expectConverged(s, fault, await s.converge(endedAt, CONVERGENCE_BOUND_MS), plan);
    expect(s.cluster.unexpectedExits).toEqual([]);
  }

  it(
    'kill -9 of a server process: its clients move to the others',
    async (ctx) => {
      if (!redisAvailable()) return ctx.skip();
      const s = await steadyTown('kill-9');
      const killed = 1;
      const plan = s.plan({ prefer: (id) => s.homeOf(id) === killed });
      await s.cluster.kill(killed);
      // Settings of the killed process's users are changed while they reconnect; the clients assert them in init.
      await s.change(plan, (killed + 1) % s.cluster.size);
      await s.untilConnected(s.world.viewers());
      // Signed off on the process it moved to, while the dead one still counts as holding it.
      s.signOff(plan.signOff);
      const endedAt = performance.now();
      await afterFault(s, 'kill-9', endedAt, plan);
      for (const id of s.usersOn(killed)) expect(s.balancer.backendOf.get(id)).not.toBe(killed);
    },
    FAULT_TEST_TIMEOUT_MS,
  );

  it(
    'Redis killed and restarted empty',
    async (ctx) => {
      if (!redisAvailable()) return ctx.skip();
      const s = await steadyTown('redis-restart');
      const plan = s.plan();
      await s.redis.kill();
      const changed = s.change(plan, 0);
      s.signOff(plan.signOff);
      await sleep(REDIS_DOWN_MS);
      await s.redis.restart();
      const endedAt = performance.now();
      // The fresh fixes go out at once: some reach a process before it is reconnected, and the
      // process shares its users' positions again once its bus is back.
      await changed;
      await afterFault(s, 'redis-restart', endedAt, plan);
    },
    FAULT_TEST_TIMEOUT_MS,
  );

  it(
    'Redis paused for 10 s',
    async (ctx) => {
      if (!redisAvailable()) return ctx.skip();
      const s = await steadyTown('redis-pause');
      const plan = s.plan();
      s.redis.pause();
      const changed = s.change(plan, 0);
      s.signOff(plan.signOff);
      await sleep(REDIS_PAUSE_MS);
      s.redis.resume();
      const endedAt = performance.now();
      await changed;
      await afterFault(s, 'redis-pause', endedAt, plan);
    },
    FAULT_TEST_TIMEOUT_MS,
  );

  it(
    'drain of a server process: its clients move to the others',
    async (ctx) => {
      if (!redisAvailable()) return ctx.skip();
      const s = await steadyTown('drain');
      const drained = 2;
      // The sign-off is made on a process that stays: one made as the drain closes the connection would reach no server.
      const plan = s.plan({ prefer: (id, role) => (role === 'signOff' ? s.homeOf(id) !== drained : s.homeOf(id) === drained) });
      s.balancer.takeOut(drained);
      const draining = s.cluster.drain(drained, { windowMs: DRAIN_WINDOW_MS });
      await s.change(plan, (drained + 1) % s.cluster.size);
      s.signOff(plan.signOff);
      await draining;
      const endedAt = performance.now();
      await afterFault(s, 'drain', endedAt, plan);
      for (const id of s.usersOn(drained)) expect(s.balancer.backendOf.get(id)).not.toBe(drained);
    },
    FAULT_TEST_TIMEOUT_MS,
  );

  it(
    "one client's network black-holed until its heartbeat gives up",
    async (ctx) => {
      if (!redisAvailable()) return ctx.skip();
      const s = await steadyTown('blackhole');
      const plan = s.plan();
      // A user in no change, whose own list the changes alter.
      const victim = plan.witnesses.sharingOff;
      // What was wrong with the victim's list when its heartbeat gave up: it heard nothing of the changes.
      let staleWhenCut: string[] | undefined;
      s.client(victim).on('state', (state) => {
        if (state === 'reconnecting') staleWhenCut ??= s.world.diff(victim, s.client(victim).getSnapshot().friends);
      });
      expect(s.network(victim).blackhole()).toBeGreaterThan(0);
      await s.change(plan, 0);
      s.signOff(plan.signOff);
      await until(() => staleWhenCut !== undefined && s.client(victim).getSnapshot().state === 'connected', `${victim} reconnected`, 10_000);
      const endedAt = performance.now();
      expect(staleWhenCut).not.toEqual([]);
      await afterFault(s, 'blackhole', endedAt, plan);
    },
    FAULT_TEST_TIMEOUT_MS,
  );
});

async function until(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(20);
  }
}
