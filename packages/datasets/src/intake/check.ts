import sharp from 'sharp';
import { FORMAT_NAMES, readImageHeader } from './header.ts';

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

const count = (n: number) => n.toLocaleString('en-US');

/** The reason a file over the byte limit is refused; also used before reading it at all. */
export function fileTooLarge(size: number, limits: ImageLimits): string | null {
  return size > limits.maxFileBytes
    ? `file is ${count(size)} bytes, over the ${count(limits.maxFileBytes)}-byte limit`
    : null;
}

/**
 * A decoder error as a reason: sharp prefixes libvips' messages ("Input buffer has corrupt
 * header: ") and libvips often has none to add, which left reasons ending in a colon.
 * Repeated lines (libjpeg repeats its warnings) are said once.
 */
export function decoderReason(format: string, message: string): string {
  const detail = [
    ...new Set(
      message
        .replace(
          /^Input (buffer|file) (has corrupt header|contains unsupported image format):?/,
          '',
        )
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== ''),
    ),
  ].join('; ');
  return `${format} data cannot be decoded: ${detail || 'the decoder refused it without saying why'}`;
}

/**
 * Checks that a file is a whole, decodable PNG, JPEG or WebP within the limits, and says
 * why not by name: empty, another format or text, cut short, a corrupt chunk, a declared
 * size over the pixel limit (a decompression bomb is refused from its header, before any
 * pixel is allocated), or what the decoder reports. Every pixel is decoded, since headers
 * alone don't reveal damage inside the compressed data. Returns the reason, or null.
 */
export async function checkImage(bytes: Uint8Array, limits: ImageLimits): Promise<string | null> {
  const tooLarge = fileTooLarge(bytes.byteLength, limits);
  if (tooLarge) return tooLarge;
  const header = readImageHeader(bytes);
  if (!header.ok) return header.reason;
  const { width, height } = header;
  if (width * height > limits.maxPixels)
    return `image is ${width}x${height} px, over the ${count(limits.maxPixels)} px limit`;
  try {
    // failOn 'truncated' turns a cut-off file into an error instead of a grey-filled image.
    await sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'truncated' })
      .raw()
      .toBuffer();
    return null;
  } catch (err) {
    return decoderReason(FORMAT_NAMES[header.format], (err as Error).message);
  }
}
