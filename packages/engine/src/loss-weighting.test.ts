// Min-SNR loss weighting (native/src/engine/objective.cpp; Hang et al. 2023, "Efficient
// Diffusion Training via Min-SNR Weighting Strategy", as in diffusers' train_text_to_image.py):
// the per-example weight on the network-space MSE that leaves min(SNR, gamma) as the x0-space
// weight, SNR = 1/sigma^2 in the engine's VE sigma space (issue 11, item 3).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors } from '@anneal/datasets/shards';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNative, Model, presetUNet, Trainer } from './index.ts';

const EPS32 = 2 ** -23;
const den = () => loadNative().denoiser;
// Below, at and above gamma = 5's crossover sigma (1/sqrt(5) = 0.447), up to the linear
// betas' top (about 157).
const SIGMAS = [0.002, 0.01, 0.1, 0.4, 0.5, 1, 2, 10, 80, 157];

/**
 * Each weight is four float32 operations (square, divide, minimum, divide or add+divide),
 * each off by at most half an ulp, so 8 ulps of the result bounds the difference from the
 * double-precision formula.
 */
function expectClose(actual: Float32Array, expected: number[]) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] ?? Number.NaN;
    const e = expected[i] ?? Number.NaN;
    expect(Math.abs(a - e), `sigma ${SIGMAS[i]}: ${a} vs ${e}`).toBeLessThanOrEqual(
      8 * EPS32 * Math.max(Math.abs(a), Math.abs(e)),
    );
  }
}

describe('min-SNR weights against the formula', () => {
  const sigma = Float32Array.from(SIGMAS);
  const snr = SIGMAS.map((s) => 1 / Math.fround(s) ** 2);

  it.each([5, 1, 20])(
    'gamma %d: eps min(SNR, g)/SNR, v min(SNR, g)/(SNR+1), x0 min(SNR, g)',
    (g) => {
      expectClose(
        den().minSnrWeight({ parameterization: 'eps' }, sigma, g),
        snr.map((r) => Math.min(r, g) / r),
      );
      expectClose(
        den().minSnrWeight({ parameterization: 'v' }, sigma, g),
        snr.map((r) => Math.min(r, g) / (r + 1)),
      );
      expectClose(
        den().minSnrWeight({ parameterization: 'x0' }, sigma, g),
        snr.map((r) => Math.min(r, g)),
      );
    },
  );

  it('refuses EDM and consistency models and a gamma <= 0, naming the problem', () => {
    for (const p of ['edm', 'consistency'])
      expect(() => den().minSnrWeight({ parameterization: p }, sigma, 5)).toThrow(
        expect.objectContaining({
          code: 'ANNEAL_INVALID_ARGUMENT',
          message: expect.stringMatching(/EDM/),
        }),
      );
    expect(() => den().minSnrWeight({ parameterization: 'v' }, sigma, 0)).toThrow(
      expect.objectContaining({
        code: 'ANNEAL_INVALID_ARGUMENT',
        message: expect.stringMatching(/gamma/),
      }),
    );
  });
});

describe('a tiny model trains with min-SNR weighting', () => {
  const dir = mkdtempSync(join(tmpdir(), 'anneal-minsnr-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
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
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

  async function train(lossWeighting: 'none' | 'min-snr') {
    const model = Model.create({ unet, parameterization: 'v' }, 1);
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
      lossWeighting,
      minSnrGamma: 5,
    });
    const seen: number[] = [];
    for await (const r of t.run(steps)) seen.push(r.loss);
    model.dispose();
    return seen;
  }

  it('the loss is weighted from the first step, and falls', async () => {
    const plain = await train('none');
    const weighted = await train('min-snr');
    expect(weighted).toHaveLength(steps);
    for (const l of weighted) expect(Number.isFinite(l)).toBe(true);
    // Step 0: the same weights, batch, sigmas and noise. For v every weight
    // min(SNR, 5)/(SNR + 1) is at most 5/6, so the weighted loss is at most 5/6 of the plain
    // one; a trainer that ignored the option would give the same loss (to float noise, 1e-6).
    // Measured: plain 0.66, weighted 0.13 (most sigmas of the table have SNR far from 5).
    const [p0 = Number.NaN] = plain;
    const [w0 = Number.NaN] = weighted;
    expect(w0, `plain ${p0}, weighted ${w0}`).toBeLessThanOrEqual((5 / 6) * p0 * (1 + 1e-5));
    // Measured: the last quarter averages 0.41x the first; a trainer that does not learn
    // stays near 1x.
    const quarter = steps / 4;
    const first = mean(weighted.slice(0, quarter));
    const last = mean(weighted.slice(-quarter));
    expect(last, `first quarter ${first}, last ${last}`).toBeLessThan(0.85 * first);
  });

  it('refuses min-SNR for an EDM model before training', () => {
    const model = Model.create({ unet, parameterization: 'edm' }, 1);
    expect(() =>
      Trainer.create({
        model,
        shards: [shard],
        numClasses: 0,
        batch: 8,
        totalSteps: 4,
        lossWeighting: 'min-snr',
      }),
    ).toThrow(expect.objectContaining({ message: expect.stringMatching(/EDM/) }));
    model.dispose();
  });
});
