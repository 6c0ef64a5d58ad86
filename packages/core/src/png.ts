import { deflateSync } from 'node:zlib';
import { crc32 } from './crc32.ts';

// A minimal, deterministic PNG encoder (8-bit grayscale, RGB or RGBA, no interlace), so the
// same pixels always give the same bytes. PNG spec: https://www.w3.org/TR/png-3/

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Encodes HWC uint8 pixels with 1 (gray), 3 (RGB) or 4 (RGBA) channels as PNG. */
export function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
): Buffer {
  if (pixels.length !== width * height * channels) {
    throw new Error(
      `encodePng: ${pixels.length} bytes do not make a ${width}x${height}x${channels} image`,
    );
  }
  const colorType = channels === 1 ? 0 : channels === 3 ? 2 : 6;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = colorType;
  const stride = width * channels;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter: none
    raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/**
 * Tiles N images (uint8 NHWC) into one grid image with `pad` pixels of `background`
 * between tiles; columns default to ceil(sqrt(N)).
 */
export function tileGrid(
  images: Uint8Array,
  shape: readonly [number, number, number, number],
  options: { columns?: number; pad?: number; background?: number } = {},
): { pixels: Uint8Array; width: number; height: number; channels: number } {
  const [n, h, w, c] = shape;
  const cols = options.columns ?? Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const pad = options.pad ?? 2;
  const width = cols * w + (cols + 1) * pad;
  const height = rows * h + (rows + 1) * pad;
  const pixels = new Uint8Array(width * height * c).fill(options.background ?? 255);
  for (let i = 0; i < n; i++) {
    const ox = pad + (i % cols) * (w + pad);
    const oy = pad + Math.floor(i / cols) * (h + pad);
    for (let y = 0; y < h; y++) {
      const src = (i * h + y) * w * c;
      pixels.set(images.subarray(src, src + w * c), ((oy + y) * width + ox) * c);
    }
  }
  return { pixels, width, height, channels: c };
}
