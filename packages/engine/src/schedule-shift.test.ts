import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { materialize } from '@anneal/datasets/shards';
import { beforeAll, describe, expect, it } from 'vitest';
import { Model, type ModelConfigInput, parseModelConfig, presetUNet, Trainer } from './index.ts';

// Issue 16 §1: the resolution-dependent schedule shift (Hoogeboom et al. 2023, "simple
// diffusion"): at resolution r, sigma scaled by r / base, i.e. log-SNR shifted by
// 2 log(base / r).
const home = mkdtempSync(join(tmpdir(), 'anneal-shift-'));

const config = (size: number, shiftBase?: number): ModelConfigInput => ({
  unet: {
    ...presetUNet('tiny', { resolution: size, channels: 3, numClasses: 5 }),
    block_out_channels: [16, 32],
  },
  parameterization: 'v',
  schedule: shiftBase ? { shift_base: shiftBase } : undefined,
});

/** The same weights under another config. */
function as(model: Model, c: ModelConfigInput): Model {
  const parsed = parseModelConfig(c);
  return Model.fromNative(model.native.derive(parsed), parsed);
}

describe('resolution-dependent schedule shift', () => {
  it('shifts log-SNR by exactly 2 log(base / resolution) at every end of the table', () => {
    const plain = Model.create(config(24), 1);
    const shifted = as(plain, config(24, 8));
    const logSnr = (sigma: number) => -2 * Math.log(sigma);
    const a = plain.sigmaRange();
    const b = shifted.sigmaRange();
    // Both sides are doubles from one table times 3: the error is a few ulps of log-SNR.
    expect(logSnr(b.sigmaMin) - logSnr(a.sigmaMin)).toBeCloseTo(2 * Math.log(8 / 24), 12);
    expect(logSnr(b.sigmaMax) - logSnr(a.sigmaMax)).toBeCloseTo(2 * Math.log(8 / 24), 12);
    // At its base resolution the shift is 1.
    expect(as(plain, config(24, 24)).sigmaRange()).toEqual(a);
  });

  it('samples a shifted model at its base resolution exactly as the unshifted one, and differently elsewhere', async () => {
    const plain = Model.create(config(16), 2);
    const atBase = as(plain, config(16, 16));
    const spec = { n: 2, steps: 4, sampler: 'ddim' as const, seed: 9, class: 1 };
    const a = await plain.sample(spec);
    const b = await atBase.sample(spec);
    expect(Buffer.from(b.images).equals(Buffer.from(a.images))).toBe(true);
    const above = await as(plain, config(16, 8)).sample(spec);
    expect(Buffer.from(above.images).equals(Buffer.from(a.images))).toBe(false);
  });

  it('refuses a shift on an EDM model, naming the field', () => {
    expect(() => Model.create({ ...config(16, 8), parameterization: 'edm' }, 0)).toThrow(
      /config\.schedule\.shift_base: the resolution shift applies to VP parameterizations/,
    );
  });

  describe('in training', () => {
    let at8: string[];
    let at16: string[];
    beforeAll(async () => {
      const shards = async (resolution: number) => {
        const m = await materialize(
          { kind: 'builtin', name: 'shapes', options: { count: 80, heldOut: 16, seed: 3 } },
          { resolution, home },
        );
        return m.manifest.splits.train.shards.map((s) => join(m.dir, s.file));
      };
      at8 = await shards(8);
      at16 = await shards(16);
    });

    // A progressive 8 -> 16 run based at 8: its 8 px stage trains exactly as the unshifted run
    // (shift 1: the same sigmas from the same keys), its 16 px stage on sigmas twice as large.
    it('draws each batch at its own resolution: unshifted at the base, shifted above it', async () => {
      const losses = async (shiftBase?: number) => {
        const t = Trainer.create({
          model: Model.create(config(16, shiftBase), 5),
          buckets: [
            { shards: at8, height: 8, width: 8 },
            { shards: at16, height: 16, width: 16 },
          ],
          stages: [
            { endStep: 3, buckets: [0] },
            { endStep: 6, buckets: [1] },
          ],
          numClasses: 5,
          batch: 8,
          totalSteps: 6,
          seed: 2,
        });
        const out: number[] = [];
        for await (const r of t.run(6)) out.push(r.loss);
        return out;
      };
      const plain = await losses();
      const shifted = await losses(8);
      expect(shifted.slice(0, 3)).toEqual(plain.slice(0, 3));
      for (let i = 3; i < 6; i++) expect(shifted[i]).not.toBe(plain[i]);
    });
  });
});
