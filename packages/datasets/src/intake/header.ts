import { crc32 } from '@anneal/core/crc32';

/** The formats a dataset may hold: what every agent's decoder reads the same way. */
export type ImageFormat = 'png' | 'jpeg' | 'webp';

export const FORMAT_NAMES: Record<ImageFormat, string> = { png: 'PNG', jpeg: 'JPEG', webp: 'WebP' };

/** What a file's own structure says, read without decoding a pixel. */
export type HeaderReading =
  | { ok: true; format: ImageFormat; width: number; height: number }
  | { ok: false; reason: string };

const bad = (reason: string): HeaderReading => ({ ok: false, reason });

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function startsWith(bytes: Uint8Array, prefix: ArrayLike<number>, at = 0): boolean {
  if (bytes.byteLength < at + prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false;
  return true;
}

const ascii = (bytes: Uint8Array, from: number, to: number) =>
  String.fromCharCode(...bytes.subarray(from, to));

const u32be = (b: Uint8Array, at: number) =>
  (((b[at] as number) << 24) |
    ((b[at + 1] as number) << 16) |
    ((b[at + 2] as number) << 8) |
    (b[at + 3] as number)) >>>
  0;
const u16be = (b: Uint8Array, at: number) => ((b[at] as number) << 8) | (b[at + 1] as number);
const u32le = (b: Uint8Array, at: number) =>
  ((b[at] as number) |
    ((b[at + 1] as number) << 8) |
    ((b[at + 2] as number) << 16) |
    ((b[at + 3] as number) << 24)) >>>
  0;
const u24le = (b: Uint8Array, at: number) =>
  (b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16);

/**
 * Reads the format, the declared size and the container structure of a PNG, JPEG or WebP
 * file: enough to say by name why a file is not one (empty, text, another format, cut
 * short, a chunk failing its CRC) and how large it claims to be, before any decoder runs.
 * The decoder's own messages are often empty for exactly these cases ("corrupt header:").
 */
export function readImageHeader(bytes: Uint8Array): HeaderReading {
  if (bytes.byteLength === 0) return bad('file is empty (0 bytes)');
  if (startsWith(bytes, PNG_SIGNATURE)) return readPng(bytes);
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return readJpeg(bytes);
  if (startsWith(bytes, [0x52, 0x49, 0x46, 0x46]) && startsWith(bytes, [0x57, 0x45, 0x42, 0x50], 8))
    return readWebp(bytes);
  // The start of a signature and nothing more: the file was cut off inside its header.
  for (const [name, sig] of [
    ['a PNG signature', PNG_SIGNATURE],
    ['a JPEG signature', [0xff, 0xd8, 0xff]],
    ['a WebP (RIFF) header', [0x52, 0x49, 0x46, 0x46, -1, -1, -1, -1, 0x57, 0x45, 0x42, 0x50]],
  ] as const) {
    const n = bytes.byteLength;
    if (n < sig.length && Array.from(bytes).every((b, i) => sig[i] === -1 || sig[i] === b))
      return bad(`cut short: ${n} byte(s), less than ${name}`);
  }
  return bad(`not a PNG, JPEG or WebP image: ${describeOther(bytes)}`);
}

/** Names what a file that is not one of ours looks like. */
function describeOther(bytes: Uint8Array): string {
  const other: Array<[string, number[], number?]> = [
    ['a GIF image', [0x47, 0x49, 0x46, 0x38]],
    ['a BMP image', [0x42, 0x4d]],
    ['a TIFF image', [0x49, 0x49, 0x2a, 0x00]],
    ['a TIFF image', [0x4d, 0x4d, 0x00, 0x2a]],
    ['an ICO image', [0x00, 0x00, 0x01, 0x00]],
    ['a HEIF/AVIF image', [0x66, 0x74, 0x79, 0x70], 4],
    ['a PDF document', [0x25, 0x50, 0x44, 0x46]],
    ['a zip archive', [0x50, 0x4b, 0x03, 0x04]],
    ['a RIFF file that is not WebP', [0x52, 0x49, 0x46, 0x46]],
  ];
  for (const [name, sig, at] of other) if (startsWith(bytes, sig, at ?? 0)) return `it is ${name}`;
  const head = bytes.subarray(0, 512);
  let text = true;
  for (const b of head) {
    if (b < 0x09 || (b > 0x0d && b < 0x20 && b !== 0x1b) || b === 0x7f) {
      text = false;
      break;
    }
  }
  if (text) {
    const start = new TextDecoder('utf-8').decode(bytes.subarray(0, 64)).trimStart();
    if (/^<(\?xml|svg)/i.test(start)) return 'it is XML or SVG text';
    const shown = start.split(/\r?\n/)[0]?.slice(0, 32) ?? '';
    return `it is text${shown ? ` (starting "${shown}")` : ''}`;
  }
  const hex = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return `unknown content (first bytes ${hex})`;
}

const PNG_COLOUR_TYPES: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

/**
 * PNG: IHDR first, then every chunk whole, critical chunks passing their CRC, up to IEND
 * (PNG spec, sections 5.3 and 11.2). Ancillary chunks' CRCs are left to the decoder,
 * which only warns on them.
 */
function readPng(b: Uint8Array): HeaderReading {
  const n = b.byteLength;
  if (n < 8 + 8 + 13 + 4) return bad(`cut short: ${n} bytes end inside the PNG header (IHDR)`);
  if (u32be(b, 8) !== 13 || ascii(b, 12, 16) !== 'IHDR')
    return bad('corrupt PNG: the first chunk is not a 13-byte IHDR');
  const width = u32be(b, 16);
  const height = u32be(b, 20);
  const depth = b[24] as number;
  const colour = b[25] as number;
  if (crc32(b.subarray(12, 29)) !== u32be(b, 29))
    return bad('corrupt PNG: the IHDR chunk fails its CRC check');
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff)
    return bad(`corrupt PNG: IHDR declares a ${width}x${height} image`);
  if (!PNG_COLOUR_TYPES[colour]?.includes(depth))
    return bad(`corrupt PNG: IHDR declares bit depth ${depth} with colour type ${colour}`);
  let at = 33;
  let sawData = false;
  while (at + 8 <= n) {
    const length = u32be(b, at);
    const type = ascii(b, at + 4, at + 8);
    if (!/^[A-Za-z]{4}$/.test(type))
      return bad(`corrupt PNG: bytes at offset ${at} are not a chunk header`);
    if (length > 0x7fffffff || at + 12 + length > n)
      return bad(
        `cut short: the ${type} chunk at byte ${at} needs ${12 + length} bytes, the file ends ${n - at} bytes after it starts`,
      );
    const critical = type.charCodeAt(0) < 0x61; // an uppercase first letter (PNG spec 5.4)
    if (critical && crc32(b.subarray(at + 4, at + 8 + length)) !== u32be(b, at + 8 + length))
      return bad(`corrupt PNG: the ${type} chunk at byte ${at} fails its CRC check`);
    if (type === 'IDAT') sawData = true;
    if (type === 'IEND') {
      if (!sawData) return bad('corrupt PNG: IEND comes before any image data (IDAT)');
      return { ok: true, format: 'png', width, height };
    }
    at += 12 + length;
  }
  return bad(`cut short: the PNG ends after ${n} bytes without its IEND chunk`);
}

