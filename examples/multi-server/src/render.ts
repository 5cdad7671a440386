/** Text rendering of one second of the run. */
import type { NearbyClient } from '@nearby/client';
import type { ServerStatsMessage } from './servers.js';
import { YOU } from './world.js';

export interface View {
  elapsedS: number;
  redisUrl: string;
  balancerUrl: string;
  /** Per server process: number, port, the latest counters (undefined if it did not answer). */
  servers: Array<{ index: number; port: number; stats: ServerStatsMessage | undefined }>;
  /** Connections the balancer handed to each server. */
  accepted: readonly number[];
  clients: ReadonlyMap<string, NearbyClient>;
  friendsOfYou: number;
  now: number;
}

export interface CrossProcess {
  /** List entries over the whole crowd. */
  entries: number;
  /** Of those, entries about a friend connected to another process than the viewer. */
  crossProcess: number;
}

/** Which process each user is connected to, from the servers' reports. */
function processOfUser(view: View): Map<string, number> {
  const where = new Map<string, number>();
  for (const server of view.servers) for (const user of server.stats?.users ?? []) where.set(user, server.index);
  return where;
}

/** Counts the list entries of every user whose friend sits on another process. */
export function crossProcessSightings(view: View): CrossProcess {
  const where = processOfUser(view);
  let entries = 0;
  let crossProcess = 0;
  for (const [userId, client] of view.clients) {
    const mine = where.get(userId);
    for (const friend of client.getSnapshot().friends) {
      entries++;
      const theirs = where.get(friend.userId);
      if (mine !== undefined && theirs !== undefined && mine !== theirs) crossProcess++;
    }
  }
  return { entries, crossProcess };
}

const age = (ms: number) => `${Math.max(0, Math.round(ms / 1000))} s ago`;
const at = (index: number | undefined) => (index === undefined ? '#?' : `#${index}`);

export function render(view: View): string {
  const lines: string[] = [];
  lines.push(`t=${view.elapsedS}s  ${view.servers.length} server processes on ${view.redisUrl}; clients use ${view.balancerUrl}`);
  for (const server of view.servers) {
    const s = server.stats;
    if (s === undefined) {
      lines.push(`  ${at(server.index)} :${server.port}  (no answer)`);
      continue;
    }
    const p = s.pubsub;
    lines.push(
      `  ${at(server.index)} :${server.port} ${s.stats.state.padEnd(9)} ` +
        `conns ${String(s.stats.connections).padStart(3)}  loc frames ${String(s.stats.locationFrames).padStart(4)}  ` +
        `channels ${String(p.channels).padStart(3)}  | pub/sub published ${String(p.published).padStart(4)} ` +
        `received ${String(p.received).padStart(5)} dropped ${p.dropped} SUBSCRIBEs ${p.subscribeCommands}` +
        (p.resubscribed > 0 ? ` resubscribed ${p.resubscribed}` : '') + // after a Redis reconnect
        (s.errors > 0 ? `  | errors ${s.errors}: ${s.lastError}` : ''),
    );
  }
  lines.push(`  balancer: connections handed out ${view.accepted.map((n, i) => `${at(i + 1)} ${n}`).join(', ')}`);

  const where = processOfUser(view);
  const you = view.clients.get(YOU)!.getSnapshot();
  const mine = where.get(YOU);
  lines.push(
    `"${YOU}" (${you.state}, on ${at(mine)}) sees ${you.friends.length} of ${view.friendsOfYou} friends ` +
      `within ${you.radiusKm ?? '?'} km:`,
  );
  for (const friend of you.friends) {
    const theirs = where.get(friend.userId);
    lines.push(
      `  ${friend.userId.padEnd(7)} ${`${friend.distanceKm.toFixed(2)} km`.padStart(8)}  ${age(view.now - friend.updatedAt).padEnd(9)}` +
        `  on ${at(theirs)}${theirs !== undefined && mine !== undefined && theirs !== mine ? '  (another process)' : ''}`,
    );
  }
  const connected = [...view.clients.values()].filter((client) => client.getSnapshot().state === 'connected').length;
  const { entries, crossProcess } = crossProcessSightings(view);
  lines.push(
    `crowd: ${connected}/${view.clients.size} connected; ${entries} list entries, ${crossProcess} of them a friend on another process`,
  );
  return lines.join('\n');
}
