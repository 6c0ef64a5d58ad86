import type { ImageBatch } from '@anneal/datasets/images';
import { describe, expect, it } from 'vitest';
import { addNoise, blur } from './corrupt.ts';

const batch = (pixels: number[], h: number, w: number): ImageBatch => ({
  images: Uint8Array.from(pixels),
  labels: new Int32Array(1),
  count: 1,
  height: h,
  width: w,
  channels: 1,
});

describe('corruptions', () => {
  it('blur keeps a flat image flat and spreads a point symmetrically', () => {
    expect([...blur(batch(new Array(25).fill(90), 5, 5), 1.5).images]).toEqual(
      new Array(25).fill(90),
    );
    const point = new Array(25).fill(0);
    point[12] = 255;
    const out = blur(batch(point, 5, 5), 1).images;
    expect(out[12]).toBeLessThan(255);
    expect(out[11]).toBeGreaterThan(0);
    expect(out[11]).toBe(out[13]);
    expect(out[7]).toBe(out[17]);
  });

  it('noise of std 0 is the identity, and more noise moves pixels further', () => {
    const b = batch(new Array(400).fill(128), 20, 20);
    expect([...addNoise(b, 0).images]).toEqual([...b.images]);
    const spread = (x: ImageBatch) =>
      Math.sqrt(x.images.reduce((a, v) => a + (v - 128) ** 2, 0) / x.images.length);
    const low = spread(addNoise(b, 0.05, 1));
    const high = spread(addNoise(b, 0.2, 1));
    expect(low).toBeGreaterThan(0.05 * 255 * 0.8);
    expect(low).toBeLessThan(0.05 * 255 * 1.2);
    expect(high).toBeGreaterThan(3 * low);
  });
});