/** SOFn markers that carry the frame size (ITU T.81, B.2.2); C4, C8 and CC are not frames. */
const isFrameMarker = (m: number) =>
  m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

/**
 * JPEG: segments from SOI, a frame header (SOFn) with the size, entropy-coded scans, and
 * the EOI marker at the end (ITU T.81, Annex B). A missing EOI is a file cut short.
 */
function readJpeg(b: Uint8Array): HeaderReading {
  const n = b.byteLength;
  let at = 2;
  let size: { width: number; height: number } | null = null;
  while (at < n) {
    if (b[at] !== 0xff) {
      // Stray bytes before a marker: libjpeg warns ("extraneous bytes") and reads on, so do we.
      const next = b.indexOf(0xff, at);
      if (next < 0) break;
      at = next;
    }
    while (at < n && b[at] === 0xff) at++; // fill bytes
    if (at >= n) break;
    const marker = b[at] as number;
    at++;
    if (marker === 0xd9) {
      if (!size) return bad('corrupt JPEG: it ends (EOI) before any frame header (SOF)');
      return { ok: true, format: 'jpeg', ...size };
    }
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue; // no length
    if (at + 2 > n) break;
    const length = u16be(b, at);
    if (length < 2)
      return bad(
        `corrupt JPEG: marker 0xff${marker.toString(16)} at byte ${at - 2} has length ${length}`,
      );
    if (at + length > n) break;
    if (isFrameMarker(marker)) {
      if (length < 8)
        return bad(`corrupt JPEG: its frame header at byte ${at - 2} is ${length} bytes`);
      const height = u16be(b, at + 3);
      const width = u16be(b, at + 5);
      // A height of 0 is legal in T.81 (defined later by DNL) but no decoder we ship reads it.
      if (width === 0 || height === 0)
        return bad(`corrupt JPEG: its frame header declares a ${width}x${height} image`);
      size = { width, height };
    }
    at += length;
    if (marker === 0xda) {
      // Entropy-coded data runs to the next marker that is neither a stuffed 0xff00 nor RSTn.
      for (;;) {
        const ff = b.indexOf(0xff, at);
        if (ff < 0 || ff + 1 >= n) {
          at = n;
          break;
        }
        const next = b[ff + 1] as number;
        if (next === 0x00 || (next >= 0xd0 && next <= 0xd7) || next === 0xff) {
          at = ff + (next === 0xff ? 1 : 2);
          continue;
        }
        at = ff;
        break;
      }
    }
  }
  if (!size) return bad(`cut short: the JPEG ends after ${n} bytes, before its frame header (SOF)`);
  return bad(
    `cut short: the ${size.width}x${size.height} JPEG ends after ${n} bytes without its end-of-image marker`,
  );
}

