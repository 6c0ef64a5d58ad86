import { describe, expect, it } from 'vitest';
import { crc32 } from './crc32.ts';

const ascii = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

describe('crc32', () => {
  it('gives the published check values', () => {
    // The check value of CRC-32/ISO-HDLC (the zip and PNG CRC) in every CRC catalogue.
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array())).toBe(0);
    expect(crc32(ascii('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
    // PNG spec: the CRC of an IEND chunk (type, no data) is AE 42 60 82.
    expect(crc32(ascii('IEND'))).toBe(0xae426082);
  });

  it('covers every byte value and stays unsigned', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const c = crc32(all);
    expect(c).toBe(0x29058c73);
    expect(c).toBeGreaterThanOrEqual(0);
    expect(crc32(new Uint8Array(1 << 16).fill(0xff))).toBeGreaterThanOrEqual(0);
  });
});
