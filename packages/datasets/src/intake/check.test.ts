import { deflateSync } from 'node:zlib';
import { crc32 } from '@anneal/core/crc32';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../folder/decode.ts';
import { checkImage, DEFAULT_LIMITS, decoderReason } from './check.ts';
import { readImageHeader } from './header.ts';

function chunk(type: string, data: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A PNG whose IHDR declares `width`x`height` but whose data is a few bytes: a bomb's header. */
function pngDeclaring(width: number, height: number, idat = deflateSync(Buffer.alloc(16))): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', idat),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** The JPEG with its frame header (SOF) rewritten to declare `width`x`height`. */
function jpegDeclaring(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let at = 2; at < out.length; ) {
    const marker = out[at + 1] as number;
    if (marker === 0xc0 || marker === 0xc2) {
      out.writeUInt16BE(height, at + 5);
      out.writeUInt16BE(width, at + 7);
      return out;
    }
    at += 2 + out.readUInt16BE(at + 2);
  }
  throw new Error('no SOF');
}

const gradient = (w: number, h: number, channels: 3 | 4 = 3) => {
  const px = Buffer.alloc(w * h * channels);
  for (let i = 0; i < w * h; i++)
    px.set([(i * 7) % 256, (i * 13) % 256, (i * 29) % 256, 200].slice(0, channels), i * channels);
  return sharp(px, { raw: { width: w, height: h, channels } });
};

let good: Record<string, Buffer>;
beforeAll(async () => {
  good = {
    'png rgb': await gradient(24, 16).png().toBuffer(),
    'png rgba': await gradient(24, 16, 4).png().toBuffer(),
    'png palette': await gradient(24, 16).png({ palette: true }).toBuffer(),
    'png 16-bit': await gradient(24, 16).toColourspace('rgb16').png().toBuffer(),
    'png grey': await gradient(24, 16).toColourspace('b-w').png().toBuffer(),
    'png interlaced': await gradient(24, 16).png({ progressive: true }).toBuffer(),
    'jpeg baseline': await gradient(40, 24).jpeg().toBuffer(),
    'jpeg progressive': await gradient(40, 24).jpeg({ progressive: true }).toBuffer(),
    'jpeg with EXIF': await gradient(40, 24).withMetadata({ orientation: 6 }).jpeg().toBuffer(),
    'jpeg cmyk': await gradient(40, 24).toColourspace('cmyk').jpeg().toBuffer(),
    'webp lossy': await gradient(40, 24).webp().toBuffer(),
    'webp lossless': await gradient(40, 24).webp({ lossless: true }).toBuffer(),
    'webp alpha': await gradient(40, 24, 4).webp().toBuffer(),
  };
});

/** A reason is a sentence: never empty, never ending in the colon of a missing detail. */
function expectNamedReason(reason: string | null) {
  expect(reason).not.toBeNull();
  expect((reason as string).trim()).not.toMatch(/:$/);
  expect((reason as string).length).toBeGreaterThan(12);
}

