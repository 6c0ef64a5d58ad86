import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodePng, tileGrid } from './png.ts';

describe('PNG encoding', () => {
  it('writes a valid signature, IHDR and the pixels back out of IDAT', () => {
    const pixels = Uint8Array.from({ length: 3 * 2 * 3 }, (_, i) => i * 10);
    const png = encodePng(pixels, 3, 2, 3);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.toString('ascii', 12, 16)).toBe('IHDR');
    expect(png.readUInt32BE(16)).toBe(3);
    expect(png.readUInt32BE(20)).toBe(2);
    expect(png[25]).toBe(2); // RGB
    const idatLen = png.readUInt32BE(33);
    expect(png.toString('ascii', 37, 41)).toBe('IDAT');
    const raw = inflateSync(png.subarray(41, 41 + idatLen));
    expect([...raw.subarray(1, 10)]).toEqual([...pixels.subarray(0, 9)]);
    expect(encodePng(pixels, 3, 2, 3).equals(png)).toBe(true);
  });

  it('refuses a buffer that does not match the size', () => {
    expect(() => encodePng(new Uint8Array(5), 2, 2, 1)).toThrow(
      /5 bytes do not make a 2x2x1 image/,
    );
  });

  it('tiles images into a padded grid', () => {
    const imgs = new Uint8Array(4 * 2 * 2).fill(0);
    const g = tileGrid(imgs, [4, 2, 2, 1], { pad: 1 });
    expect(g).toMatchObject({ width: 7, height: 7, channels: 1 });
    expect(g.pixels[0]).toBe(255);
    expect(g.pixels[1 * 7 + 1]).toBe(0);
  });
});
