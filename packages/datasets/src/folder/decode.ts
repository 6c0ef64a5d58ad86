import sharp from 'sharp';
import type { FitPolicy } from '../hash/manifest.ts';

/** Decompression-bomb guards: a small file can declare a huge canvas, so both are capped. */
export interface ImageLimits {
  /** Largest file read, in bytes. */
  maxFileBytes: number;
  /** Largest width * height decoded (sharp's `limitInputPixels`). */
  maxPixels: number;
}

export const DEFAULT_LIMITS: ImageLimits = {
  maxFileBytes: 64 * 1024 * 1024,
  maxPixels: 40_000_000,
};

const FORMATS = new Set(['png', 'jpeg', 'webp']);

/** sharp's `fit` for each policy: cover crops the centre, contain letterboxes in black, fill stretches. */
const SHARP_FIT = { 'center-crop': 'cover', pad: 'contain', stretch: 'fill' } as const;

function sharpInput(bytes: Uint8Array, limits: ImageLimits) {
  // failOn 'truncated' turns a cut-off file into an error instead of a grey-filled image.
  return sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'truncated' });
}

/**
 * Checks a file is a whole, decodable PNG/JPEG/WebP within the limits, by decoding every
 * pixel (headers alone don't reveal truncation). Returns the reason it is not, or null.
 */
export async function checkImage(bytes: Uint8Array, limits: ImageLimits): Promise<string | null> {
  if (bytes.byteLength > limits.maxFileBytes) {
    return `file is ${bytes.byteLength} bytes, over the ${limits.maxFileBytes}-byte limit`;
  }
  try {
    // Headers only, without the pixel limit, so a bomb is reported as one rather than as unreadable.
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    if (!meta.format || !FORMATS.has(meta.format)) {
      return `format ${meta.format ?? 'unknown'} is not PNG, JPEG or WebP`;
    }
    if ((meta.width ?? 0) * (meta.height ?? 0) > limits.maxPixels) {
      return `image is ${meta.width}x${meta.height}, over the ${limits.maxPixels}-pixel limit`;
    }
    await sharpInput(bytes, limits).raw().toBuffer();
    return null;
  } catch (err) {
    return `not a readable image: ${(err as Error).message}`;
  }
}

/**
 * Decodes to an RGB uint8 HWC square of `resolution` under the fit policy. EXIF
 * orientation is applied and alpha is flattened onto black, so every image has 3 channels.
 */
export async function decodeImage(
  bytes: Uint8Array,
  resolution: number,
  fit: FitPolicy,
  limits: ImageLimits,
): Promise<Uint8Array> {
  const { data, info } = await sharpInput(bytes, limits)
    .rotate()
    .flatten({ background: '#000000' })
    .resize(resolution, resolution, {
      fit: SHARP_FIT[fit],
      position: 'centre',
      background: '#000000',
    })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== resolution || info.height !== resolution || info.channels !== 3) {
    throw new Error(
      `decoded to ${info.width}x${info.height}x${info.channels}, expected ${resolution}x${resolution}x3`,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
