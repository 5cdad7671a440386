import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HashRing, hash32 } from './hash-ring.js';

/** With 160 virtual nodes every node's share stays within this of the fair share 1/n. */
const BALANCE_TOLERANCE = 0.35;
const KEYS = 20_000;

const nodeIds = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}` }));
const keysFor = (salt: string) => Array.from({ length: KEYS }, (_, i) => `nearby:u:${salt}-${i}`);

// Node ids as operators write them, and any salt for the keys.
const prefix = fc.stringMatching(/^[a-z][a-z0-9.-]{0,20}$/);

describe('HashRing (property-based)', () => {
  it(`balances keys: every node holds (1 ± ${BALANCE_TOLERANCE}) / n of them`, () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), prefix, fc.string({ maxLength: 8 }), (n, name, salt) => {
        const ring = new HashRing(nodeIds(name, n));
        const counts = new Map<string, number>();
        for (const key of keysFor(salt)) {
          const id = ring.lookup(key).id;
          counts.set(id, (counts.get(id) ?? 0) + 1);
        }
        for (const { id } of ring.nodes) {
          const share = ((counts.get(id) ?? 0) / KEYS) * n;
          expect(share).toBeGreaterThan(1 - BALANCE_TOLERANCE);
          expect(share).toBeLessThan(1 + BALANCE_TOLERANCE);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('adding one node to n moves about 1/(n+1) of the keys, every one of them to the new node', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), prefix, fc.string({ maxLength: 8 }), (n, name, salt) => {
        const ring = new HashRing(nodeIds(name, n));
        const bigger = ring.withNode({ id: `${name}-added` });
        let moved = 0;
        for (const key of keysFor(salt)) {
          const before = ring.lookup(key).id;
          const after = bigger.lookup(key).id;
          if (before === after) continue;
          moved++;
          expect(after).toBe(`${name}-added`);
        }
        const fraction = (moved / KEYS) * (n + 1);
        expect(fraction).toBeGreaterThan(1 - BALANCE_TOLERANCE);
        expect(fraction).toBeLessThan(1 + BALANCE_TOLERANCE);
      }),
      { numRuns: 30 },
    );
  });

  it('removing a node moves only the keys it held', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), fc.nat(), fc.string({ maxLength: 8 }), (n, pick, salt) => {
        const ring = new HashRing(nodeIds('redis', n));
        const gone = `redis-${pick % n}`;
        const smaller = ring.withoutNode(gone);
        for (const key of keysFor(salt).slice(0, 5_000)) {
          const before = ring.lookup(key).id;
          if (before !== gone) expect(smaller.lookup(key).id).toBe(before);
        }
      }),
      { numRuns: 20 },
    );
  });

  it('maps the same key to the same node, whatever the order the nodes were listed in', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(prefix, { minLength: 1, maxLength: 10 }),
        fc.array(fc.string(), { minLength: 1, maxLength: 50 }),
        (ids, keys) => {
          const nodes = ids.map((id) => ({ id }));
          const a = new HashRing(nodes);
          const b = new HashRing([...nodes].reverse());
          for (const key of keys) {
            expect(a.lookup(key).id).toBe(b.lookup(key).id);
            expect(a.lookup(key).id).toBe(a.lookup(key).id);
          }
        },
      ),
    );
  });
});

describe('HashRing', () => {
  it('refuses duplicate ids and nonsensical options, and an empty ring cannot look up', () => {
    expect(() => new HashRing([{ id: 'a' }, { id: 'a' }])).toThrow(/duplicate/);
    expect(() => new HashRing([{ id: 'a' }], { virtualNodes: 0 })).toThrow(/virtualNodes/);
    expect(() => new HashRing([]).lookup('x')).toThrow(expect.objectContaining({ code: 'adapter_unavailable' }));
  });

  it('returns the node objects it was given', () => {
    const node = { id: 'redis-a', url: 'redis://10.0.0.1:6379' };
    expect(new HashRing([node]).lookup('anything')).toBe(node);
  });

  it('hash32 is pinned: processes running different releases must build the same ring', () => {
    expect([hash32(''), hash32('a'), hash32('nearby:u:alice'), hash32('redis-1#0')]).toEqual([
      2872998923, 444641715, 1283805497, 652124265,
    ]);
  });
});
