import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import type { BehaviourEnv } from '../behaviours.js';
import { TestFriendGraph } from '../helpers/server-resource.js';
import type { ClusterEnv } from './cluster.js';

/** Polls `check` (an IPC or Redis round trip) until it holds; fails after `timeoutMs`. */
export async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(20);
  }
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/**
 * Waits until the cluster holds exactly `openConnections` connections, then fences twice: every
 * message a process published before (including one published after a Redis round trip, such as
 * a sign-off after the presence update) has been delivered to every process.
 */
export async function quiesce(cluster: ClusterEnv, openConnections: number): Promise<void> {
  await until(async () => {
    const all = await Promise.all(range(cluster.size).map((i) => cluster.stats(i)));
    return all.reduce((sum, s) => sum + s.server.connections, 0) === openConnections;
  }, `the cluster holds ${openConnections} connections`);
  await cluster.fence();
  await cluster.fence();
}

/**
 * The shared cluster for one test: a new friend graph; on release, no connection, user or
 * channel left on any process, and every message delivered. Tests use user ids of their own,
 * so what Redis keeps about earlier tests' users (positions, settings, presence) cannot leak.
 */
export function lease(cluster: ClusterEnv): { release(): Promise<void> } {
  cluster.graph = new TestFriendGraph();
  return {
    async release() {
      await quiesce(cluster, 0);
      for (const i of range(cluster.size)) {
        const { server } = await cluster.stats(i);
        expect({ server: i, users: server.users, channels: server.channels }).toEqual({ server: i, users: 0, channels: 0 });
      }
      expect(cluster.unexpectedExits).toEqual([]);
    },
  };
}

/** The behaviour suite's view of a cluster, with friend changes made on `friendsOn` (a process where the suite places no user). */
export function behaviourEnvOf(cluster: ClusterEnv, friendsOn = 2): BehaviourEnv {
  const slate = lease(cluster);
  return {
    graph: cluster.graph,
    urlFor: (userId, serverIndex) => cluster.urlFor(userId, serverIndex === undefined ? undefined : serverIndex % cluster.size),
    friendAdded: (a, b) => cluster.friendAdded(a, b, friendsOn),
    friendRemoved: (a, b) => cluster.friendRemoved(a, b, friendsOn),
    quiesce: (openConnections) => quiesce(cluster, openConnections),
    close: () => slate.release(),
  };
}