describe('checkImage', () => {
  it('accepts whole PNG, JPEG and WebP files of every common kind, and reads their size', async () => {
    for (const [kind, bytes] of Object.entries(good)) {
      expect([kind, await checkImage(bytes, DEFAULT_LIMITS)]).toEqual([kind, null]);
      const header = readImageHeader(bytes);
      const size = kind.startsWith('png') ? [24, 16] : [40, 24];
      expect([kind, header.ok && [header.width, header.height]]).toEqual([kind, size]);
    }
  });

  it('accepts the smallest images and a JPEG with stray bytes between segments, as the decoder does', async () => {
    const one = sharp({ create: { width: 1, height: 1, channels: 3, background: '#123456' } });
    for (const bytes of [
      await one.clone().png().toBuffer(),
      await one.clone().jpeg().toBuffer(),
      await one.clone().webp().toBuffer(),
      await one.clone().webp({ lossless: true }).toBuffer(),
    ])
      expect(await checkImage(bytes, DEFAULT_LIMITS)).toBeNull();
    // libjpeg skips "extraneous bytes before marker" with a warning; so does the header reader.
    const jpeg = good['jpeg baseline'] as Buffer;
    const app0 = 4 + jpeg.readUInt16BE(4); // SOI (2) + APP0 (2 + its length)
    const stray = Buffer.concat([
      jpeg.subarray(0, app0),
      Buffer.from([0x00, 0x12]),
      jpeg.subarray(app0),
    ]);
    expect(await checkImage(stray, DEFAULT_LIMITS)).toBeNull();
  });

  it('names what is wrong with files that are not images', async () => {
    const gif = await gradient(8, 8).gif().toBuffer();
    const cases: Array<[string, Uint8Array, string]> = [
      ['empty', new Uint8Array(0), 'file is empty (0 bytes)'],
      [
        'text named .png',
        Buffer.from('hello, this is a text file\nsecond line'),
        'not a PNG, JPEG or WebP image: it is text (starting "hello, this is a text file")',
      ],
      [
        'svg',
        Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'),
        'not a PNG, JPEG or WebP image: it is XML or SVG text',
      ],
      ['gif', gif, 'not a PNG, JPEG or WebP image: it is a GIF image'],
      [
        'binary junk',
        Buffer.from([0, 1, 2, 3, 250, 251, 252, 253, 9]),
        'not a PNG, JPEG or WebP image: unknown content (first bytes 00 01 02 03 fa fb fc fd)',
      ],
      [
        '4 bytes of PNG',
        (good['png rgb'] as Buffer).subarray(0, 4),
        'cut short: 4 byte(s), less than a PNG signature',
      ],
    ];
    for (const [kind, bytes, reason] of cases)
      expect([kind, await checkImage(bytes, DEFAULT_LIMITS)]).toEqual([kind, reason]);
  });

  it('refuses every prefix of a valid file as cut short, never with an empty reason', async () => {
    for (const kind of ['png rgb', 'jpeg progressive', 'webp lossless', 'webp lossy']) {
      const bytes = good[kind] as Buffer;
      for (let n = 1; n < bytes.length; n++) {
        const reason = await checkImage(bytes.subarray(0, n), DEFAULT_LIMITS);
        expectNamedReason(reason);
        expect([kind, n, reason]).toEqual([kind, n, expect.stringMatching(/^cut short: /)]);
      }
    }
  });

  it('refuses a corrupt PNG chunk by its CRC and names the chunk', async () => {
    const bytes = Buffer.from(good['png rgb'] as Buffer);
    const idat = bytes.indexOf('IDAT');
    bytes[idat + 10] = (bytes[idat + 10] as number) ^ 0xff;
    expect(await checkImage(bytes, DEFAULT_LIMITS)).toBe(
      `corrupt PNG: the IDAT chunk at byte ${idat - 4} fails its CRC check`,
    );
  });

  it('names the decoder when the data is damaged but the container is whole', async () => {
    // Valid chunks and CRCs around data that is not zlib: only the decoder can tell.
    const reason = await checkImage(
      pngDeclaring(4, 4, Buffer.from('not deflate data')),
      DEFAULT_LIMITS,
    );
    expectNamedReason(reason);
    expect(reason).toMatch(/^PNG data cannot be decoded: /);
  });

  it('reports a decompression bomb by its declared size against the pixel limit', async () => {
    const jpeg = good['jpeg baseline'] as Buffer;
    const cases: Array<[string, Uint8Array, string]> = [
      [
        'png',
        pngDeclaring(100_000, 100_000),
        'image is 100000x100000 px, over the 40,000,000 px limit',
      ],
      // Wider than libpng's own 1,000,000-pixel row limit, where sharp said only "corrupt header:".
      [
        'png, huge',
        pngDeclaring(2 ** 31 - 1, 2 ** 31 - 1),
        'image is 2147483647x2147483647 px, over the 40,000,000 px limit',
      ],
      [
        'jpeg',
        jpegDeclaring(jpeg, 65_000, 65_000),
        'image is 65000x65000 px, over the 40,000,000 px limit',
      ],
    ];
    for (const [kind, bytes, reason] of cases)
      expect([kind, await checkImage(bytes, DEFAULT_LIMITS)]).toEqual([kind, reason]);
    expect(await checkImage(good['png rgb'] as Buffer, { ...DEFAULT_LIMITS, maxPixels: 383 })).toBe(
      'image is 24x16 px, over the 383 px limit',
    );
    expect(
      await checkImage(good['png rgb'] as Buffer, { ...DEFAULT_LIMITS, maxPixels: 384 }),
    ).toBeNull();
  });

  it('refuses impossible sizes in headers by name', async () => {
    expect(await checkImage(pngDeclaring(0, 10), DEFAULT_LIMITS)).toBe(
      'corrupt PNG: IHDR declares a 0x10 image',
    );
    const jpeg = good['jpeg baseline'] as Buffer;
    expect(await checkImage(jpegDeclaring(jpeg, 40, 0), DEFAULT_LIMITS)).toBe(
      'corrupt JPEG: its frame header declares a 40x0 image',
    );
  });

  it('decodeImage says what is wrong instead of "corrupt header:"', async () => {
    const cut = (good['png rgb'] as Buffer).subarray(0, 60);
    const err = (await decodeImage(cut, 8, 'center-crop', DEFAULT_LIMITS).catch(
      (e: Error) => e,
    )) as Error;
    expect(err.message).toMatch(/^cut short: /);
  });
});

describe('decoderReason', () => {
  it('drops the empty detail after sharp’s prefix and repeated lines', () => {
    expect(decoderReason('PNG', 'Input buffer has corrupt header:')).toBe(
      'PNG data cannot be decoded: the decoder refused it without saying why',
    );
    expect(
      decoderReason(
        'JPEG',
        'Input buffer has corrupt header: VipsJpeg: premature end\nVipsJpeg: bad\nVipsJpeg: premature end',
      ),
    ).toBe('JPEG data cannot be decoded: VipsJpeg: premature end; VipsJpeg: bad');
  });
});
