// The denoiser wrapper's parameterizations (native/src/engine/denoiser.cpp): eps, v and x0 on
// the VP schedule, EDM preconditioning and consistency-model scalings (issue 10, item 12).
// Karras et al. 2022, Table 1; consistency: the inner denoiser's DDIM jump to sigma_min.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors } from '@anneal/datasets/shards';
import { describe, expect, it } from 'vitest';
import { loadNative, Model, type Parameterization, presetUNet, Trainer } from './index.ts';

const EPS32 = 2 ** -23;
const SIGMA_DATA = 0.5;
const SIGMA_MIN = 0.002;
/** Consistency models wrap a v network (their `consistency.inner`), as a student of a v teacher. */
const config = (parameterization: Parameterization) => ({
  parameterization,
  sigma_data: SIGMA_DATA,
  sigma_min: SIGMA_MIN,
  ...(parameterization === 'consistency'
    ? { consistency: { inner: 'v', sigma_min: SIGMA_MIN } }
    : {}),
});
const den = () => loadNative().denoiser;

/** A deterministic stream of standard normals (Box-Muller over a linear congruential generator). */
function normals(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 1) / 2 ** 32;
  };
  return Float32Array.from(
    { length: n },
    () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()),
  );
}

/** sigma_t of the default VP schedule (linear betas 1e-4..0.02 over 1000 steps), in double. */
function vpSigmas(): number[] {
  const out: number[] = [];
  let prod = 1;
  for (let t = 0; t < 1000; t++) {
    prod *= 1 - (1e-4 + ((0.02 - 1e-4) * t) / 999);
    out.push(Math.sqrt((1 - prod) / prod));
  }
  return out;
}

/**
 * Relative closeness for float32 results: each scaling is a handful of float32 operations
 * (square, add, rsqrt or divide), each off by at most half an ulp, so 8 ulps of the larger
 * magnitude bounds the difference from the double-precision formula.
 */
function expectClose(actual: ArrayLike<number>, expected: number[], ulps = 8) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] ?? Number.NaN;
    const e = expected[i] ?? Number.NaN;
    const bound = ulps * EPS32 * Math.max(Math.abs(a), Math.abs(e), Number.MIN_VALUE);
    expect(Math.abs(a - e), `index ${i}: ${a} vs ${e}`).toBeLessThanOrEqual(bound);
  }
}

const SIGMAS = [0.002, 0.01, 0.1, 0.5, 1, 2, 10, 80];
const f32 = (v: number) => Math.fround(v);

