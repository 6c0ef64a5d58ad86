import { describe, expect, it } from 'vitest';
import { loadNative, Model, presetUNet } from './index.ts';

// The adaptive sampler (DPM-Solver-12 with per-image error control, samplers.cpp) against the
// exact answer for Gaussian data. The data's covariance spans four orders of magnitude, so the
// probability-flow ODE's curvature moves across sigma: the case a fixed schedule has to cover
// everywhere at once.
const d = 8;
const eigvecs = new Float32Array(d * d);
for (let i = 0; i < d; i++) eigvecs[i * d + i] = 1;
const eigvals = new Float32Array([4, 1, 0.25, 0.05, 0.01, 0.002, 1e-3, 1e-4]);
const mean = new Float32Array(d).fill(0.1);
const n = 200;

type GaussianOptions = Parameters<ReturnType<typeof loadNative>['sampling']['gaussian']>[0];

function run(sampler: string, extra: Partial<GaussianOptions> = {}) {
  return loadNative().sampling.gaussian({
    dim: d,
    mean,
    eigvecs,
    eigvals,
    sampler,
    steps: 1,
    n,
    seed: 1,
    sigmaMax: 80,
    sigmaMin: 0.002,
    ...extra,
  });
}

function rmsToExact(r: { samples: Float32Array; exact: Float32Array }) {
  let s = 0;
  for (let i = 0; i < r.samples.length; i++) s += ((r.samples[i] ?? 0) - (r.exact[i] ?? 0)) ** 2;
  return Math.sqrt(s / r.samples.length);
}

const sum = (a: ArrayLike<number>) => Array.from(a).reduce((x, y) => x + y, 0);

