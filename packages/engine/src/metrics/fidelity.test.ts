import { describe, expect, it } from 'vitest';
import { classAccuracy } from './accuracy.ts';
import { type ImageSet, pairedFeatureDistance, psnr, ssim } from './fidelity.ts';
import { featureMatrix } from './linalg.ts';
import { seededRandom } from './order.ts';

const shape = [2, 16, 16, 3] as const;
const size = 2 * 16 * 16 * 3;
const constant = (v: number): ImageSet => ({ pixels: new Uint8Array(size).fill(v), shape });
function noisy(seed: number): ImageSet {
  const r = seededRandom(seed);
  return { pixels: Uint8Array.from({ length: size }, () => Math.floor(r() * 256)), shape };
}

describe('PSNR', () => {
  it('is Infinity for identical images and 10 log10(1/MSE) otherwise', () => {
    const a = noisy(1);
    expect(psnr(a, a)).toBe(Number.POSITIVE_INFINITY);
    // 0 vs 51/255 = 0.2: MSE 0.04, PSNR 10 log10(25).
    expect(psnr(constant(0), constant(51))).toBeCloseTo(10 * Math.log10(25), 10);
  });
  it('rejects mismatched shapes', () => {
    expect(() => psnr(constant(0), { pixels: new Uint8Array(10), shape: [1, 1, 10, 1] })).toThrow(
      /differ in shape/,
    );
  });
});

describe('SSIM', () => {
  it('is 1 for identical images', () => {
    const a = noisy(2);
    expect(ssim(a, a)).toBeCloseTo(1, 12);
  });
  it('reduces to the luminance term for constant images', () => {
    const x = 100 / 255;
    const y = 150 / 255;
    const C1 = 0.01 ** 2;
    expect(ssim(constant(100), constant(150))).toBeCloseTo(
      (2 * x * y + C1) / (x * x + y * y + C1),
      10,
    );
  });
  it('falls as noise is added and is symmetric', () => {
    const base = noisy(3);
    const corrupt = (amount: number): ImageSet => {
      const r = seededRandom(9);
      return {
        shape,
        pixels: Uint8Array.from(base.pixels, (v) =>
          Math.min(255, Math.max(0, Math.round(v + amount * (r() - 0.5)))),
        ),
      };
    };
    const s1 = ssim(base, corrupt(20));
    const s2 = ssim(base, corrupt(80));
    expect(s1).toBeLessThan(1);
    expect(s2).toBeLessThan(s1);
    expect(ssim(corrupt(80), base)).toBeCloseTo(s2, 12);
  });
});

describe('paired feature distance and class accuracy', () => {
  it('measure what they say', () => {
    const a = featureMatrix([0, 0, 1, 1], 2, 2);
    const b = featureMatrix([3, 4, 1, 1], 2, 2);
    expect(pairedFeatureDistance(a, b)).toBeCloseTo(2.5, 12);
    expect(classAccuracy([0.1, 0.9, 0.8, 0.2, 0.3, 0.7], 2, [1, 0, 0])).toBeCloseTo(2 / 3, 12);
    expect(() => classAccuracy([1, 2, 3], 2, [0, 1])).toThrow(/3 logits/);
  });
});
