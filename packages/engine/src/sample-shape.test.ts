import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { presetUNet } from './config/presets.ts';
import {
  defaultExtractor,
  extractorKey,
  Model,
  type ModelConfigInput,
  parseModelConfig,
} from './index.ts';
import { resumableKey, sampleResumable } from './sample-resumable.ts';
import { weightsSha256 } from './weights-digest.ts';

// Issue 16 §1: a multi-resolution model trains on aspect buckets (24x44, 32x32, 44x24 at 32
// px), so it must sample them too: GenerateSpec's height and width. Two levels here, so sides
// are multiples of 2; the schedule shifts at sqrt(height x width) as training shifted it.
const root = mkdtempSync(join(tmpdir(), 'anneal-sample-shape-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const config = (shiftBase?: number): ModelConfigInput => ({
  unet: {
    ...presetUNet('tiny', { resolution: 8, channels: 1, numClasses: 3 }),
    block_out_channels: [16, 32],
  },
  parameterization: 'v',
  schedule: shiftBase ? { shift_base: shiftBase } : undefined,
});

const saved = join(root, 'model');
{
  const m = Model.create(config(8), 4);
  m.save(saved);
  m.dispose();
}
const model = Model.load(saved);
afterAll(() => model.dispose());

const spec = { sampler: 'ddpm' as const, steps: 3, n: 5, seed: 2, chunk: 2 };

