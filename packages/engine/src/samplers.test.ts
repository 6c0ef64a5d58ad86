import { describe, expect, it } from 'vitest';
import { loadNative, Model, presetUNet } from './index.ts';

// Gaussian data N(mean, U diag(lambda) U^T) has an exact denoiser, and the probability-flow
// ODE has an exact solution for each initial noise, so every sampler can be checked against
// closed-form answers.
const theta = 0.6;
const U = new Float32Array([Math.cos(theta), -Math.sin(theta), Math.sin(theta), Math.cos(theta)]);
const mean = new Float32Array([1, -1]);
const lambda = new Float32Array([2, 0.25]);

type GaussianOptions = Parameters<ReturnType<typeof loadNative>['sampling']['gaussian']>[0];

function run(
  sampler: string,
  steps: number,
  n = 2000,
  seed = 0,
  eta = 0,
  extra: Partial<GaussianOptions> = {},
) {
  return loadNative().sampling.gaussian({
    dim: 2,
    mean,
    eigvecs: U,
    eigvals: lambda,
    sampler,
    steps,
    n,
    seed,
    eta,
    ...extra,
  });
}

function rmsToExact(r: { samples: Float32Array; exact: Float32Array }) {
  let s = 0;
  for (let i = 0; i < r.samples.length; i++) s += ((r.samples[i] ?? 0) - (r.exact[i] ?? 0)) ** 2;
  return Math.sqrt(s / r.samples.length);
}

function moments(x: Float32Array) {
  const n = x.length / 2;
  const m = [0, 0];
  for (let i = 0; i < n; i++) {
    m[0] = (m[0] ?? 0) + (x[2 * i] ?? 0) / n;
    m[1] = (m[1] ?? 0) + (x[2 * i + 1] ?? 0) / n;
  }
  const c = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    const a = (x[2 * i] ?? 0) - (m[0] ?? 0);
    const b = (x[2 * i + 1] ?? 0) - (m[1] ?? 0);
    c[0] = (c[0] ?? 0) + (a * a) / (n - 1);
    c[1] = (c[1] ?? 0) + (a * b) / (n - 1);
    c[2] = (c[2] ?? 0) + (b * b) / (n - 1);
  }
  return { mean: m, cov: c };
}

// Sigma = U diag(lambda) U^T with U's columns the eigenvectors (row-major [[c, -s], [s, c]]).
const c0 = Math.cos(theta);
const s0 = Math.sin(theta);
const trueCov = [
  2 * c0 * c0 + 0.25 * s0 * s0, // xx
  2 * c0 * s0 - 0.25 * s0 * c0, // xy
  2 * s0 * s0 + 0.25 * c0 * c0, // yy
];

describe('samplers against the exact Gaussian answer', () => {
  for (const sampler of ['euler', 'heun', 'dpmpp-2m', 'ddim']) {
    it(`${sampler}: converges to the exact ODE solution as steps grow`, () => {
      const errors = [10, 20, 50, 100].map((steps) => rmsToExact(run(sampler, steps)));
      for (let i = 1; i < errors.length; i++)
        expect(errors[i]).toBeLessThan(errors[i - 1] ?? Infinity);
      expect(errors[3]).toBeLessThan(sampler === 'euler' || sampler === 'ddim' ? 0.05 : 0.005);
    });
  }

  it('deterministic samplers land on the right mean and covariance', () => {
    for (const sampler of ['euler', 'heun', 'dpmpp-2m']) {
      const m = moments(run(sampler, 100, 8000, 1).samples);
      expect(Math.abs((m.mean[0] ?? 0) - 1)).toBeLessThan(0.06);
      expect(Math.abs((m.mean[1] ?? 0) + 1)).toBeLessThan(0.06);
      for (const [i, v] of m.cov.entries())
        expect(Math.abs(v - (trueCov[i] ?? 0))).toBeLessThan(0.1);
    }
  });

  it('DDPM (ancestral) lands on the right distribution too', () => {
    const m = moments(run('ddpm', 200, 8000, 2).samples);
    expect(Math.abs((m.mean[0] ?? 0) - 1)).toBeLessThan(0.06);
    for (const [i, v] of m.cov.entries())
      expect(Math.abs(v - (trueCov[i] ?? 0))).toBeLessThan(0.12);
  });

  it('DPM-Solver++(2M) beats Euler at equal NFE', () => {
    for (const steps of [10, 20]) {
      const euler = run('euler', steps);
      const dpm = run('dpmpp-2m', steps);
      expect(dpm.nfe).toBe(euler.nfe);
      expect(rmsToExact(dpm)).toBeLessThan(rmsToExact(euler) / 1.5);
    }
  });

  it('counts Heun NFE as two per step except the last', () => {
    expect(run('heun', 10).nfe).toBe(19);
  });
});

