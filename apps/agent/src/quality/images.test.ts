import { describe, expect, it } from 'vitest';
import { pickStratified, stratifiable } from './images.ts';

// 3 classes with 5, 4 and 3 images, interleaved as a real split's labels are.
const labels = Int32Array.from([0, 1, 2, 0, 1, 0, 2, 1, 0, 2, 1, 0]);

describe('pickStratified', () => {
  it('gives row i an image of class i mod K, each image once', () => {
    for (const n of [3, 7, 9, 10]) {
      const picked = pickStratified(labels, 3, n, 5);
      expect(picked.length).toBe(n);
      expect(new Set(picked).size).toBe(n);
      expect(Array.from(picked, (index) => labels[index])).toEqual(
        Array.from({ length: n }, (_, row) => row % 3),
      );
    }
  });

  it('is reproducible from its seed, and another seed draws other images', () => {
    expect(pickStratified(labels, 3, 9, 1)).toEqual(pickStratified(labels, 3, 9, 1));
    const draws = new Set(
      Array.from({ length: 8 }, (_, s) => pickStratified(labels, 3, 6, s).join()),
    );
    expect(draws.size).toBeGreaterThan(1);
  });

  it('stratifiable says whether every class has the images n rows need', () => {
    expect(stratifiable(labels, 3, 11)).toBe(true); // class 2 on rows 2, 5, 8: three images
    expect(stratifiable(labels, 3, 12)).toBe(false); // and row 11: a fourth
    expect(stratifiable(labels, 4, 4)).toBe(false); // no image of class 3
  });

  it('names the class that is short, and labels outside 0..K-1', () => {
    // n = 12 puts class 2 on rows 2, 5, 8 and 11: four images, and the split has three.
    expect(() => pickStratified(labels, 3, 12, 0)).toThrow(
      /n = 12 needs 4 images of class 2 .*the split has 3/,
    );
    expect(() => pickStratified(labels, 2, 4, 0)).toThrow(/image 2 has label 2, outside 0\.\.1/);
    expect(() => pickStratified(labels, 0, 4, 0)).toThrow(/classes must be a positive integer/);
  });
});
