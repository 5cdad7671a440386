import { createHmac } from 'node:crypto';
import { FNV_OFFSET_BASIS, seededHash32 } from './hash32.js';

// Strangers at one distance from a viewer (the people of one display cell) are ordered by a rank
// only the server can compute: a hash of the stranger's user id keyed per viewer by the secret.
// It is stable for the viewer, differs between viewers, and costs a few arithmetic operations —
// a crowded cell is ranked without an HMAC per stranger.

/** A viewer's rank key: 64 bits of HMAC-SHA256(secret, "rank" + NUL + viewerId). */
export type RankKey = readonly [number, number];

export function rankKeyOf(secret: string, viewerId: string): RankKey {
  const digest = createHmac('sha256', secret).update(`rank\u0000${viewerId}`).digest();
  return [digest.readUInt32LE(0), digest.readUInt32LE(4)];
}

/** The stranger's rank for the viewer whose key this is: FNV-1a over the id's code units, seeded and finalised with the key. */
export function rankOf(key: RankKey, strangerId: string): number {
  return seededHash32(strangerId, key[0] ^ FNV_OFFSET_BASIS, key[1]);
}
