import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SLOTS, keySlot } from './key-slot.js';

/** The bitwise CRC16-XMODEM of the key's UTF-8 bytes, as the Redis Cluster specification gives it. */
function referenceSlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  let from = 0;
  let to = bytes.length;
  const open = bytes.indexOf('{');
  if (open !== -1) {
    const close = bytes.indexOf('}', open + 1);
    if (close > open + 1) {
      from = open + 1;
      to = close;
    }
  }
  let crc = 0;
  for (let i = from; i < to; i++) {
    crc ^= bytes[i]! << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % SLOTS;
}

describe('keySlot', () => {
  it('gives the slots redis-server answers to CLUSTER KEYSLOT', () => {
    // Answers of a redis-server 7 with cluster-enabled yes.
    const known: Array<[string, number]> = [
      ['123456789', 12739], // the specification's CRC16 check value, 0x31C3
      ['foo', 12182],
      ['bar', 5061],
      ['hello', 866],
      ['somekey', 11058],
      ['', 0],
      ['nearby:u:alice', 14113],
      ['päivää', 5250],
      ['🛰️-sat', 11732],
    ];
    for (const [key, slot] of known) expect(keySlot(key), key).toBe(slot);
  });

  it('hashes only a non-empty hash tag: the part between the first { and the next }', () => {
    expect(keySlot('{user1000}.following')).toBe(3443);
    expect(keySlot('{user1000}.followers')).toBe(3443);
    expect(keySlot('user1000')).toBe(3443);
    expect(keySlot('foo{bar}{zap}')).toBe(5061); // the first tag: "bar"
    expect(keySlot('foo{{bar}}zap')).toBe(4015); // the tag is "{bar"
    expect(keySlot('{bar')).toBe(4015);
    expect(keySlot('foo{}{bar}')).toBe(8363); // an empty first tag: the whole key
    expect(keySlot('{}')).toBe(15257);
    expect(keySlot('a{b}{c}')).toBe(3300);
    expect(keySlot('nearby:u:{alice}:x')).toBe(749);
  });

  it('matches the byte-wise definition for any string, lone surrogates included', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (key) => {
        expect(keySlot(key)).toBe(referenceSlot(key));
      }),
      { numRuns: 500 },
    );
    for (const key of ['\ud800', 'a\udc00b', '{\ud83d}x', 'x\ud83d']) expect(keySlot(key), JSON.stringify(key)).toBe(referenceSlot(key));
  });
});