describe('the adaptive sampler against the exact Gaussian answer', () => {
  it('reaches the exact ODE endpoint within a small multiple of its tolerance, tighter as the tolerance tightens', () => {
    // The controller bounds each step's local error by the tolerance (in VP scale); the global
    // error is their propagated sum over the ~15 accepted steps, so it is a small multiple of
    // the tolerance, and shrinks with it.
    const errors = [0.01, 0.001].map((tol) =>
      rmsToExact(run('adaptive', { rtol: tol, atol: tol })),
    );
    expect(errors[0]).toBeLessThan(4 * 0.01);
    expect(errors[1]).toBeLessThan(4 * 0.001);
    expect(errors[1]).toBeLessThan((errors[0] ?? 0) / 3);
  });

  // A solver comparison, not a test of adaptivity: an exponential integrator (DPM-Solver-2 in
  // lambda) against Heun's trapezoid in sigma, both second order. The test below (the same
  // method at fixed steps) is the one that measures what per-image step control saves.
  it('its exponential integrator needs fewer NFE than Heun (both second order) at the same error', () => {
    const a = run('adaptive', { rtol: 0.01, atol: 0.01 });
    const target = rmsToExact(a);
    const meanNfe = sum(a.nfePerImage ?? []) / n;
    // The fewest fixed Karras steps with which Heun is as accurate.
    let heunNfe = Infinity;
    for (let steps = 2; steps <= 200; steps++) {
      const f = run('heun', { steps });
      if (rmsToExact(f) <= target) {
        heunNfe = f.nfe;
        break;
      }
    }
    expect(heunNfe).toBeLessThan(Infinity);
    expect(meanNfe).toBeLessThan(heunNfe);
  });

  it('on a batch mixing two scales of data, needs 15% fewer NFE than its own method at fixed steps', () => {
    // The fixed schedule must serve the hardest image of the batch; the adaptive sampler
    // spends less on the easy class. Same second-order method (dpm-solver-2), same batch RMS
    // error against the exact endpoint. Measured: 27 mean NFE against 37 (27% fewer); the bar
    // leaves room for the step grid's coarseness (2 NFE per step).
    const eigvalScale = new Float32Array(n).map((_, i) => (i % 2 ? 1 : 0.01));
    const a = run('adaptive', { rtol: 0.01, atol: 0.01, eigvalScale });
    const target = rmsToExact(a);
    const meanNfe = sum(a.nfePerImage ?? []) / n;
    let fixedNfe = Infinity;
    for (let steps = 2; steps <= 200; steps++) {
      const f = run('dpm-solver-2', { steps, eigvalScale });
      if (rmsToExact(f) <= target) {
        fixedNfe = f.nfe;
        break;
      }
    }
    expect(fixedNfe).toBeLessThan(Infinity);
    expect(meanNfe).toBeLessThan(0.85 * fixedNfe);
  });

  it('spends per image what its data needs, and finished images leave the batch', () => {
    // Two classes: odd rows' data has the full covariance, even rows' a hundredth of it. The
    // small class's ODE is nearly straight in lambda, so its images finish in fewer steps.
    const eigvalScale = new Float32Array(n).map((_, i) => (i % 2 ? 1 : 0.01));
    const r = run('adaptive', { rtol: 0.01, atol: 0.01, eigvalScale });
    const nfe = Array.from(r.nfePerImage ?? []);
    expect(nfe).toHaveLength(n);
    const big = nfe.filter((_, i) => i % 2 === 1);
    const small = nfe.filter((_, i) => i % 2 === 0);
    expect(Math.max(...small)).toBeLessThan(Math.min(...big));
    expect(r.nfe).toBe(Math.max(...nfe));
    // The denoiser counted the rows it was handed: each image's own evaluations and no more
    // (rows that finished were not evaluated again), far fewer than n rows on every call.
    expect(r.rowsEvaluated).toBe(sum(nfe));
    expect(r.calls).toBe(r.nfe);
    expect(r.rowsEvaluated).toBeLessThan(0.75 * n * (r.calls ?? 0));
    expect(rmsToExact(r)).toBeLessThan(4 * 0.01);
  });

  it('takes per-image sigmas through the v-parameterization wrapper to the exact endpoint', () => {
    const r = run('adaptive', { rtol: 0.01, atol: 0.01, config: { parameterization: 'v' } });
    expect(r.sigmaMax).toBeGreaterThan(100); // the linear-beta table's top, 157.4
    expect(rmsToExact(r)).toBeLessThan(4 * 0.01);
  });

  it('dpm-solver-2 (its second-order method at fixed steps) converges at second order', () => {
    // Doubling the steps divides a second-order method's error by about 4 (tolerance for the
    // schedule's uneven spacing: at least 2.5).
    const [e10, e20, e40] = [10, 20, 40].map((steps) => rmsToExact(run('dpm-solver-2', { steps })));
    expect((e10 ?? 0) / (e20 ?? 1)).toBeGreaterThan(2.5);
    expect((e20 ?? 0) / (e40 ?? 1)).toBeGreaterThan(2.5);
    expect(run('dpm-solver-2', { steps: 10 }).nfe).toBe(19);
  });

  it('refuses tolerances that are not positive', () => {
    expect(() => run('adaptive', { rtol: 0 })).toThrow(/rtol and atol must be > 0/);
    expect(() => run('adaptive', { atol: 0 })).toThrow(/rtol and atol must be > 0/);
  });

  it('never accepts a step whose error estimate is not finite, and names the image', () => {
    // A NaN mean makes every denoised value NaN: the error estimate is NaN at every step size,
    // so the controller shrinks the step to its smallest, where it used to accept it anyway
    // and return NaN images.
    expect(() => run('adaptive', { mean: new Float32Array(d).fill(Number.NaN), n: 2 })).toThrow(
      /adaptive: image \d+'s error estimate is not finite/,
    );
  });
});