// The consistency sampler (Song et al. 2023, Algorithm 1) with the exact denoiser as its f:
// each step shrinks every eigen-coordinate by lambda / (lambda + sigma^2), then re-noises by
// sqrt(tau^2 - sigma_min^2). On Karras sigmas (80, tau, 0.002) the covariance after the three
// evaluations has a closed form per eigenvalue; without the re-noising it would be near 0.
describe('consistency sampler against its closed form', () => {
  it('lands on the covariance the shrink-and-renoise chain implies, one evaluation per step', () => {
    const smax = 80;
    const smin = 0.002;
    const tau = ((smax ** (1 / 7) + smin ** (1 / 7)) / 2) ** 7; // Karras rho 7, 3 points
    const r = run('consistency', 3, 8000, 5, 0, { sigmaMax: smax, sigmaMin: smin });
    expect(r.nfe).toBe(3);
    const variance = (l: number) => {
      const shrink = (s: number) => l / (l + s * s);
      const v1 = shrink(smax) ** 2 * (l + smax * smax); // f at sigma_max of x_T
      const v2 = shrink(tau) ** 2 * (v1 + tau * tau - smin * smin); // re-noised to tau
      return shrink(smin) ** 2 * v2; // re-noised by sqrt(smin^2 - smin^2) = 0
    };
    const [va, vb] = [variance(lambda[0] ?? 0), variance(lambda[1] ?? 0)];
    const want = [
      va * c0 * c0 + vb * s0 * s0,
      va * c0 * s0 - vb * s0 * c0,
      va * s0 * s0 + vb * c0 * c0,
    ];
    const m = moments(r.samples);
    expect(Math.abs((m.mean[0] ?? 0) - 1)).toBeLessThan(0.03);
    expect(Math.abs((m.mean[1] ?? 0) + 1)).toBeLessThan(0.03);
    // 8000 samples: a variance's standard error is sqrt(2 / n) ~ 1.6% of it; 10% + 0.005.
    for (const [i, v] of m.cov.entries())
      expect(Math.abs(v - (want[i] ?? 0)), `cov ${i}`).toBeLessThan(
        0.1 * Math.abs(want[i] ?? 0) + 0.005,
      );
  });
});

