import { describe, expect, it } from 'vitest';
import { gaussianSamples } from './gaussian-samples.fixture.ts';
import { kernelInceptionDistance, mmdUnbiased } from './kid.ts';
import { featureMatrix, selectRows } from './linalg.ts';
import { precisionRecall } from './precision-recall.ts';

const reverse = (x: ReturnType<typeof gaussianSamples>) =>
  selectRows(
    x,
    Int32Array.from({ length: x.n }, (_, i) => x.n - 1 - i),
  );

describe('KID', () => {
  it('is unbiased on equal distributions: the mean over seeds is near 0', () => {
    const values: number[] = [];
    for (let seed = 0; seed < 40; seed++) {
      const x = gaussianSamples(40, [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], 2 * seed + 1);
      const y = gaussianSamples(40, [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], 2 * seed + 2);
      values.push(mmdUnbiased(x, y));
    }
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1));
    // Within 3 standard errors of 0; a biased (V-statistic) estimate sits well above.
    expect(Math.abs(mean)).toBeLessThan((3 * sd) / Math.sqrt(values.length));
    expect(values.some((v) => v < 0)).toBe(true);
  });

  it('matches a hand computation on two points per set', () => {
    // d = 1: k(x, y) = (xy + 1)^3. X = {0, 1}, Y = {1, 2}.
    const x = featureMatrix([0, 1], 2, 1);
    const y = featureMatrix([1, 2], 2, 1);
    const kxx = 1; // k(0,1)
    const kyy = (2 + 1) ** 3; // k(1,2)
    const kxy = 1 + 1 + 8 + 27; // k(0,1) + k(0,2) + k(1,1) + k(1,2)
    expect(mmdUnbiased(x, y)).toBeCloseTo((2 * kxx) / 2 + (2 * kyy) / 2 - (2 * kxy) / 4, 10);
  });

  it('grows with a mean shift and does not depend on sample order', () => {
    const x = gaussianSamples(200, [0, 0, 0], [1, 1, 1], 7);
    const near = gaussianSamples(200, [0.2, 0, 0], [1, 1, 1], 8);
    const far = gaussianSamples(200, [1, 0, 0], [1, 1, 1], 9);
    const opts = { subsets: 5, subsetSize: 100, seed: 3 };
    const kNear = kernelInceptionDistance(x, near, opts).mean;
    const kFar = kernelInceptionDistance(x, far, opts).mean;
    expect(kFar).toBeGreaterThan(kNear);
    expect(kernelInceptionDistance(reverse(x), reverse(far), opts).mean).toBeCloseTo(kFar, 12);
  });
});

describe('precision and recall', () => {
  it('are 1 for a set against itself and 0 for a far-away set', () => {
    const x = gaussianSamples(100, [0, 0], [1, 1], 1);
    expect(precisionRecall(x, x)).toMatchObject({ precision: 1, recall: 1, k: 3 });
    const far = gaussianSamples(100, [50, 50], [1, 1], 2);
    expect(precisionRecall(x, far)).toMatchObject({ precision: 0, recall: 0 });
  });

  it('see a dropped mode as lost recall, not lost precision', () => {
    const a = gaussianSamples(100, [0, 0], [0.5, 0.5], 1);
    const b = gaussianSamples(100, [20, 0], [0.5, 0.5], 2);
    const real = featureMatrix([...a.data, ...b.data], 200, 2);
    const generated = gaussianSamples(100, [0, 0], [0.5, 0.5], 3);
    const pr = precisionRecall(real, generated);
    expect(pr.precision).toBeGreaterThan(0.9);
    expect(pr.recall).toBeGreaterThan(0.35);
    expect(pr.recall).toBeLessThan(0.55);
    expect(precisionRecall(reverse(real), reverse(generated))).toEqual(pr);
  });
});
