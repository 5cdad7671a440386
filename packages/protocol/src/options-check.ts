import { ErrorCode } from './codes.js';
import { NearbyError } from './errors.js';

/**
 * Edit distance of `a` and `b` ignoring case: insertions, deletions, substitutions and swaps of
 * two adjacent characters each cost 1 (optimal string alignment, a restricted Damerau–Levenshtein).
 */
export function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      let cost = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) cost = Math.min(cost, before[j - 2]! + 1);
      row[j] = cost;
    }
    before = previous;
    previous = row;
  }
  return previous[b.length]!;
}

/**
 * The key of `known` nearest to `key`, when it is close enough to be what was meant: at most
 * one edit per three characters of the known key (at least one edit; a difference of case only
 * costs nothing), or the one is the other cut short (`maxBatch` for `maxBatchSamples`, at
 * least 4 characters). The first of equally near keys wins.
 */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  let nearest: string | undefined;
  let best = Infinity;
  const lower = key.toLowerCase();
  for (const candidate of known) {
    const other = candidate.toLowerCase();
    let distance = editDistance(lower, other);
    if (distance > Math.max(1, Math.floor(other.length / 3))) {
      const cut = Math.min(lower.length, other.length) >= 4 && (other.startsWith(lower) || lower.startsWith(other));
      if (!cut) continue;
      distance = Math.abs(lower.length - other.length) / 100 + 1;
    }
    if (distance < best) {
      best = distance;
      nearest = candidate;
    }
  }
  return nearest;
}

/**
 * Refuses an own key of `options` that is not in `known`, with a `NearbyError`
 * `invalid_argument` naming it with `path` before it (`rateLimit.`) and the nearest known key
 * when one is close: `unknown option radiusKM — did you mean radiusKm?`.
 */
export function checkOptionKeys(options: object, known: readonly string[], path = ''): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const nearest = nearestKey(key, known);
    throw new NearbyError(
      ErrorCode.INVALID_ARGUMENT,
      `unknown option ${path}${key}${nearest === undefined ? '' : ` — did you mean ${path}${nearest}?`}`,
    );
  }
}

/** `unknown` when `keys` names every key of `T`; otherwise a type the list cannot have, naming what it misses. */
export type ListsEveryKey<T, K extends readonly PropertyKey[]> = [Exclude<keyof T, K[number]>] extends [never]
  ? unknown
  : { readonly missingOptionKeys: Exclude<keyof T, K[number]> };

/**
 * The list of the option keys of `T`, checked by the compiler both ways: naming a key `T` does
 * not have, or leaving one out, fails to compile. `optionKeys<MyOptions>()(['a', 'b'])`.
 */
export function optionKeys<T>(): <const K extends readonly (keyof T & string)[]>(keys: K & ListsEveryKey<T, K>) => K {
  return (keys) => keys;
}
