import { crc32, deflateSync } from 'node:zlib';
import { encodePng } from '@anneal/core/png';

/** An 8x8 RGB PNG that differs for every `seed`: real, decodable pixels for upload tests. */
export function pngOf(seed: number, size = 8): Uint8Array<ArrayBuffer> {
  const px = new Uint8Array(size * size * 3);
  for (let i = 0; i < px.length; i++) px[i] = (seed * 37 + i * 11) % 256;
  return new Uint8Array(encodePng(px, size, size, 3));
}

function chunk(type: string, data: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A well-formed PNG whose header declares `width`x`height`: a decompression bomb's header. */
export function pngDeclaring(width: number, height: number): Uint8Array<ArrayBuffer> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('IDAT', deflateSync(Buffer.alloc(64))),
      chunk('IEND', new Uint8Array(0)),
    ]),
  );
}

/**
 * Image files an agent cannot train on, each with the reason the intake screen gives:
 * every kind the upload checks must name.
 */
export function badImages(): Record<string, { bytes: Uint8Array<ArrayBuffer>; reason: RegExp }> {
  const good = pngOf(99);
  const corrupt = new Uint8Array(good);
  const idat = Buffer.from(corrupt).indexOf('IDAT');
  corrupt[idat + 8] = (corrupt[idat + 8] as number) ^ 0xff;
  return {
    'empty.png': { bytes: new Uint8Array(0), reason: /^file is empty \(0 bytes\)$/ },
    'cut-short.png': {
      bytes: good.subarray(0, Math.floor(good.length / 2)),
      reason: /^cut short: the IDAT chunk at byte 33 needs \d+ bytes/,
    },
    'corrupt.png': {
      bytes: corrupt,
      reason: /^corrupt PNG: the IDAT chunk at byte 33 fails its CRC check$/,
    },
    'notes.png': {
      bytes: new TextEncoder().encode('a text file with an image name\n'),
      reason:
        /^not a PNG, JPEG or WebP image: it is text \(starting "a text file with an image name"\)$/,
    },
    'bomb.png': {
      bytes: pngDeclaring(100_000, 100_000),
      reason: /^image is 100000x100000 px, over the 40,000,000 px limit$/,
    },
  };
}
