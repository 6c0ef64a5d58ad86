// Distillation objectives' computations against closed forms (native/src/engine/distill),
// through the distill.* sync bindings: the progressive-distillation target and its loss terms
// (grid indexing, weighting) and the consistency-distillation teacher step on the exact
// denoiser of Gaussian data, and consistency training's ECT curriculum. The trainer, the
// students and the tiny stages are in distill.test.ts.
import { describe, expect, it } from 'vitest';
import { loadNative } from './index.ts';

// Gaussian data N(mean, U diag(lambda) U^T): D(x; s) = mean + U diag(lambda / (lambda + s^2))
// U^T (x - mean), so every teacher step has an exact answer (as in samplers.test.ts).
const theta = 0.6;
const c = Math.cos(theta);
const s = Math.sin(theta);
const U = [c, -s, s, c]; // row-major; columns are the eigenvectors
const mean = [1, -1];
const lambda = [2, 0.25];
const linear = { kind: 'linear', timesteps: 1000, beta_start: 1e-4, beta_end: 0.02 };

/** The exact denoiser of the Gaussian (around `m`, default its mean), in double precision. */
function exactD(x: number[], sigma: number, m: number[] = mean): number[] {
  const d0 = (x[0] ?? 0) - (m[0] ?? 0);
  const d1 = (x[1] ?? 0) - (m[1] ?? 0);
  // Coordinates in the eigenbasis: U^T (x - mean).
  const a0 = (U[0] ?? 0) * d0 + (U[2] ?? 0) * d1;
  const a1 = (U[1] ?? 0) * d0 + (U[3] ?? 0) * d1;
  const b0 = (a0 * (lambda[0] ?? 0)) / ((lambda[0] ?? 0) + sigma * sigma);
  const b1 = (a1 * (lambda[1] ?? 0)) / ((lambda[1] ?? 0) + sigma * sigma);
  return [
    (m[0] ?? 0) + (U[0] ?? 0) * b0 + (U[1] ?? 0) * b1,
    (m[1] ?? 0) + (U[2] ?? 0) * b0 + (U[3] ?? 0) * b1,
  ];
}

const ddim = (x: number[], den: number[], from: number, to: number) =>
  x.map((v, i) => (den[i] ?? 0) + (to / from) * (v - (den[i] ?? 0)));

function heun(x: number[], from: number, to: number): number[] {
  const d = x.map((v, i) => (v - (exactD(x, from)[i] ?? 0)) / from);
  const xe = x.map((v, i) => v + (d[i] ?? 0) * (to - from));
  const d2 = xe.map((v, i) => (v - (exactD(xe, to)[i] ?? 0)) / to);
  return x.map((v, i) => v + 0.5 * ((d[i] ?? 0) + (d2[i] ?? 0)) * (to - from));
}

/** n deterministic points around the mean at noise level sigma. */
function points(n: number, sigma: number): number[][] {
  return Array.from({ length: n }, (_, i) => [
    (mean[0] ?? 0) + sigma * Math.sin(1.7 * i + 0.3) * 1.3,
    (mean[1] ?? 0) + sigma * Math.cos(2.3 * i + 0.1) * 1.1,
  ]);
}

const teacherOptions = (parameterization: string, x: number[][]) => ({
  config: { parameterization, schedule: linear },
  dim: 2,
  mean: Float32Array.from(mean),
  eigvecs: Float32Array.from(U),
  eigvals: Float32Array.from(lambda),
  n: x.length,
  x: Float32Array.from(x.flat()),
});

/**
 * The wrapper path computes in float32 (scalings, the sigma -> timestep map and back, two or
 * three steps), each op off by half an ulp of values of size <= 10 (~6e-7): a few ulps in all.
 * Measured max: 2.7e-7 (x_s), 3.8e-7 (target), 1.4e-7 (Heun). 2e-5 leaves a wide margin over
 * float32 and stays far below any slip in the formula (a wrong r, a missing step, a wrong sign
 * move the result by > 1e-2).
 */
const TOL = 2e-5;