describe('Model.sample with the adaptive sampler', () => {
  const unet = {
    ...presetUNet('tiny', { resolution: 8, channels: 1 }),
    block_out_channels: [16, 32],
    num_class_embeds: 4, // classes 0, 1, 2 and the null class
  };

  it('samples a guided conditional model end to end, reproducibly for a seed', async () => {
    const model = Model.create({ unet, parameterization: 'v' }, 2);
    const spec = {
      sampler: 'adaptive',
      n: 6,
      seed: 3,
      guidance: 2,
      rtol: 0.05,
      atol: 0.01,
    } as const;
    const a = await model.sample(spec);
    const b = await model.sample(spec);
    const other = await model.sample({ ...spec, seed: 4 });
    expect(a.shape).toEqual([6, 8, 8, 1]);
    expect(a.nonFinite).toBe(0);
    expect(Buffer.from(a.images).equals(Buffer.from(b.images))).toBe(true);
    expect(Array.from(a.nfePerImage ?? [])).toEqual(Array.from(b.nfePerImage ?? []));
    expect(Buffer.from(a.images).equals(Buffer.from(other.images))).toBe(false);
    const nfe = Array.from(a.nfePerImage ?? []);
    expect(nfe).toHaveLength(6);
    // Guidance evaluates the conditional and the unconditional model: two per row evaluated.
    for (const v of nfe) expect(v % 2).toBe(0);
    expect(2 * (a.rowsEvaluated ?? 0)).toBe(sum(nfe));
    expect(a.nfe).toBe(Math.max(...nfe));
    // Rejected attempts come back: each attempt costs two rows and each image's final step
    // one, so the rows beyond the rejected attempts and the final steps are two per accepted
    // step, at least one per image.
    const rejected = a.rejected ?? -1;
    expect(Number.isInteger(rejected) && rejected >= 0).toBe(true);
    expect(b.rejected).toBe(rejected);
    const accepted2 = (a.rowsEvaluated ?? 0) - 6 - 2 * rejected;
    expect(accepted2 % 2).toBe(0);
    expect(accepted2).toBeGreaterThanOrEqual(2 * 6);
    model.dispose();
  });

  it('steps each image on its own: an image alone follows the same path as in a batch, with its label', async () => {
    // Acceptance, step size and finishing are per image, and each row is evaluated with its
    // own class (conditional and unconditional halves under guidance), so image 2 of a batch
    // cycling classes 0, 1, 2 is image 0 of a batch of one drawn for class 2 from the same
    // noise, up to float32 differences of batched arithmetic and what they do to the step
    // control. A row given another row's label would land elsewhere.
    const model = Model.create({ unet, parameterization: 'v' }, 2);
    const per = 8 * 8;
    const noise = new Float32Array(3 * per).map((_, i) => Math.sin(i * 12.9898) * 1.3);
    const spec = {
      sampler: 'adaptive',
      guidance: 2,
      rtol: 0.05,
      atol: 0.01,
      returnValues: true,
    } as const;
    const batch = await model.sample({ ...spec, n: 3, noise });
    const alone = await model.sample({ ...spec, n: 1, class: 2, noise: noise.slice(2 * per) });
    const other = await model.sample({ ...spec, n: 1, class: 0, noise: noise.slice(2 * per) });
    const diff = (a: Float32Array | undefined, b: Float32Array | undefined, offset: number) => {
      let m = 0;
      for (let i = 0; i < per; i++)
        m = Math.max(m, Math.abs((a?.[offset + i] ?? 0) - (b?.[i] ?? 0)));
      return m;
    };
    expect(alone.nfePerImage?.[0]).toBe(batch.nfePerImage?.[2]);
    // Batched float32 arithmetic differs from a batch of one by about 1e-6 (BLAS picks other
    // kernels for other shapes; a fixed-step sampler stays that close). That can flip an
    // accept/reject decision sitting at the boundary, and from there the paths part by up to
    // one step's local error, which the controller holds under atol + rtol |x| with |x| <= 1
    // (samples are clipped to the data range). On Intel hosts no decision flipped (< 1e-3); on
    // an AMD EPYC host one did (0.022 and 0.034). Another label lands about 1 away.
    const tolerance = spec.atol + spec.rtol;
    expect(diff(batch.values, alone.values, 2 * per)).toBeLessThan(tolerance);
    expect(diff(batch.values, other.values, 2 * per)).toBeGreaterThan(5 * tolerance);
    model.dispose();
  });

  it('names bad tolerances and what the adaptive sampler cannot take', async () => {
    const model = Model.create({ unet, parameterization: 'v' }, 2);
    await expect(model.sample({ sampler: 'adaptive', n: 1, rtol: -1 })).rejects.toThrow(
      /spec\.rtol must be > 0/,
    );
    await expect(model.sample({ sampler: 'adaptive', n: 1, atol: 0 })).rejects.toThrow(
      /spec\.atol must be > 0/,
    );
    await expect(model.sample({ sampler: 'adaptive', n: 1, sigmas: [10, 1] })).rejects.toThrow(
      /adaptive sampler chooses its own sigmas/,
    );
    model.dispose();
  });
});
