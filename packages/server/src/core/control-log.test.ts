import { describe, expect, it } from 'vitest';
import { ControlLog } from './control-log.js';

describe('ControlLog', () => {
  it('keeps the latest change per subject until a later probe confirms it', () => {
    const log = new ControlLog();
    log.record({ k: 'off', s: 'a', u: 'alice', v: 1 }, 4);
    log.record({ k: 'rad', s: 'a', u: 'alice', r: 2, v: 2 }, 4);
    log.record({ k: 'fa', s: 'a', u: 'alice', f: 'bob', v: 3 }, 5);
    log.record({ k: 'on', s: 'a', u: 'alice', v: 4 }, 5);
    expect(log.unconfirmed()).toEqual([
      { k: 'rad', s: 'a', u: 'alice', r: 2, v: 2 },
      { k: 'fa', s: 'a', u: 'alice', f: 'bob', v: 3 },
      { k: 'on', s: 'a', u: 'alice', v: 4 },
    ]);
    // Probe 5 was sent after the changes recorded behind probe 4, not after those behind 5.
    log.confirm(5);
    expect(log.unconfirmed().map((m) => m.k)).toEqual(['fa', 'on']);
    log.confirm(6);
    expect(log.size).toBe(0);
  });

  it('keeps friendship changes of different pairs apart, and sign-offs per user', () => {
    const log = new ControlLog();
    log.record({ k: 'fa', s: 'a', u: 'alice', f: 'bob', v: 1 }, 0);
    log.record({ k: 'fr', s: 'a', u: 'alice', f: 'carol', v: 2 }, 0);
    log.record({ k: 'fr', s: 'a', u: 'alice', f: 'bob', v: 3 }, 0);
    log.record({ k: 'bye', s: 'a', u: 'dave', t: 4 }, 0);
    expect(log.unconfirmed()).toEqual([
      { k: 'fr', s: 'a', u: 'alice', f: 'carol', v: 2 },
      { k: 'fr', s: 'a', u: 'alice', f: 'bob', v: 3 },
      { k: 'bye', s: 'a', u: 'dave', t: 4 },
    ]);
  });
});
