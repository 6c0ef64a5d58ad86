import { type FeatureMatrix, frechetDistance, seededRandom } from '@anneal/engine/metrics';
import { describe, expect, it } from 'vitest';
import { bootstrapFd } from './bootstrap.ts';

function gaussian(n: number, dim: number, shift: number, seed: number): FeatureMatrix {
  const random = seededRandom(seed);
  const data = new Float64Array(n * dim);
  for (let i = 0; i < data.length; i += 1) {
    // Box-Muller.
    const u = 1 - random();
    const v = random();
    data[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v) + shift;
  }
  return { n, dim, data };
}

describe('bootstrap spread of FD', () => {
  it('brackets the FD, shrinks as n grows, and is reproducible from its seed', () => {
    const small = bootstrapFd(gaussian(100, 4, 0, 1), gaussian(100, 4, 0.5, 2), { seed: 3 });
    const large = bootstrapFd(gaussian(1600, 4, 0, 1), gaussian(1600, 4, 0.5, 2), { seed: 3 });
    const fd = frechetDistance(gaussian(100, 4, 0, 1), gaussian(100, 4, 0.5, 2));
    expect(small.low).toBeLessThan(fd);
    expect(small.high).toBeGreaterThan(fd);
    expect(small.std).toBeGreaterThan(0);
    // The standard error of FD falls roughly as 1/sqrt(n): 16x the rows, about 1/4 the spread.
    expect(large.std).toBeLessThan(small.std / 2);
    expect(bootstrapFd(gaussian(100, 4, 0, 1), gaussian(100, 4, 0.5, 2), { seed: 3 })).toEqual(
      small,
    );
    expect(() =>
      bootstrapFd(gaussian(10, 2, 0, 1), gaussian(10, 2, 0, 2), { resamples: 1 }),
    ).toThrow(/at least 2 resamples/);
  });
});