describe('progressive distillation target (Salimans & Ho 2022, Algorithm 2)', () => {
  const native = () => loadNative().distill;
  for (const parameterization of ['eps', 'v', 'x0']) {
    it(`${parameterization} teacher: two DDIM steps and x~ = (x_s - r x_t) / (1 - r) match the closed form`, () => {
      const [t, mid, sNext] = [3, 1.2, 0.4];
      const x = points(8, t);
      const r = native().progressiveTarget({
        ...teacherOptions(parameterization, x),
        sigmaT: t,
        sigmaMid: mid,
        sigmaS: sNext,
      });
      for (const [i, xt] of x.entries()) {
        const xMid = ddim(xt, exactD(xt, t), t, mid);
        const xs = ddim(xMid, exactD(xMid, mid), mid, sNext);
        const ratio = sNext / t;
        const target = xs.map((v, k) => (v - ratio * (xt[k] ?? 0)) / (1 - ratio));
        for (let k = 0; k < 2; k++) {
          expect(Math.abs((r.xS[2 * i + k] ?? Number.NaN) - (xs[k] ?? 0))).toBeLessThan(TOL);
          expect(Math.abs((r.target[2 * i + k] ?? Number.NaN) - (target[k] ?? 0))).toBeLessThan(
            TOL,
          );
        }
        // A student that outputs the target reproduces the teacher's two steps in one.
        const oneStep = ddim(xt, [r.target[2 * i] ?? 0, r.target[2 * i + 1] ?? 0], t, sNext);
        for (let k = 0; k < 2; k++)
          expect(Math.abs((oneStep[k] ?? 0) - (r.xS[2 * i + k] ?? 0))).toBeLessThan(TOL);
        // And the target is not the teacher's own one-step x-prediction (the test can fail).
        const d = exactD(xt, t);
        expect(
          Math.hypot((target[0] ?? 0) - (d[0] ?? 0), (target[1] ?? 0) - (d[1] ?? 0)),
        ).toBeGreaterThan(1e-2);
      }
    });
  }

  it('on the last step (sigma_s = 0) the target is the teacher x-prediction at sigma_mid', () => {
    const [t, mid] = [0.8, 0.3];
    const x = points(6, t);
    const r = native().progressiveTarget({
      ...teacherOptions('v', x),
      sigmaT: t,
      sigmaMid: mid,
      sigmaS: 0,
    });
    for (const [i, xt] of x.entries()) {
      const xMid = ddim(xt, exactD(xt, t), t, mid);
      const want = exactD(xMid, mid);
      for (let k = 0; k < 2; k++) {
        expect(Math.abs((r.target[2 * i + k] ?? Number.NaN) - (want[k] ?? 0))).toBeLessThan(TOL);
        // r = 0: the target is x_s itself, bit for bit.
        expect(r.target[2 * i + k]).toBe(r.xS[2 * i + k]);
      }
    }
  });
});

