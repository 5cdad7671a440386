import { describe, expect, it } from 'vitest';
import { decodeBusMessage, encodeBusMessage, type BusMessage } from './bus.js';

const every: BusMessage[] = [
  { k: 'loc', s: 'srv-1', u: 'alice', lat: 52.52, lon: -13.405, t: 1_700_000_000_000, e: 1_699_000_000_000 },
  { k: 'loc', s: 'srv-1', u: 'alice', lat: 0, lon: 0, t: 0, e: 0 },
  { k: 'off', s: 'srv-1', u: 'alice', v: 1_700_000_000_001 },
  { k: 'on', s: 'srv-2', u: 'bob', v: 2 },
  { k: 'bye', s: 'srv-2', u: 'bob', t: 1_700_000_000_002 },
  { k: 'rad', s: 'srv-3', u: 'carol', r: 12.5, v: 3 },
  { k: 'fa', s: 'srv-3', u: 'carol', f: 'dave', v: 4 },
  { k: 'fr', s: 'srv-3', u: 'carol', f: 'dave', v: 5 },
  { k: 'loc', s: 'srv-"quoted"', u: 'ünïcødé 🚀', lat: -90, lon: 180, t: 1, e: 1 },
];

describe('bus messages', () => {
  it.each(every.map((message) => [message.k, message] as const))('round-trips a %s message', (_kind, message) => {
    const text = encodeBusMessage(message);
    expect(typeof text).toBe('string');
    expect(decodeBusMessage(text)).toEqual(message);
  });

  it('covers every message kind', () => {
    expect(new Set(every.map((m) => m.k))).toEqual(new Set(['loc', 'off', 'on', 'bye', 'rad', 'fa', 'fr']));
  });

  it.each([
    ['empty string', ''],
    ['not JSON', 'loc alice 1 2'],
    ['truncated JSON', '{"k":"on","s":"a","u":"b"'],
    ['null', 'null'],
    ['a number', '42'],
    ['a string', '"on"'],
    ['an array', '[{"k":"on","s":"a","u":"b"}]'],
    ['an empty object', '{}'],
  ])('rejects %s', (_name, text) => {
    expect(decodeBusMessage(text)).toBeUndefined();
  });

  it.each([
    ['missing k', { s: 'a', u: 'b' }],
    ['unknown kind', { k: 'teleport', s: 'a', u: 'b' }],
    ['kind of the wrong type', { k: 1, s: 'a', u: 'b' }],
    ['missing s', { k: 'on', u: 'b' }],
    ['empty s', { k: 'on', s: '', u: 'b' }],
    ['numeric s', { k: 'on', s: 1, u: 'b' }],
    ['missing u', { k: 'off', s: 'a' }],
    ['empty u', { k: 'off', s: 'a', u: '' }],
    ['null u', { k: 'bye', s: 'a', u: null }],
    ['loc without lat', { k: 'loc', s: 'a', u: 'b', lon: 1, t: 1 }],
    ['loc without lon', { k: 'loc', s: 'a', u: 'b', lat: 1, t: 1 }],
    ['loc without t', { k: 'loc', s: 'a', u: 'b', lat: 1, lon: 1 }],
    ['loc with string lat', { k: 'loc', s: 'a', u: 'b', lat: '1', lon: 1, t: 1, e: 0 }],
    ['loc with null lon', { k: 'loc', s: 'a', u: 'b', lat: 1, lon: null, t: 1, e: 0 }],
    ['loc with boolean t', { k: 'loc', s: 'a', u: 'b', lat: 1, lon: 1, t: true, e: 0 }],
    ['rad without r', { k: 'rad', s: 'a', u: 'b', v: 1 }],
    ['rad with string r', { k: 'rad', s: 'a', u: 'b', r: '5', v: 1 }],
    ['fa without f', { k: 'fa', s: 'a', u: 'b', v: 1 }],
    ['fr with empty f', { k: 'fr', s: 'a', u: 'b', f: '', v: 1 }],
    ['fa with numeric f', { k: 'fa', s: 'a', u: 'b', f: 7, v: 1 }],
    ['loc without epoch', { k: 'loc', s: 'a', u: 'b', lat: 1, lon: 1, t: 1 }],
    ['off without version', { k: 'off', s: 'a', u: 'b' }],
    ['on with string version', { k: 'on', s: 'a', u: 'b', v: '1' }],
    ['bye without time', { k: 'bye', s: 'a', u: 'b' }],
    ['rad without version', { k: 'rad', s: 'a', u: 'b', r: 5 }],
    ['fr without version', { k: 'fr', s: 'a', u: 'b', f: 'c' }],
  ])('rejects %s', (_name, value) => {
    expect(decodeBusMessage(JSON.stringify(value))).toBeUndefined();
  });

  it('rejects non-finite numbers written by a non-JSON.stringify publisher', () => {
    expect(decodeBusMessage('{"k":"loc","s":"a","u":"b","lat":1e999,"lon":1,"t":1,"e":0}')).toBeUndefined();
    expect(decodeBusMessage('{"k":"rad","s":"a","u":"b","r":-1e999,"v":1}')).toBeUndefined();
    expect(decodeBusMessage('{"k":"off","s":"a","u":"b","v":1e999}')).toBeUndefined();
  });
});
