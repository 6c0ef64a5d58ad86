import { crc32 } from '@anneal/core/crc32';
import { describe, expect, it } from 'vitest';
import { cp437, zipEntryName } from './zip-names.ts';

describe('cp437', () => {
  it('maps the high half as unicode.org’s CP437.TXT does', () => {
    const high = cp437(Uint8Array.from({ length: 128 }, (_, i) => 0x80 + i));
    expect([...high]).toHaveLength(128);
    const at = (b: number) => high.codePointAt(b - 0x80);
    expect(at(0x80)).toBe(0x00c7); // Ç
    expect(at(0x82)).toBe(0x00e9); // é
    expect(at(0x9e)).toBe(0x20a7); // ₧
    expect(at(0xa9)).toBe(0x2310); // ⌐
    expect(at(0xc3)).toBe(0x251c); // ├
    expect(at(0xe1)).toBe(0x00df); // ß
    expect(at(0xe6)).toBe(0x00b5); // µ
    expect(at(0xfa)).toBe(0x00b7); // ·
    expect(at(0xff)).toBe(0x00a0); // no-break space
    expect(cp437(Buffer.from('plain/ascii.png'))).toBe('plain/ascii.png');
  });
});

describe('zipEntryName', () => {
  const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
  it('reads UTF-8 with the flag, and UTF-8 bytes without it (macOS Archive Utility)', () => {
    expect(zipEntryName(utf8('café/é.png'), 0x800)).toBe('café/é.png');
    expect(zipEntryName(utf8('café/é.png'), 0)).toBe('café/é.png');
    expect(zipEntryName(utf8('日本/猫.png'), 0)).toBe('日本/猫.png');
  });

  it('reads names that are not UTF-8 as CP437 (old Windows and DOS zippers)', () => {
    // "café" in CP437: é is 0x82, which cannot start a UTF-8 sequence.
    expect(
      zipEntryName(
        Uint8Array.from([0x63, 0x61, 0x66, 0x82, 0x2f, 0x41, 0x2e, 0x70, 0x6e, 0x67]),
        0,
      ),
    ).toBe('café/A.png');
    expect(zipEntryName(Uint8Array.from([0x8e, 0x94, 0x81, 0x2e, 0x6a, 0x70, 0x67]), 0)).toBe(
      'Äöü.jpg',
    );
  });

  it('prefers an Info-ZIP Unicode Path field whose CRC matches the stored name', () => {
    const raw = Uint8Array.from([0x63, 0x61, 0x66, 0x3f, 0x2e, 0x70, 0x6e, 0x67]); // "caf?.png"
    const field = (crc: number) => {
      const data = Buffer.alloc(5);
      data[0] = 1;
      data.writeUInt32LE(crc, 1);
      return { id: 0x7075, data: new Uint8Array(Buffer.concat([data, Buffer.from('café.png')])) };
    };
    expect(zipEntryName(raw, 0, [field(crc32(raw))])).toBe('café.png');
    // A stale field (the name was changed after it was written) is ignored, as the spec says.
    expect(zipEntryName(raw, 0, [field((crc32(raw) ^ 1) >>> 0)])).toBe('caf?.png');
  });

  it('turns Windows backslashes into slashes', () => {
    expect(zipEntryName(utf8('cats\\1.png'), 0)).toBe('cats/1.png');
  });
});