describe('progressive distillation loss: grid indexing and weighting against the closed form', () => {
  // Two student steps, from 3 (via 1.5) to 0.8 and from 0.8 (via 0.3) to 0: sigma_t 3 and 0.8
  // weigh 1 and 1.5625 under truncated-snr, 1.111 and 2.5625 under snr+1.
  const grid = [3, 1.5, 0.8, 0.3, 0];
  const studentMean = [1.2, -0.7];
  const x0 = points(16, 1);
  const weights = {
    'truncated-snr': (s: number) => Math.max(1 / (s * s), 1),
    'snr+1': (s: number) => 1 / (s * s) + 1,
  };
  for (const weighting of ['truncated-snr', 'snr+1'] as const) {
    it(`${weighting}: per-example index, sigma_t, target, weight and loss`, () => {
      const r = loadNative().distill.progressiveLoss({
        ...teacherOptions('v', x0),
        studentMean: Float32Array.from(studentMean),
        grid,
        weighting,
        seed: 5,
      });
      let total = 0;
      const seen = new Set<number>();
      for (const [k, x] of x0.entries()) {
        const i = r.index[k] ?? -1;
        seen.add(i);
        const [t, mid, next] = [grid[2 * i] ?? 0, grid[2 * i + 1] ?? 0, grid[2 * i + 2] ?? 0];
        expect(r.sigmaT[k]).toBe(Math.fround(t));
        const xt = x.map((v, d) => v + t * (r.noise[2 * k + d] ?? 0));
        const xMid = ddim(xt, exactD(xt, t), t, mid);
        const xs = ddim(xMid, exactD(xMid, mid), mid, next);
        const ratio = next / t;
        const target = xs.map((v, d) => (v - ratio * (xt[d] ?? 0)) / (1 - ratio));
        const w = weights[weighting](t);
        const student = exactD(xt, t, studentMean);
        const err =
          ((student[0] ?? 0) - (target[0] ?? 0)) ** 2 / 2 +
          ((student[1] ?? 0) - (target[1] ?? 0)) ** 2 / 2;
        for (let d = 0; d < 2; d++)
          expect(Math.abs((r.target[2 * k + d] ?? Number.NaN) - (target[d] ?? 0))).toBeLessThan(
            TOL,
          );
        // float32 weights: relative 1e-6; squared errors of O(1) values: relative 1e-4 covers
        // the target's TOL, far below a wrong weight (>= 10%) or a wrong grid point.
        expect(Math.abs((r.weight[k] ?? Number.NaN) - w)).toBeLessThanOrEqual(1e-6 * w);
        expect(Math.abs((r.perExample[k] ?? Number.NaN) - err)).toBeLessThanOrEqual(
          1e-4 * err + 1e-6,
        );
        total += (w * err) / x0.length;
      }
      // Both student steps are drawn (16 draws; fixed seed).
      expect([...seen].sort()).toEqual([0, 1]);
      expect(Math.abs(r.loss - total)).toBeLessThanOrEqual(1e-4 * total);
    });
  }
});

describe('consistency distillation teacher step (Song et al. 2023, Algorithm 2)', () => {
  it('is the Heun step of the exact ODE, for each VP parameterization', () => {
    for (const parameterization of ['eps', 'v', 'x0']) {
      const [from, to] = [2.5, 1.7];
      const x = points(8, from);
      const out = loadNative().distill.teacherHeunStep({
        ...teacherOptions(parameterization, x),
        sigma: from,
        sigmaNext: to,
      });
      for (const [i, xi] of x.entries()) {
        const want = heun(xi, from, to);
        for (let k = 0; k < 2; k++)
          expect(
            Math.abs((out[2 * i + k] ?? Number.NaN) - (want[k] ?? 0)),
            parameterization,
          ).toBeLessThan(TOL);
      }
    }
  });
});

describe('consistency training curriculum (ECT, Geng et al. 2024)', () => {
  const n = (sigma: number) => 1 + 8 / (1 + Math.exp(sigma));
  // float32 arithmetic on values <= 10: a few ulps; 1e-5 relative is far above that and far
  // below a stage slip (a off by one halves or doubles the gap).
  const close = (got: number | undefined, want: number) =>
    expect(Math.abs((got ?? Number.NaN) - want)).toBeLessThanOrEqual(1e-5 * Math.max(1, want));

  it("step 1 is ECT's first stage: sigma_r = sigma_t (1 - n(sigma_t) / q), 4.998 at sigma_t 10", () => {
    const r = loadNative().distill.ectPair({ sigmaT: [10], step: 1, sigmaMin: 0.01 });
    close(r.sigmaR[0], 10 * (1 - n(10) / 2));
    expect(r.sigmaR[0]).toBeCloseTo(4.998, 3);
    close(r.gap[0], (10 * n(10)) / 2);
  });

  it('the gap shrinks by q after each halvingEvery steps, clipped at sigma_min', () => {
    const at = (step: number, sigmaT: number[]) =>
      loadNative().distill.ectPair({ sigmaT, step, sigmaMin: 0.01, halvingEvery: 10 });
    // Steps 1..10: a = 1; 11..20: a = 2.
    close(at(10, [10]).gap[0], (10 * n(10)) / 2);
    close(at(11, [10]).gap[0], (10 * n(10)) / 4);
    close(at(21, [10]).sigmaR[0], 10 * (1 - n(10) / 8));
    // sigma_t 0.05: n = 4.9, the gap 0.1225 would pass 0: clipped to sigma_min, gap 0.04.
    const low = at(1, [0.05]);
    close(low.sigmaR[0], 0.01);
    close(low.gap[0], 0.05 - 0.01);
  });

  it('the gap stays exact and positive where 1 - n / q^a rounds to 1 in float32', () => {
    // a = 40: q^a = 2^40, far past float32's 2^24 resolution of 1 - n / q^a.
    const r = loadNative().distill.ectPair({
      sigmaT: [10, 0.5],
      step: 40,
      sigmaMin: 0.01,
      halvingEvery: 1,
    });
    close((r.gap[0] ?? 0) * 2 ** 40, 10 * n(10));
    expect(Math.abs((r.gap[1] ?? 0) * 2 ** 40 - 0.5 * n(0.5))).toBeLessThan(1e-5);
    expect(Array.from(r.gap).every((g) => g > 0 && Number.isFinite(1 / g))).toBe(true);
  });
});