describe('scalings against their definitions', () => {
  const sigma = Float32Array.from(SIGMAS);
  const s = SIGMAS.map(f32);

  it('eps: c_skip = 1, c_out = -sigma, c_in = 1/sqrt(sigma^2 + 1)', () => {
    const r = den().scalings(config('eps'), sigma);
    expect(Array.from(r.cSkip)).toEqual(s.map(() => 1));
    expect(Array.from(r.cOut)).toEqual(s.map((x) => -x));
    expectClose(
      r.cIn,
      s.map((x) => 1 / Math.sqrt(x * x + 1)),
    );
  });

  it('v: c_skip = 1/(sigma^2 + 1), c_out = -sigma/sqrt(sigma^2 + 1)', () => {
    const r = den().scalings(config('v'), sigma);
    expectClose(
      r.cSkip,
      s.map((x) => 1 / (x * x + 1)),
    );
    expectClose(
      r.cOut,
      s.map((x) => -x / Math.sqrt(x * x + 1)),
    );
    expectClose(
      r.cIn,
      s.map((x) => 1 / Math.sqrt(x * x + 1)),
    );
  });

  it('x0: c_skip = 0, c_out = 1 at every sigma', () => {
    const r = den().scalings(config('x0'), sigma);
    expect(Array.from(r.cSkip)).toEqual(s.map(() => 0));
    expect(Array.from(r.cOut)).toEqual(s.map(() => 1));
  });

  it('edm: Table 1 of Karras et al. 2022, c_noise = 1000 * ln(sigma) / 4', () => {
    const r = den().scalings(config('edm'), sigma);
    const sd2 = SIGMA_DATA ** 2;
    expectClose(
      r.cSkip,
      s.map((x) => sd2 / (x * x + sd2)),
    );
    expectClose(
      r.cOut,
      s.map((x) => (x * SIGMA_DATA) / Math.sqrt(x * x + sd2)),
    );
    expectClose(
      r.cIn,
      s.map((x) => 1 / Math.sqrt(x * x + sd2)),
    );
    // ln(sigma) rounds to float32 before the scale; near sigma = 1 its absolute error is what
    // counts, so compare with an absolute bound of a few ulps of 250 * |ln(sigma)|'s scale.
    for (let i = 0; i < s.length; i++) {
      const e = 250 * Math.log(s[i] ?? 1);
      expect(Math.abs((r.cNoise[i] ?? Number.NaN) - e)).toBeLessThanOrEqual(
        8 * EPS32 * 250 * Math.max(1, Math.abs(e / 250)),
      );
    }
  });

  it('edm: the network target has unit variance for data of variance sigma_data^2 (eq. 8)', () => {
    // Var[(x0 - c_skip (x0 + sigma n)) / c_out] = ((1 - c_skip)^2 sd^2 + c_skip^2 sigma^2) / c_out^2 = 1.
    const r = den().scalings(config('edm'), sigma);
    for (let i = 0; i < s.length; i++) {
      const [cs, co, x] = [r.cSkip[i] ?? 0, r.cOut[i] ?? 0, s[i] ?? 0];
      const variance = ((1 - cs) ** 2 * SIGMA_DATA ** 2 + cs ** 2 * x ** 2) / co ** 2;
      // The ratio of float32 scalings each within a few ulps: 32 ulps, amplified by the
      // cancellation in 1 - c_skip when c_skip is near 1 (small sigma).
      expect(Math.abs(variance - 1)).toBeLessThanOrEqual(32 * EPS32 * (1 + (SIGMA_DATA / x) ** 2));
    }
  });

  it("consistency: the inner v denoiser's DDIM jump to sigma_min, f = D_v + (sigma_min / sigma)(x - D_v)", () => {
    // With r = sigma_min / s and D_v = x / (s^2 + 1) - s / sqrt(s^2 + 1) F: one
    // c_skip = r + (1 - r) / (s^2 + 1), c_out = -(1 - r) s / sqrt(s^2 + 1), and the v
    // network's own input scaling and timestep. c_skip + c_out F's weights on (x, D_v) sum to 1.
    const r = den().scalings(config('consistency'), sigma);
    const v = den().scalings(config('v'), sigma);
    const ratio = s.map((x) => f32(f32(SIGMA_MIN) / x));
    expectClose(
      r.cSkip,
      s.map((x, i) => (ratio[i] ?? 0) + (1 - (ratio[i] ?? 0)) / (x * x + 1)),
      16,
    );
    // c_out vanishes at sigma_min; compare it with an absolute bound there.
    for (let i = 0; i < s.length; i++) {
      const x = s[i] ?? 0;
      const e = (-(1 - (ratio[i] ?? 0)) * x) / Math.sqrt(x * x + 1);
      expect(Math.abs((r.cOut[i] ?? Number.NaN) - e)).toBeLessThanOrEqual(
        16 * EPS32 * Math.max(Math.abs(e), EPS32),
      );
    }
    expect(Array.from(r.cIn)).toEqual(Array.from(v.cIn));
    expect(Array.from(r.cNoise)).toEqual(Array.from(v.cNoise));
  });
});

