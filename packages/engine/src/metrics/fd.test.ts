import { describe, expect, it } from 'vitest';
import { frechetDistance, frechetDistanceGaussians } from './fd.ts';
import { gaussianSamples } from './gaussian-samples.fixture.ts';
import { selectRows, symmetricEigen } from './linalg.ts';

describe('symmetricEigen', () => {
  it('reconstructs the matrix from its eigenpairs', () => {
    const a = Float64Array.from([4, 1, 2, 1, 3, 0.5, 2, 0.5, 5]);
    const { values, vectors } = symmetricEigen(a, 3);
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) {
        let s = 0;
        for (let k = 0; k < 3; k++)
          s +=
            (vectors[i * 3 + k] as number) * (values[k] as number) * (vectors[j * 3 + k] as number);
        expect(s).toBeCloseTo(a[i * 3 + j] as number, 10);
      }
    expect([...values].reduce((x, y) => x + y, 0)).toBeCloseTo(12, 10);
  });
});

describe('frechetDistanceGaussians', () => {
  it('is zero for identical Gaussians', () => {
    const mu = Float64Array.from([1, -2]);
    const s = Float64Array.from([2, 0.3, 0.3, 1]);
    expect(frechetDistanceGaussians(mu, s, mu, s)).toBeCloseTo(0, 9);
  });

  it('matches the closed form for diagonal covariances', () => {
    const mu1 = Float64Array.from([0, 0, 1]);
    const mu2 = Float64Array.from([1, 2, 1]);
    const s1 = Float64Array.from([1, 0, 0, 0, 4, 0, 0, 0, 9]);
    const s2 = Float64Array.from([4, 0, 0, 0, 1, 0, 0, 0, 9]);
    // |mu|^2 = 5; sum (sqrt(a) - sqrt(b))^2 = 1 + 1 + 0
    expect(frechetDistanceGaussians(mu1, s1, mu2, s2)).toBeCloseTo(7, 9);
  });

  it('matches the closed form for non-commuting 2x2 covariances', () => {
    // For a 2x2 matrix with positive eigenvalues, tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)).
    const s1 = Float64Array.from([2, 1, 1, 2]);
    const s2 = Float64Array.from([1, 0, 0, 3]);
    const m = [2 * 1, 1 * 3, 1 * 1, 2 * 3]; // S1 S2
    const trM = (m[0] as number) + (m[3] as number);
    const detM = 3 * 3;
    const trRoot = Math.sqrt(trM + 2 * Math.sqrt(detM));
    const mu = Float64Array.from([0, 0]);
    const expected = 4 + 4 - 2 * trRoot;
    expect(frechetDistanceGaussians(mu, s1, mu, s2)).toBeCloseTo(expected, 9);
  });
});

describe('frechetDistance', () => {
  it('approaches the Gaussians formula on samples and does not depend on order', () => {
    const a = gaussianSamples(4000, [0, 0, 0, 0], [1, 1, 1, 1], 1);
    const b = gaussianSamples(4000, [1, 0, 0, 0], [2, 1, 1, 1], 2);
    // |mu|^2 = 1, (sqrt(4) - 1)^2 = 1
    expect(frechetDistance(a, b)).toBeGreaterThan(1.8);
    expect(frechetDistance(a, b)).toBeLessThan(2.2);
    const reversed = selectRows(
      b,
      Int32Array.from({ length: b.n }, (_, i) => b.n - 1 - i),
    );
    // Computed in one canonical row order: bit-identical, not merely close.
    expect(frechetDistance(a, reversed)).toBe(frechetDistance(a, b));
  });

  it('rejects mismatched dims naming both', () => {
    const a = gaussianSamples(10, [0, 0], [1, 1], 1);
    const b = gaussianSamples(10, [0, 0, 0], [1, 1, 1], 1);
    expect(() => frechetDistance(a, b)).toThrow(/2 vs 3/);
  });
});
