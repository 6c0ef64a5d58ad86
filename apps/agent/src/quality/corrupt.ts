// Controlled corruptions of real images, to check that the metrics rank damage correctly
// (FD must rise with noise and blur strength, as Heusel et al. 2017 show for FID, fig. 1).
import type { ImageBatch } from '@anneal/datasets/images';
import { seededRandom } from '@anneal/engine/metrics';

const clampByte = (v: number) => Math.min(255, Math.max(0, Math.round(v)));

/** Adds N(0, std^2) noise with std in [0, 1] image units; reproducible from `seed`. */
export function addNoise(batch: ImageBatch, std: number, seed = 0): ImageBatch {
  const random = seededRandom(seed);
  const images = Uint8Array.from(batch.images, (v) => {
    const u = Math.max(random(), 1e-12);
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    return clampByte(v + 255 * std * z);
  });
  return { ...batch, images };
}

/** Separable Gaussian blur with standard deviation `sigma` pixels, edges clamped. */
export function blur(batch: ImageBatch, sigma: number): ImageBatch {
  if (sigma <= 0) return batch;
  const radius = Math.ceil(3 * sigma);
  const kernel = Array.from({ length: 2 * radius + 1 }, (_, i) =>
    Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)),
  );
  const total = kernel.reduce((a, b) => a + b, 0);
  const k = kernel.map((v) => v / total);
  const { count, height: h, width: w, channels: c } = batch;
  const out = new Uint8Array(batch.images.length);
  const tmp = new Float64Array(h * w * c);
  for (let n = 0; n < count; n++) {
    const base = n * h * w * c;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let t = -radius; t <= radius; t++) {
            const xx = Math.min(w - 1, Math.max(0, x + t));
            s += (k[t + radius] as number) * (batch.images[base + (y * w + xx) * c + ch] as number);
          }
          tmp[(y * w + x) * c + ch] = s;
        }
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let t = -radius; t <= radius; t++) {
            const yy = Math.min(h - 1, Math.max(0, y + t));
            s += (k[t + radius] as number) * (tmp[(yy * w + x) * c + ch] as number);
          }
          out[base + (y * w + x) * c + ch] = clampByte(s);
        }
  }
  return { ...batch, images: out };
}