describe('limits in sigma', () => {
  it('consistency: exactly the identity at sigma_min (c_skip = 1, c_out = 0)', () => {
    const r = den().scalings(config('consistency'), Float32Array.of(SIGMA_MIN));
    expect(r.cSkip[0]).toBe(1);
    expect(Math.abs(r.cOut[0] ?? 1)).toBe(0);
    // So D(x; sigma_min) = x whatever the network says (the boundary condition, eq. 8).
    const x = normals(2 * 4 * 4 * 1, 1);
    const junk = normals(x.length, 2).map((v) => v * 1e3);
    const d = den().denoise(
      config('consistency'),
      x,
      Float32Array.of(SIGMA_MIN, SIGMA_MIN),
      junk,
      [2, 4, 4, 1],
    );
    expect(Array.from(d.denoised)).toEqual(Array.from(x));
  });

  it('as sigma -> 0: c_skip -> 1 and c_out -> 0 for eps, v, edm and consistency', () => {
    const tiny = Float32Array.of(1e-6);
    for (const p of ['eps', 'v', 'edm'] as const) {
      const r = den().scalings(config(p), tiny);
      expect(Math.abs((r.cSkip[0] ?? 0) - 1), p).toBeLessThanOrEqual(
        1e-11 / SIGMA_DATA ** 2 + EPS32,
      );
      expect(Math.abs(r.cOut[0] ?? 1), p).toBeLessThanOrEqual(1e-6 * 1.01);
    }
    // Consistency's boundary is sigma_min, not 0: approach it from above. 1 - r is d / sigma
    // (d = sigma - sigma_min, plus float32 rounding of r); c_skip - 1 = -(1 - r) s^2 / (s^2 + 1)
    // is second order in sigma, and c_out = -(1 - r) s / sqrt(s^2 + 1) ~ -d.
    const above = f32(SIGMA_MIN * (1 + 1e-4));
    const d = f32(above - f32(SIGMA_MIN));
    const r = den().scalings(config('consistency'), Float32Array.of(above));
    const gap = d / above + 2 * EPS32;
    expect(Math.abs((r.cSkip[0] ?? 0) - 1)).toBeLessThanOrEqual(gap * above * above + EPS32);
    expect(Math.abs(r.cOut[0] ?? 1)).toBeLessThanOrEqual(gap * above * 1.01);
  });

  it('as sigma -> infinity: c_skip -> 0 and c_out -> sigma_data (edm), -1 (v and consistency around v)', () => {
    const huge = Float32Array.of(1e6);
    const cm = den().scalings(config('consistency'), huge);
    // c_skip -> sigma_min / sigma + 1 / sigma^2; c_out -> the v network's -1.
    expect(cm.cSkip[0] ?? 1).toBeLessThanOrEqual((SIGMA_MIN / 1e6 + 1e-12) * 1.01);
    expect(Math.abs((cm.cOut[0] ?? 0) + 1)).toBeLessThanOrEqual(4 * EPS32);
    for (const p of ['edm'] as const) {
      const r = den().scalings(config(p), huge);
      expect(r.cSkip[0] ?? 1, p).toBeLessThanOrEqual((SIGMA_DATA ** 2 / 1e12) * 1.01);
      expect(Math.abs((r.cOut[0] ?? 0) - SIGMA_DATA), p).toBeLessThanOrEqual(4 * EPS32);
      expect((r.cIn[0] ?? 0) * 1e6, p).toBeCloseTo(1, 5);
    }
    const v = den().scalings(config('v'), huge);
    expect(v.cSkip[0] ?? 1).toBeLessThanOrEqual(1e-12 * 1.01);
    expect(Math.abs((v.cOut[0] ?? 0) + 1)).toBeLessThanOrEqual(4 * EPS32);
  });

  it('VP kinds: c_noise is the DDPM timestep whose sigma_t is sigma', () => {
    const table = vpSigmas();
    const ts = [0, 1, 10, 250, 500, 998, 999];
    for (const p of ['eps', 'v', 'x0'] as const) {
      const r = den().scalings(config(p), Float32Array.from(ts.map((t) => table[t] ?? 0)));
      // log(sigma) in float32 moves t by (rounding of log sigma) / (log-spacing of the table),
      // at most ~1e-3 steps at t = 999 where the spacing is smallest.
      ts.forEach((t, i) => {
        expect(Math.abs((r.cNoise[i] ?? Number.NaN) - t), `${p} t=${t}`).toBeLessThanOrEqual(1e-2);
      });
    }
  });
});

describe('network-target round trip', () => {
  const shape: [number, number, number, number] = [SIGMAS.length, 4, 4, 2];
  const per = 4 * 4 * 2;
  const x0 = normals(SIGMAS.length * per, 3).map((v) => v * SIGMA_DATA);
  const noise = normals(x0.length, 4);
  const sigma = Float32Array.from(SIGMAS);
  const xNoisy = x0.map((v, i) => v + (sigma[Math.floor(i / per)] ?? 0) * (noise[i] ?? 0));

  it.each(['eps', 'v', 'x0', 'edm'] as const)(
    '%s: the target fed back through the wrapper gives x0',
    (p) => {
      const target = den().target(config(p), xNoisy, x0, sigma, shape);
      const { denoised, networkInput } = den().denoise(config(p), xNoisy, sigma, target, shape);
      const { cIn } = den().scalings(config(p), sigma);
      for (let i = 0; i < x0.length; i++) {
        // D = c_skip x + c_out (x0 - c_skip x) / c_out: five float32 roundings of terms no
        // larger than |x| + |x0|, so 16 ulps of that bounds the difference.
        const bound = 16 * EPS32 * (Math.abs(xNoisy[i] ?? 0) + Math.abs(x0[i] ?? 0));
        expect(
          Math.abs((denoised[i] ?? Number.NaN) - (x0[i] ?? 0)),
          `${p} at ${i}`,
        ).toBeLessThanOrEqual(bound);
        // The network sees c_in x.
        const expected = (xNoisy[i] ?? 0) * (cIn[Math.floor(i / per)] ?? 0);
        expect(Math.abs((networkInput[i] ?? Number.NaN) - expected)).toBeLessThanOrEqual(
          2 * EPS32 * Math.abs(expected),
        );
      }
    },
  );

  it('eps: the target is the noise', () => {
    const target = den().target(config('eps'), xNoisy, x0, sigma, shape);
    for (let i = 0; i < x0.length; i++) {
      // (x0 - x) / -sigma = n, with the rounding of x = x0 + sigma n relative to |x| / sigma.
      const s = sigma[Math.floor(i / per)] ?? 1;
      const bound = (4 * EPS32 * (Math.abs(xNoisy[i] ?? 0) + Math.abs(x0[i] ?? 0))) / s;
      expect(Math.abs((target[i] ?? Number.NaN) - (noise[i] ?? 0))).toBeLessThanOrEqual(
        bound + 4 * EPS32 * Math.abs(noise[i] ?? 0),
      );
    }
  });

  it('consistency models have no network-space target', () => {
    expect(() => den().target(config('consistency'), xNoisy, x0, sigma, shape)).toThrow(
      expect.objectContaining({
        code: 'ANNEAL_INVALID_ARGUMENT',
        message: expect.stringMatching(/consistency/),
      }),
    );
  });
});

