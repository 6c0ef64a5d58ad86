// Paired fidelity between two image sets drawn from identical initial noise (a student or a
// short schedule against its reference): PSNR, SSIM and the distance between features.
import type { FeatureMatrix } from './linalg.ts';

/** NHWC uint8 images and their shape [n, h, w, c]. */
export interface ImageSet {
  pixels: Uint8Array;
  shape: readonly [number, number, number, number];
}

function checkPair(a: ImageSet, b: ImageSet): void {
  if (a.shape.some((v, i) => v !== b.shape[i]))
    throw new RangeError(`paired images differ in shape: [${a.shape}] vs [${b.shape}]`);
  const size = a.shape.reduce((x, y) => x * y, 1);
  if (a.pixels.length !== size || b.pixels.length !== size)
    throw new RangeError(`pixels do not match the shape [${a.shape}]`);
}

/**
 * Mean over images of PSNR = 10 log10(1 / MSE) with pixels in [0, 1]. Identical images give
 * Infinity, so a set where any pair is identical averages to Infinity.
 */
export function psnr(a: ImageSet, b: ImageSet): number {
  checkPair(a, b);
  const [n] = a.shape;
  const per = a.pixels.length / n;
  let total = 0;
  for (let i = 0; i < n; i++) {
    let se = 0;
    for (let p = i * per; p < (i + 1) * per; p++) {
      const diff = ((a.pixels[p] as number) - (b.pixels[p] as number)) / 255;
      se += diff * diff;
    }
    total += se === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10(per / se);
  }
  return total / n;
}

/** The normalized 1-D Gaussian of SSIM's 11x11 window (sigma 1.5), applied separably. */
function gaussianWindow(size = 11, sigma = 1.5): Float64Array {
  const w = new Float64Array(size);
  const c = (size - 1) / 2;
  let sum = 0;
  for (let i = 0; i < size; i++) {
    w[i] = Math.exp(-((i - c) ** 2) / (2 * sigma * sigma));
    sum += w[i] as number;
  }
  for (let i = 0; i < size; i++) w[i] = (w[i] as number) / sum;
  return w;
}

/** Valid-mode separable filtering of an h x w plane. */
function filterValid(plane: Float64Array, h: number, w: number, k: Float64Array): Float64Array {
  const s = k.length;
  const ow = w - s + 1;
  const oh = h - s + 1;
  const rows = new Float64Array(h * ow);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < ow; x++) {
      let v = 0;
      for (let t = 0; t < s; t++) v += (k[t] as number) * (plane[y * w + x + t] as number);
      rows[y * ow + x] = v;
    }
  const out = new Float64Array(oh * ow);
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++) {
      let v = 0;
      for (let t = 0; t < s; t++) v += (k[t] as number) * (rows[(y + t) * ow + x] as number);
      out[y * ow + x] = v;
    }
  return out;
}

/**
 * Mean SSIM (Wang et al. 2004, "Image Quality Assessment: From Error Visibility to
 * Structural Similarity", eq. 13 with the 11x11 Gaussian window of sigma 1.5, K1 = 0.01,
 * K2 = 0.03, L = 1) over every image, channel and valid window position. Images smaller
 * than the window use a window as large as the image.
 */
export function ssim(a: ImageSet, b: ImageSet): number {
  checkPair(a, b);
  const [n, h, w, c] = a.shape;
  const size = Math.min(11, h, w);
  const k = gaussianWindow(size, (1.5 * size) / 11);
  const C1 = 0.01 ** 2;
  const C2 = 0.03 ** 2;
  const x = new Float64Array(h * w);
  const y = new Float64Array(h * w);
  const xx = new Float64Array(h * w);
  const yy = new Float64Array(h * w);
  const xy = new Float64Array(h * w);
  let total = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      for (let p = 0; p < h * w; p++) {
        const xv = (a.pixels[(i * h * w + p) * c + ch] as number) / 255;
        const yv = (b.pixels[(i * h * w + p) * c + ch] as number) / 255;
        x[p] = xv;
        y[p] = yv;
        xx[p] = xv * xv;
        yy[p] = yv * yv;
        xy[p] = xv * yv;
      }
      const mx = filterValid(x, h, w, k);
      const my = filterValid(y, h, w, k);
      const sxx = filterValid(xx, h, w, k);
      const syy = filterValid(yy, h, w, k);
      const sxy = filterValid(xy, h, w, k);
      for (let p = 0; p < mx.length; p++) {
        const mux = mx[p] as number;
        const muy = my[p] as number;
        const vx = (sxx[p] as number) - mux * mux;
        const vy = (syy[p] as number) - muy * muy;
        const cxy = (sxy[p] as number) - mux * muy;
        total +=
          ((2 * mux * muy + C1) * (2 * cxy + C2)) / ((mux * mux + muy * muy + C1) * (vx + vy + C2));
        count++;
      }
    }
  }
  return total / count;
}

/** Mean Euclidean distance between paired feature rows. */
export function pairedFeatureDistance(a: FeatureMatrix, b: FeatureMatrix): number {
  if (a.n !== b.n || a.dim !== b.dim)
    throw new RangeError(`paired features differ in shape: ${a.n}x${a.dim} vs ${b.n}x${b.dim}`);
  let total = 0;
  for (let i = 0; i < a.n; i++) {
    let s = 0;
    for (let k = 0; k < a.dim; k++) {
      const diff = (a.data[i * a.dim + k] as number) - (b.data[i * a.dim + k] as number);
      s += diff * diff;
    }
    total += Math.sqrt(s);
  }
  return total / a.n;
}
