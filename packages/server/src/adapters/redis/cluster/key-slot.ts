/** Number of hash slots in a Redis Cluster. */
export const SLOTS = 16_384;

/** CRC16-CCITT (XMODEM) lookup table, the checksum Redis Cluster hashes keys with. */
const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    table[i] = crc & 0xffff;
  }
  return table;
})();

function crcByte(crc: number, byte: number): number {
  return ((crc << 8) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff]!) & 0xffff;
}

/**
 * Hash slot of a key or shard channel, as Redis Cluster defines it (`CLUSTER KEYSLOT`): CRC16
 * of its UTF-8 bytes modulo 16384, hashing only the part between the first `{` and the next `}`
 * when that part is not empty (a hash tag), so keys sharing a tag share a slot. Computed on the
 * string directly, without encoding it into a buffer, because it runs on every publish.
 */
export function keySlot(key: string): number {
  let start = 0;
  let end = key.length;
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) {
      start = open + 1;
      end = close;
    }
  }
  let crc = 0;
  for (let i = start; i < end; i++) {
    let code = key.charCodeAt(i);
    if (code < 0x80) {
      crc = crcByte(crc, code);
      continue;
    }
    if (code < 0x800) {
      crc = crcByte(crc, 0xc0 | (code >> 6));
      crc = crcByte(crc, 0x80 | (code & 0x3f));
      continue;
    }
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < end) {
      const low = key.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        const point = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        crc = crcByte(crc, 0xf0 | (point >> 18));
        crc = crcByte(crc, 0x80 | ((point >> 12) & 0x3f));
        crc = crcByte(crc, 0x80 | ((point >> 6) & 0x3f));
        crc = crcByte(crc, 0x80 | (point & 0x3f));
        i++;
        continue;
      }
    }
    // A lone surrogate is encoded as U+FFFD, as Node's UTF-8 encoder does.
    if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd;
    crc = crcByte(crc, 0xe0 | (code >> 12));
    crc = crcByte(crc, 0x80 | ((code >> 6) & 0x3f));
    crc = crcByte(crc, 0x80 | (code & 0x3f));
  }
  return crc & (SLOTS - 1);
}