/** WebP: a RIFF container whose declared length the file holds, then VP8, VP8L or VP8X. */
function readWebp(b: Uint8Array): HeaderReading {
  const n = b.byteLength;
  const declared = u32le(b, 4) + 8;
  if (declared > n)
    return bad(`cut short: the WebP's RIFF header declares ${declared} bytes, the file has ${n}`);
  const chunk = n >= 16 ? ascii(b, 12, 16) : '';
  // The bytes each first chunk needs to say the size: VP8L's 5, VP8's and VP8X's 10.
  if (n < (chunk === 'VP8L' ? 25 : 30))
    return bad(`cut short: ${n} bytes end inside the WebP header`);
  const at = 20;
  let width: number;
  let height: number;
  if (chunk === 'VP8 ') {
    // A key frame: 3-byte frame tag, start code 9d 01 2a, 14-bit sizes (RFC 6386, 9.1).
    if (!startsWith(b, [0x9d, 0x01, 0x2a], at + 3))
      return bad('corrupt WebP: the VP8 frame has no start code');
    width = ((b[at + 6] as number) | ((b[at + 7] as number) << 8)) & 0x3fff;
    height = ((b[at + 8] as number) | ((b[at + 9] as number) << 8)) & 0x3fff;
  } else if (chunk === 'VP8L') {
    // Signature 0x2f, then 14-bit width - 1 and height - 1 (WebP lossless spec, 3.2).
    if (b[at] !== 0x2f) return bad('corrupt WebP: the VP8L stream has no signature');
    const bits = u32le(b, at + 1);
    width = (bits & 0x3fff) + 1;
    height = ((bits >>> 14) & 0x3fff) + 1;
  } else if (chunk === 'VP8X') {
    width = u24le(b, at + 4) + 1;
    height = u24le(b, at + 7) + 1;
  } else {
    return bad(`corrupt WebP: unknown first chunk "${chunk.replace(/[^\x20-\x7e]/g, '?')}"`);
  }
  if (width === 0 || height === 0)
    return bad(`corrupt WebP: it declares a ${width}x${height} image`);
  return { ok: true, format: 'webp', width, height };
}
