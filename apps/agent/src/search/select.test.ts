// The search's pure decisions (issue 19 sections 2-4): the non-negative cost fit and its
// leave-one-out error, the pool, successive halving's rungs and survivors, the Pareto front.
import { describe, expect, it } from 'vitest';
import { type CostFeatures, fitCost, fitNonNegative, predictCost } from './predictor.ts';
import { halvingRungs, paretoFront, spreadPool, survivors } from './select.ts';

const features = (flops: number, act: number, attn: number): CostFeatures => ({
  forwardFlopsPerImage: flops,
  activationBytesPerImage: act,
  attentionWork: attn,
  parameters: flops / 100,
});

describe('cost predictor', () => {
  it('recovers non-negative coefficients of an exactly linear cost, with zero leave-one-out error', () => {
    const truth = [0.5, 2e-8, 1e-7, 3e-6];
    const points = [
      [1e8, 2e6, 1e5],
      [2e8, 1e6, 0],
      [4e8, 8e6, 4e5],
      [3e8, 3e6, 2e5],
      [6e8, 5e6, 0],
      [8e8, 9e6, 6e5],
    ].map(([f, a, t]) => {
      const x = features(f as number, a as number, t as number);
      return { features: x, value: predictCost({ coefficients: truth }, x) };
    });
    const fit = fitCost(points);
    fit.coefficients.forEach((c, i) => {
      expect(c).toBeGreaterThanOrEqual(0);
      expect(Math.abs(c - (truth[i] as number))).toBeLessThan(1e-3 * (truth[i] as number) + 1e-12);
    });
    expect(fit.looError.max).toBeLessThan(1e-3);
  });

  it('never fits a negative coefficient, even where least squares would', () => {
    // y falls with x2 when x1 is held: unconstrained least squares gives x2 a negative weight.
    const xs = [
      [1, 1, 0],
      [1, 2, 1],
      [1, 3, 3],
      [1, 4, 2],
    ];
    const ys = [2, 3.5, 4, 5.5];
    const beta = fitNonNegative(xs, ys);
    expect(beta.every((b) => b >= 0)).toBe(true);
    // Still a fit: better than the best constant.
    const pred = xs.map((r) => r.reduce((s, v, j) => s + v * (beta[j] as number), 0));
    const sse = pred.reduce((s, p, i) => s + (p - (ys[i] as number)) ** 2, 0);
    const mean = ys.reduce((a, b) => a + b, 0) / ys.length;
    expect(sse).toBeLessThan(ys.reduce((s, y) => s + (y - mean) ** 2, 0));
  });

  it('refuses too few or non-positive measurements', () => {
    expect(() => fitCost([{ features: features(1, 1, 1), value: 1 }])).toThrow(/at least 2/);
    expect(() => fitNonNegative([[1], [2]], [1, 0])).toThrow(/positive/);
  });
});

describe('selection', () => {
  it('spreads the pool from the largest down', () => {
    const sizes = [10, 50, 20, 40, 30, 60, 70];
    expect(spreadPool(sizes, 3, (s) => s)).toEqual([70, 40, 10]);
    expect(spreadPool(sizes, 10, (s) => s)).toEqual([70, 60, 50, 40, 30, 20, 10]);
    expect(spreadPool(sizes, 1, (s) => s)).toEqual([70]);
  });

  it('halves a pool of 8 over 3 rungs: 8 at r, 4 at 2r, 2 at 4r', () => {
    expect(halvingRungs(8, 100, 2, 3)).toEqual([
      { iters: 100, keep: 4 },
      { iters: 200, keep: 2 },
      { iters: 400, keep: 2 },
    ]);
    // A pool of 1 trains one rung; eta 3 keeps ceil(n / 3).
    expect(halvingRungs(1, 50, 2, 3)).toEqual([{ iters: 50, keep: 1 }]);
    expect(halvingRungs(7, 10, 3, 4)).toEqual([
      { iters: 10, keep: 3 },
      { iters: 30, keep: 1 },
      { iters: 90, keep: 1 },
    ]);
    expect(() => halvingRungs(4, 10, 1, 2)).toThrow(/eta/);
  });

  it('keeps the best by proxy, a non-finite score last', () => {
    const c = (name: string) => ({ name });
    const kept = survivors(
      [
        { c: c('a'), score: 0.3 },
        { c: c('b'), score: Number.NaN },
        { c: c('c'), score: 0.1 },
        { c: c('d'), score: 0.2 },
      ],
      2,
    );
    expect(kept.map((x) => x.name)).toEqual(['c', 'd']);
  });

  it('takes the points no other dominates', () => {
    const pts = [
      { n: 'fast-bad', q: 3, t: 1 },
      { n: 'slow-good', q: 1, t: 3 },
      { n: 'mid', q: 2, t: 2 },
      { n: 'dominated', q: 2.5, t: 2.5 },
      { n: 'tie', q: 2, t: 2 },
    ];
    const front = paretoFront(pts, [(p) => p.q, (p) => p.t]).map((p) => p.n);
    expect(front).toEqual(['fast-bad', 'slow-good', 'mid', 'tie']);
  });
});
