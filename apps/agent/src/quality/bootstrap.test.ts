import { type FeatureMatrix, frechetDistance, seededRandom } from '@anneal/engine/metrics';
import { describe, expect, it } from 'vitest';
import { bootstrapFd, bootstrapFdDifference, bootstrapRankCorrelation } from './bootstrap.ts';

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

  it('tells which of two paired sets is nearer the real one, and says so only when the interval excludes 0', () => {
    const real = gaussian(400, 4, 0, 1);
    const near = gaussian(400, 4, 0.1, 2);
    // The same rows moved further: a paired set, as two samplers from one noise give.
    const far = { ...near, data: near.data.map((v) => v + 0.4) };
    const d = bootstrapFdDifference(real, near, far, { seed: 5, resamples: 40 });
    expect(d.difference).toBeCloseTo(frechetDistance(real, near) - frechetDistance(real, far), 12);
    expect(d.high).toBeLessThan(0);
    expect(d.better).toBe('a');
    expect(bootstrapFdDifference(real, far, near, { seed: 5, resamples: 40 }).better).toBe('b');
    // Pairing leaves out what two sets from one noise share: the difference of a set and the
    // same rows slightly jittered spreads far less than two independent FDs would.
    const jitter = gaussian(400, 4, 0, 9);
    const jittered = {
      ...near,
      data: near.data.map((v, i) => v + 0.3 * (jitter.data[i] as number)),
    };
    const paired = bootstrapFdDifference(real, near, jittered, { seed: 5, resamples: 40 });
    const alone = [near, jittered].map((x) => bootstrapFd(real, x, { seed: 6, resamples: 40 }).std);
    expect(paired.std).toBeLessThan(0.5 * Math.hypot(alone[0] as number, alone[1] as number));
    // A set against itself: every resample's difference is exactly 0.
    const same = bootstrapFdDifference(real, near, near, { seed: 5 });
    expect([same.low, same.high, same.difference, same.better]).toEqual([0, 0, 0, 'neither']);
    // Two draws of one distribution: the interval straddles 0.
    const twin = gaussian(400, 4, 0.1, 3);
    expect(bootstrapFdDifference(real, near, twin, { seed: 5, resamples: 40 }).better).toBe(
      'neither',
    );
    expect(() => bootstrapFdDifference(real, near, gaussian(300, 4, 0, 4))).toThrow(/same shape/);
  });

  it('resamples within classes when given labels, so class counts do not move FD', () => {
    // Two classes far apart, half the rows each, as a classifier's features of a class-balanced
    // set: an unstratified resample's class counts wander, and FD follows them.
    const clustered = (seed: number) => {
      const x = gaussian(200, 4, 0, seed);
      const data = x.data.map((v, i) => v + (Math.floor(i / 4) % 2) * 8);
      return { ...x, data };
    };
    const labels = Int32Array.from({ length: 200 }, (_, i) => i % 2);
    const [real, fake] = [clustered(1), clustered(2)];
    const fd = frechetDistance(real, fake);
    const mean = (s: { low: number; high: number }) => (s.low + s.high) / 2;
    const loose = bootstrapFd(real, fake, { seed: 4, resamples: 30 });
    const kept = bootstrapFd(real, fake, {
      seed: 4,
      resamples: 30,
      strata: { reference: labels, candidate: labels },
    });
    expect(Math.abs(mean(kept) - fd)).toBeLessThan(Math.abs(mean(loose) - fd) / 2);
    expect(kept.std).toBeLessThan(loose.std);
    expect(() => bootstrapFd(real, fake, { strata: { reference: labels.subarray(1) } })).toThrow(
      /one label per row/,
    );
  });
});

describe('bootstrap spread of a rank correlation with FD', () => {
  /** `k` paired sets: the same rows, each moved by its shift, with its own jitter of `jitter`. */
  function paired(shifts: number[], jitter: number) {
    const base = gaussian(300, 4, 0, 2);
    return shifts.map((shift, k) => {
      const own = gaussian(300, 4, 0, 10 + k);
      return {
        ...base,
        data: base.data.map((v, i) => v + shift + jitter * (own.data[i] as number)),
      };
    });
  }
  const real = gaussian(300, 4, 0, 1);

  it('is sure of a ranking the FDs resolve, and not of one they do not', () => {
    const scores = [1, 2, 3, 4, 5];
    const spreadOf = (shifts: number[], jitter: number) =>
      bootstrapRankCorrelation(real, paired(shifts, jitter), scores, { seed: 3, resamples: 40 });
    const close = [0.3, 0.302, 0.304, 0.306, 0.308];
    // FD well apart (shifts 0.1 apart, the same rows): every resample keeps the order.
    const apart = spreadOf([0.1, 0.2, 0.3, 0.4, 0.5], 0.05);
    expect(apart?.rho).toBe(1);
    expect(apart?.low).toBe(1);
    // FD within their sampling spread of each other (shifts 0.002 apart, rows mostly their
    // own): the resamples reorder them, and the interval is wide and reaches near 0.
    const unsure = spreadOf(close, 1);
    expect((unsure?.high ?? 0) - (unsure?.low ?? 0)).toBeGreaterThan(0.5);
    expect(unsure?.low).toBeLessThan(0.3);
    // Paired, the same small shifts are resolved when the sets share their rows.
    expect(spreadOf(close, 0.05)?.low).toBeGreaterThan(0.5);
    // Reproducible from its seed; refused or undefined where it cannot be computed.
    expect(spreadOf([0.1, 0.2, 0.3, 0.4, 0.5], 0.05)).toEqual(apart);
    expect(bootstrapRankCorrelation(real, paired([0.1, 0.2], 0), [1, 2])).toBeNull();
    expect(() => bootstrapRankCorrelation(real, paired([0.1, 0.2, 0.3], 0), [1, 2])).toThrow(
      /2 scores for 3 sets/,
    );
    expect(() =>
      bootstrapRankCorrelation(real, [...paired([0.1, 0.2], 0), gaussian(200, 4, 0, 5)], [1, 2, 3]),
    ).toThrow(/same shape/);
  });
});