// The model interface (issue 11): the same closed form handed to the samplers as a network of
// each VP parameterization would give it, through the Denoiser wrapper and its sigma ->
// timestep map, on the linear-beta table the engine trains with (sigma from 0.01 to 157). Any
// slip in c_skip/c_out/c_in or in the timestep map moves the samples away from the exact ODE
// endpoint that the direct path reaches.
describe('samplers through the eps, v and x0 wrappers on the linear-beta table', () => {
  const linear = { kind: 'linear', timesteps: 1000, beta_start: 1e-4, beta_end: 0.02 };
  // sqrt(beta_0 / (1 - beta_0)): the table's first sigma, where its Karras schedule ends.
  const wrappedSigmaMin = Math.sqrt(1e-4 / (1 - 1e-4));
  const wrapped = (parameterization: string, sampler: string, steps: number, schedule?: string) =>
    run(sampler, steps, 2000, 3, 0, {
      config: { parameterization, schedule: linear },
      ...(schedule ? { schedule } : {}),
    });

  it('start at the top of the table, sigma = 157.4', () => {
    expect(wrapped('eps', 'euler', 10).sigmaMax).toBeCloseTo(157.4, 1);
  });

  for (const parameterization of ['eps', 'v', 'x0']) {
    for (const sampler of ['euler', 'heun', 'dpmpp-2m', 'ddim']) {
      it(`${parameterization}, ${sampler}: reaches the exact ODE endpoint as the direct denoiser does`, () => {
        // Karras for all (DDIM's default on a VP model is uniform-in-t, checked below).
        const r = wrapped(parameterization, sampler, 100, 'karras');
        // The direct path on the same Karras sigmas (the table's range) and the same noise.
        const direct = run(sampler, 100, 2000, 3, 0, {
          sigmaMax: r.sigmaMax,
          sigmaMin: wrappedSigmaMin,
        });
        // The wrapper adds float32 round-off of x at sigma = 157 (~157 u = 1e-5), which the
        // ODE contracts; a timestep map off by one table entry moves sigma by ~1% and the
        // samples by more than 1e-3.
        let d = 0;
        for (let i = 0; i < r.samples.length; i++)
          d = Math.max(d, Math.abs((r.samples[i] ?? 0) - (direct.samples[i] ?? 0)));
        expect(d).toBeLessThan(1e-3);
        expect(rmsToExact(r)).toBeLessThan(
          sampler === 'euler' || sampler === 'ddim' ? 0.05 : 0.005,
        );
      });
    }
  }

  it('DDIM on its default uniform-in-t schedule reaches the exact endpoint through each wrapper', () => {
    for (const parameterization of ['eps', 'v', 'x0'])
      expect(rmsToExact(wrapped(parameterization, 'ddim', 100))).toBeLessThan(0.05);
  });

  it('DDPM through each wrapper lands on the right distribution', () => {
    for (const parameterization of ['eps', 'v', 'x0']) {
      const m = moments(wrapped(parameterization, 'ddpm', 200).samples);
      expect(Math.abs((m.mean[0] ?? 0) - 1)).toBeLessThan(0.06);
      for (const [i, v] of m.cov.entries())
        expect(Math.abs(v - (trueCov[i] ?? 0))).toBeLessThan(0.12);
    }
  });
});

describe('sigma schedules', () => {
  const { sigmas } = loadNative().sampling;
  it('all end in 0 and decrease', () => {
    for (const schedule of ['karras', 'exponential', 'uniform']) {
      const s = sigmas({ steps: 12, schedule });
      expect(s).toHaveLength(13);
      expect(s.at(-1)).toBe(0);
      for (let i = 1; i < s.length; i++) expect(s[i]).toBeLessThan(s[i - 1] ?? Infinity);
    }
  });

  it('Karras follows eq. 5 at the ends', () => {
    const s = sigmas({ steps: 5, schedule: 'karras', sigmaMin: 0.1, sigmaMax: 10 });
    expect(s[0]).toBeCloseTo(10, 10);
    expect(s[4]).toBeCloseTo(0.1, 10);
  });

  it('explicit lists get a final 0 and are validated', () => {
    expect(sigmas({ steps: 1, schedule: 'explicit', sigmas: [5, 1, 0.1] })).toEqual([5, 1, 0.1, 0]);
    expect(() => sigmas({ steps: 1, schedule: 'explicit', sigmas: [1, 2] })).toThrow(
      /strictly decrease/,
    );
    expect(() => sigmas({ steps: 1, schedule: 'explicit', sigmas: [] })).toThrow(
      /at least one sigma/,
    );
  });
});