describe('sampling at other sides than the square', () => {
  it('returns images of the sides asked for, the square when asked for it byte for byte', async () => {
    const square = await model.sample(spec);
    expect(square.shape).toEqual([5, 8, 8, 1]);
    const same = await model.sample({ ...spec, height: 8, width: 8 });
    expect(Buffer.from(same.images).equals(Buffer.from(square.images))).toBe(true);
    const wide = await model.sample({ ...spec, height: 6, width: 12 });
    expect(wide.shape).toEqual([5, 6, 12, 1]);
    expect(wide.images.length).toBe(5 * 6 * 12);
    expect(wide.nonFinite).toBe(0);
    // The same seed gives the same images; another seed others.
    const again = await model.sample({ ...spec, height: 6, width: 12 });
    expect(Buffer.from(again.images).equals(Buffer.from(wide.images))).toBe(true);
    const other = await model.sample({ ...spec, seed: 3, height: 6, width: 12 });
    expect(Buffer.from(other.images).equals(Buffer.from(wide.images))).toBe(false);
  });

  it('lays given noise out at those sides: the draws it returns reproduce its images', async () => {
    const tall = { ...spec, height: 12, width: 4 };
    const drawn = await model.sample({ ...tall, returnNoise: true });
    expect(drawn.noise?.length).toBe(5 * 12 * 4);
    expect(drawn.stepNoise?.length).toBe(3 * 5 * 12 * 4);
    const given = await model.sample({ ...tall, noise: drawn.noise, stepNoise: drawn.stepNoise });
    expect(Buffer.from(given.images).equals(Buffer.from(drawn.images))).toBe(true);
    // Noise of the square's layout is refused, naming the shape expected.
    const square = await model.sample({ ...spec, returnNoise: true });
    await expect(model.sample({ ...tall, noise: square.noise })).rejects.toThrow(/spec\.noise/);
  });

  it('refuses sides the U-Net cannot halve, naming the factor', async () => {
    await expect(model.sample({ ...spec, height: 7, width: 8 })).rejects.toThrow(
      /7x8: this U-Net takes sides that are multiples of 2/,
    );
  });

  it('shifts a resolution-shifted schedule at sqrt(height x width), as its training batches were', () => {
    const parsed = parseModelConfig(config(8));
    const shifted = Model.fromNative(model.native.derive(parsed), parsed);
    const square = shifted.sigmaRange();
    // 4 x 16 holds 8^2 pixels: the base's shift of 1.
    expect(shifted.sigmaRange({ height: 4, width: 16 })).toEqual(square);
    // 8 x 16: sigma x sqrt(128) / 8, log-SNR down by 2 log(sqrt(2)) = log 2.
    const wide = shifted.sigmaRange({ height: 8, width: 16 });
    expect(Math.log(wide.sigmaMax / square.sigmaMax)).toBeCloseTo(0.5 * Math.log(2), 12);
    expect(Math.log(wide.sigmaMin / square.sigmaMin)).toBeCloseTo(0.5 * Math.log(2), 12);
    // Without a shift the size changes nothing.
    const plainConfig = parseModelConfig(config());
    const plain = Model.fromNative(model.native.derive(plainConfig), plainConfig);
    expect(plain.sigmaRange({ height: 8, width: 16 })).toEqual(plain.sigmaRange());
    shifted.dispose();
    plain.dispose();
  });

  it('keeps resumable runs of other sides in their own folders, the square in the one it had', async () => {
    const cache = join(root, 'cache');
    const squareKey = resumableKey(model, spec);
    expect(squareKey).not.toHaveProperty('height');
    expect(resumableKey(model, { ...spec, height: 8, width: 8 })).toEqual(squareKey);
    const wideSpec = { ...spec, height: 6, width: 12 };
    expect(resumableKey(model, wideSpec)).toMatchObject({ height: 6, width: 12 });
    const whole = await model.sample(wideSpec);
    const first = await sampleResumable(model, wideSpec, { root: cache });
    expect(first.shape).toEqual([5, 6, 12, 1]);
    expect(Buffer.from(first.images).equals(Buffer.from(whole.images))).toBe(true);
    const square = await sampleResumable(model, spec, { root: cache });
    expect(square.dir).not.toBe(first.dir);
    expect(JSON.parse(readFileSync(join(first.dir, 'spec.json'), 'utf8'))).toMatchObject({
      height: 6,
      width: 12,
    });
    // Read back, not drawn again.
    const resumed = await sampleResumable(model, wideSpec, { root: cache });
    expect(resumed.chunks).toEqual({ resumed: 3, sampled: 0 });
    expect(resumed.shape).toEqual([5, 6, 12, 1]);
    expect(Buffer.from(resumed.images).equals(Buffer.from(whole.images))).toBe(true);
  });

  it("refuses recorded buckets that are not this U-Net's", () => {
    const buckets = (factor: number, shapes: Array<{ height: number; width: number }>) => ({
      ...config(),
      buckets: { target: 8, factor, min_count: 4, shapes },
    });
    expect(() => parseModelConfig(buckets(2, [{ height: 6, width: 10 }]))).not.toThrow();
    expect(() => parseModelConfig(buckets(4, [{ height: 8, width: 8 }]))).toThrow(
      /buckets: factor 4 is not this U-Net's 2\^\(levels-1\) = 2/,
    );
    expect(() => parseModelConfig(buckets(2, [{ height: 7, width: 10 }]))).toThrow(
      /buckets: 7x10 has a side that is not a multiple of 2/,
    );
  });

  // Committed runs name their folders by these keys (models/*/eval/samples, the ruler's
  // extractors): a change to the key would strand them. Pinned against the files themselves.
  it('names the committed square runs and extractors as it did', () => {
    const repo = join(import.meta.dirname, '..', '..', '..');
    const teacherDir = join(repo, 'models', 'mnist-v-small');
    const teacher = Model.load(teacherDir);
    try {
      const samples = join(teacherDir, 'eval', 'samples');
      let checked = 0;
      for (const folder of readdirSync(samples)) {
        const text = readFileSync(join(samples, folder, 'spec.json'), 'utf8');
        const key = JSON.parse(text);
        if (key.weights !== weightsSha256(teacherDir)) continue;
        const spec = {
          n: 1,
          sampler: key.sampler,
          ...(key.steps !== null ? { steps: key.steps } : {}),
          ...(key.sigmas ? { sigmas: key.sigmas } : { schedule: key.schedule }),
          ...(key.sigma_max !== null ? { sigma_max: key.sigma_max } : {}),
          ...(key.rtol !== null ? { rtol: key.rtol, atol: key.atol } : {}),
          seed: key.seed,
          ...(key.class !== null ? { class: key.class } : {}),
          guidance: key.guidance,
          eta: key.eta,
          ...(key.clipDenoised !== null ? { clipDenoised: key.clipDenoised } : {}),
          dtype: key.dtype,
          chunk: key.chunk,
        };
        const again = JSON.stringify(resumableKey(teacher, spec));
        expect(again).toBe(text);
        expect(createHash('sha256').update(again).digest('hex').slice(0, 24)).toBe(folder);
        checked++;
      }
      expect(checked).toBeGreaterThan(10);
    } finally {
      teacher.dispose();
    }
    const extractors = join(repo, 'models', 'extractors');
    for (const id of readdirSync(extractors).filter((f) => /^[0-9a-f]{24}$/.test(f))) {
      const meta = JSON.parse(readFileSync(join(extractors, id, 'extractor.json'), 'utf8'));
      const made = defaultExtractor({
        resolution: meta.config.resolution,
        width: meta.config.width,
        channels: meta.config.inChannels,
        numClasses: meta.config.numClasses,
      });
      expect(made.config).toEqual(meta.config);
      expect(extractorKey(meta.datasetHash, made.config, made.training)).toBe(id);
    }
  });
});