describe('a tiny model trains and samples with each parameterization', () => {
  const dir = mkdtempSync(join(tmpdir(), 'anneal-param-'));
  const n = 32;
  // Two flat gray levels: easy data whose loss a few steps can lower.
  const images = new Uint8Array(n * 8 * 8).map((_, i) => (Math.floor(i / 64) % 2 ? 200 : 60));
  const shard = join(dir, 'shard.safetensors');
  writeFileSync(
    shard,
    encodeSafetensors([['images', { dtype: 'U8', shape: [n, 8, 8, 1], data: images }]]),
  );
  const unet = {
    ...presetUNet('tiny', { resolution: 8, channels: 1 }),
    block_out_channels: [16, 32],
  };

  const steps = 40;
  /** The loss of each step, by parameterization: compared across them in the last test. */
  const losses = new Map<Parameterization, number[]>();
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

  it.each(['eps', 'v', 'x0', 'edm'] as const)('%s: the loss falls, and it samples', async (p) => {
    // The same seed for the weights, the data order and the noise in every parameterization:
    // only the denoiser's scalings and the loss target differ between them.
    const model = Model.create({ unet, parameterization: p, sigma_data: SIGMA_DATA }, 1);
    const t = Trainer.create({
      model,
      shards: [shard],
      numClasses: 0,
      batch: 16,
      totalSteps: steps,
      lr: 2e-3,
      warmup: 0,
      seed: 1,
      compile: false,
      cfgDropout: 0,
    });
    const seen: number[] = [];
    for await (const r of t.run(steps)) seen.push(r.loss);
    losses.set(p, seen);
    expect(seen).toHaveLength(steps);
    for (const l of seen) expect(Number.isFinite(l)).toBe(true);
    // Each step draws its own noise levels, so single losses jump; quarter means do not.
    // Measured with seeds 1-3: the last quarter averages 0.2x (eps) to 0.75x (v) of the
    // first. 0.85x leaves a margin far beyond what BLAS summation order moves a mean
    // (relative 1e-5), and a trainer that does not learn stays near 1x.
    const quarter = steps / 4;
    const first = mean(seen.slice(0, quarter));
    const last = mean(seen.slice(-quarter));
    expect(last, `${p}: first quarter ${first}, last ${last}`).toBeLessThan(0.85 * first);
    const ema = t.ema();
    const s = await ema.sample({ sampler: 'euler', steps: 4, n: 2, seed: 0 });
    expect(s.shape).toEqual([2, 8, 8, 1]);
    expect(s.nonFinite).toBe(0);
    ema.dispose();
    model.dispose();
  });

  it('starts each parameterization from a different loss (the trainer uses it)', () => {
    // Step 0: the same weights, batch and noise, so only the parameterization can move the
    // loss. Measured: eps 1.19, v 0.66, x0 0.41, edm 1.13 (the closest pair 6% apart). A
    // trainer that ignored `parameterization` would give four equal losses; 1% is far above
    // float noise (relative 1e-6) and far below the gaps.
    const start = (['eps', 'v', 'x0', 'edm'] as const).map((p) => {
      const l = losses.get(p)?.[0];
      if (l === undefined) throw new Error(`${p} did not train`);
      return [p, l] as const;
    });
    for (const [i, [p, a]] of start.entries())
      for (const [q, b] of start.slice(i + 1))
        expect(Math.abs(a - b) / Math.max(a, b), `${p} ${a} vs ${q} ${b}`).toBeGreaterThan(0.01);
  });

  it('consistency: samples from a random init with the consistency sampler; training is refused with a coded error', async () => {
    const model = Model.create(
      {
        unet,
        parameterization: 'consistency',
        consistency: { inner: 'v', sigma_min: 0.01 },
      },
      1,
    );
    const c = await model.sample({ sampler: 'consistency', steps: 2, n: 2, seed: 0 });
    expect(c.nonFinite).toBe(0);
    expect(c.nfe).toBe(2);
    expect(() =>
      Trainer.create({ model, shards: [shard], numClasses: 0, batch: 8, totalSteps: 4 }),
    ).toThrow(
      expect.objectContaining({
        code: 'BAD_REQUEST',
        message: expect.stringMatching(/consistency/),
      }),
    );
    model.dispose();
  });
});
