import sharp from 'sharp';
import type { FitPolicy } from '../hash/manifest.ts';
import { checkImage, decoderReason, type ImageLimits } from '../intake/check.ts';

export { checkImage, DEFAULT_LIMITS, type ImageLimits } from '../intake/check.ts';

/** sharp's `fit` for each policy: cover crops the centre, contain letterboxes in black, fill stretches. */
const SHARP_FIT = { 'center-crop': 'cover', pad: 'contain', stretch: 'fill' } as const;

function sharpInput(bytes: Uint8Array, limits: ImageLimits) {
  // failOn 'truncated' turns a cut-off file into an error instead of a grey-filled image.
  return sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'truncated' });
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
  return decodeImageTo(bytes, { width: resolution, height: resolution }, fit, limits);
}

/**
 * Decodes to an RGB uint8 HWC image of `size` (a multi-resolution bucket) under the fit
 * policy, as decodeImage does for squares.
 */
export async function decodeImageTo(
  bytes: Uint8Array,
  size: { width: number; height: number },
  fit: FitPolicy,
  limits: ImageLimits,
): Promise<Uint8Array> {
  const { data, info } = await sharpInput(bytes, limits)
    .rotate()
    .flatten({ background: '#000000' })
    .resize(size.width, size.height, {
      fit: SHARP_FIT[fit],
      position: 'centre',
      background: '#000000',
    })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true })
    .catch(async (err: Error) => {
      // sharp's message can be empty after its prefix ("corrupt header:"); say what is wrong.
      throw new Error((await checkImage(bytes, limits)) ?? decoderReason('image', err.message), {
        cause: err,
      });
    });
  if (info.width !== size.width || info.height !== size.height || info.channels !== 3) {
    throw new Error(
      `decoded to ${info.width}x${info.height}x${info.channels}, expected ${size.width}x${size.height}x3`,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Width and height as displayed (EXIF orientation applied). */
export async function imageSize(
  bytes: Uint8Array,
  limits: ImageLimits,
): Promise<{ width: number; height: number }> {
  const m = await sharpInput(bytes, limits).metadata();
  return m.autoOrient;
}
