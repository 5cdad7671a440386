import { createHmac } from 'node:crypto';
import type { LatLon, NearbyStranger, ServerFrame } from '@nearby/protocol';
import { RawPeer, at } from './raw-peer.js';

// Raw-frame helpers of the nearby-people tests (protocol.md §20).

/** The viewer's pseudonym for a stranger under `secret` (§20.1 rule 3), as a function of the two user ids. */
export function pseudonymFor(secret: string): (viewer: string, stranger: string) => string {
  return (viewer, stranger) => createHmac('sha256', secret).update(`${viewer}\u0000${stranger}`).digest('base64url').slice(0, 16);
}

/** Sends init with opt-ins (RawPeer.init takes only the friend fields) and resolves with the discovery_state after the snapshot. */
export async function join(p: RawPeer, point: LatLon, optIns: { discoverable?: boolean; seeStrangers?: boolean }): Promise<ServerFrame> {
  const from = p.frames.length;
  p.send({ type: 'init', v: 1, location: at(point.lat, point.lon), ...optIns });
  await p.waitFor((f) => f.type === 'snapshot', from);
  return p.waitFor((f) => f.type === 'discovery_state', from);
}

let seq = 0;
/** Sends one location frame with a single sample at `point`. */
export function move(p: RawPeer, point: LatLon): void {
  p.send({ type: 'location', seq: ++seq, samples: [at(point.lat, point.lon)] });
}

/** The viewer's list as its frames built it (upserts by id, removals, emptied by snapshots). */
export function listOf(p: RawPeer): Map<string, NearbyStranger> {
  const list = new Map<string, NearbyStranger>();
  for (const frame of p.frames) {
    if (frame.type === 'snapshot') list.clear();
    if (frame.type === 'stranger_update') for (const s of frame.strangers) list.set(s.id, s);
    if (frame.type === 'stranger_left') list.delete(frame.id);
  }
  return list;
}

/** Every number written in a frame's text, to check that no exact coordinate appears in it. */
export function numbersIn(text: string): number[] {
  return [...text.matchAll(/-?\d+(?:\.\d+)?(?:e[+-]?\d+)?/gi)].map((match) => Number(match[0]));
}
