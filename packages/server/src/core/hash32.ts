/**
 * 32-bit FNV-1a over the UTF-16 code units from `seed`, with `tweak` mixed in before
 * MurmurHash3's fmix32 finaliser, so that similar strings land far apart. Unseeded, it is the
 * hash ring's {@link hash32}; seeded with a secret-derived key, a viewer's rank of strangers.
 */
export function seededHash32(text: string, seed: number, tweak: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= tweak;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The FNV-1a offset basis: the seed of the unkeyed hash. */
export const FNV_OFFSET_BASIS = 0x811c9dc5;