// A start sigma below the table's top (issue 11, item 3: `--sigma-max`): the schedule runs
// from S, and the exact ODE answer from S is what the samplers must still reach.
describe('a start sigma (sigma_max)', () => {
  const linear = { kind: 'linear', timesteps: 1000, beta_start: 1e-4, beta_end: 0.02 };
  const config = { parameterization: 'v', schedule: linear };
  const wrappedSigmaMin = Math.sqrt(1e-4 / (1 - 1e-4));
  const from = (sampler: string, steps: number, schedule: string, startSigma: number) =>
    run(sampler, steps, 2000, 3, 0, { config, schedule, startSigma } as Partial<GaussianOptions>);

  it('karras and exponential start at S and reach the exact endpoint from S', () => {
    for (const schedule of ['karras', 'exponential']) {
      const r = from('heun', 100, schedule, 10);
      // Karras is (S^(1/rho))^rho in double: S to a few ulps.
      expect(Math.abs(r.sigmaMax - 10) / 10, schedule).toBeLessThan(1e-12);
      expect(rmsToExact(r), schedule).toBeLessThan(0.005);
    }
    // The same Karras schedule given directly (10 down to the table's smallest sigma), same
    // noise: the wrapper's float32 round-off of x at sigma 10 is ~1e-6, far below 1e-3.
    const r = from('heun', 100, 'karras', 10);
    const direct = run('heun', 100, 2000, 3, 0, { sigmaMax: 10, sigmaMin: wrappedSigmaMin });
    let d = 0;
    for (let i = 0; i < r.samples.length; i++)
      d = Math.max(d, Math.abs((r.samples[i] ?? 0) - (direct.samples[i] ?? 0)));
    expect(d).toBeLessThan(1e-3);
  });

  it('uniform-in-t starts at the largest timestep whose sigma is <= S', () => {
    // The table in double: sigma_t = sqrt((1 - abar_t) / abar_t).
    const table: number[] = [];
    let prod = 1;
    for (let t = 0; t < 1000; t++) {
      prod *= 1 - (1e-4 + ((0.02 - 1e-4) * t) / 999);
      table.push(Math.sqrt((1 - prod) / prod));
    }
    for (const s of [10, 1, 0.5]) {
      const expected = Math.max(...table.filter((x) => x <= s));
      const r = from('ddim', 100, 'uniform', s);
      // The engine builds the same table in double (another summation order: relative 1e-12).
      expect(Math.abs(r.sigmaMax - expected) / expected, `S = ${s}`).toBeLessThan(1e-9);
      expect(r.sigmaMax).toBeLessThanOrEqual(s);
      expect(rmsToExact(r), `S = ${s}`).toBeLessThan(0.05);
    }
  });

  it('refuses a start outside the model sigma range, naming sigma_max', () => {
    for (const s of [200, 0.005])
      expect(() => from('euler', 4, 'karras', s)).toThrow(
        /sigma_max .* outside this model's sigma range/,
      );
  });

  it('Model.sample starts at sigma_max: the same images as the explicit schedule from S', async () => {
    const unet = {
      ...presetUNet('tiny', { resolution: 8, channels: 1 }),
      block_out_channels: [16, 32],
    };
    const model = Model.create({ unet, parameterization: 'v' }, 2);
    // The uniform schedule's last sigma is the table's smallest (t = 0).
    const { sigmas } = loadNative().sampling;
    const smallest = sigmas({ steps: 2, schedule: 'uniform' }, config).at(-2) ?? 0;
    const explicit = sigmas({ steps: 4, schedule: 'karras', sigmaMin: smallest, sigmaMax: 20 });
    const spec = { sampler: 'euler', steps: 4, n: 2, seed: 0, returnValues: true } as const;
    const a = await model.sample({ ...spec, schedule: 'karras', sigma_max: 20 });
    const b = await model.sample({ ...spec, sigmas: explicit });
    const full = await model.sample({ ...spec, schedule: 'karras' });
    // Same noise and sigmas up to double round-off, so float32 values agree to ~1e-6; the
    // full-range start (157) differs from S = 20 by far more.
    let same = 0;
    let apart = 0;
    for (let i = 0; i < (a.values?.length ?? 0); i++) {
      same = Math.max(same, Math.abs((a.values?.[i] ?? 0) - (b.values?.[i] ?? 0)));
      apart = Math.max(apart, Math.abs((a.values?.[i] ?? 0) - (full.values?.[i] ?? 0)));
    }
    expect(a.values?.length).toBe(2 * 8 * 8);
    expect(same).toBeLessThan(1e-4);
    expect(apart).toBeGreaterThan(1e-2);
    await expect(model.sample({ ...spec, sigmas: explicit, sigma_max: 20 })).rejects.toThrow(
      /explicit schedule lists its own/,
    );
    model.dispose();
  });
});