describe('consistency distillation loss: pair indexing, weight and distance against the closed form', () => {
  const sigmas = [5, 2, 0.7, 0.2, 0.05];
  const sigmaMin = 0.05;
  const huberC = 0.01;
  const studentMean = [1.2, -0.7];
  const x0 = points(16, 1);
  // The student's consistency function at init around its own Gaussian: the DDIM jump to sigma_min.
  const f = (x: number[], sigma: number) => {
    const d = exactD(x, sigma, studentMean);
    return x.map((v, i) => (d[i] ?? 0) + (sigmaMin / sigma) * (v - (d[i] ?? 0)));
  };
  it('per-example pair, teacher Heun step, target, online output, weight 1 / gap and pseudo-Huber', () => {
    const r = loadNative().distill.consistencyLoss({
      ...teacherOptions('v', x0),
      studentMean: Float32Array.from(studentMean),
      sigmas,
      sigmaMin,
      huberC,
      seed: 3,
    });
    let total = 0;
    const seen = new Set<number>();
    for (const [k, x] of x0.entries()) {
      const j = r.index[k] ?? -1;
      seen.add(j);
      const [hi, lo] = [sigmas[j] ?? 0, sigmas[j + 1] ?? 0];
      expect(r.sigmaHi[k]).toBe(Math.fround(hi));
      expect(r.sigmaLo[k]).toBe(Math.fround(lo));
      const xHi = x.map((v, d) => v + hi * (r.noise[2 * k + d] ?? 0));
      const xLo = heun(xHi, hi, lo);
      const target = f(xLo, lo);
      const online = f(xHi, hi);
      for (let d = 0; d < 2; d++) {
        expect(Math.abs((r.xLo[2 * k + d] ?? Number.NaN) - (xLo[d] ?? 0))).toBeLessThan(TOL);
        expect(Math.abs((r.target[2 * k + d] ?? Number.NaN) - (target[d] ?? 0))).toBeLessThan(TOL);
        expect(Math.abs((r.online[2 * k + d] ?? Number.NaN) - (online[d] ?? 0))).toBeLessThan(TOL);
      }
      const w = 1 / (hi - lo);
      // float32 sigmas and their difference: relative 1e-6 of hi / (hi - lo) <= 2e-6 here.
      expect(Math.abs((r.weight[k] ?? Number.NaN) - w)).toBeLessThanOrEqual(1e-5 * w);
      const sq =
        ((online[0] ?? 0) - (target[0] ?? 0)) ** 2 + ((online[1] ?? 0) - (target[1] ?? 0)) ** 2;
      const huber = Math.sqrt(sq + huberC * huberC) - huberC;
      // The distance of values off by TOL each: relative 1e-3 plus 1e-6 absolute, far below a
      // wrong pair (the online and target move by O(0.1) between neighbouring sigmas).
      expect(Math.abs((r.perExample[k] ?? Number.NaN) - huber)).toBeLessThanOrEqual(
        1e-3 * huber + 1e-6,
      );
      total += (w * huber) / x0.length;
    }
    expect(seen.size).toBeGreaterThanOrEqual(3);
    expect(Math.abs(r.loss - total)).toBeLessThanOrEqual(1e-3 * total);
  });
});
