import { describe, expect, it, onTestFinished } from 'vitest';
import { presetUNet } from './config/presets.ts';
import { Model } from './model.ts';

// Given noise (GenerateSpec::noise / step_noise): passing the draws the seed made must
// reproduce that run exactly, whatever the seed, so another implementation fed the same
// draws can be compared step for step (bench/reference/diffusers_agreement.py).
const config = {
  unet: {
    ...presetUNet('tiny', { resolution: 8, channels: 1, numClasses: 3 }),
    block_out_channels: [16, 32],
  },
  parameterization: 'eps' as const,
};
const n = 3;
const perImage = 8 * 8;

describe('sampling with given noise', () => {
  for (const sampler of ['ddpm', 'dpmpp-2m']) {
    it(`${sampler}: the seed's recorded noise, passed back, reproduces its images`, async () => {
      const m = Model.create(config, 4);
      onTestFinished(() => m.dispose());
      const steps = 4;
      // chunk 2 < n: the noise is sliced per chunk, as the seed's keys are.
      const base = { sampler, steps, n, chunk: 2, returnValues: true };
      const drawn = await m.native.sample({ ...base, seed: 7, returnNoise: true });
      expect(drawn.noise).toHaveLength(n * perImage);
      expect(drawn.stepNoise).toHaveLength(steps * n * perImage);
      const stepNoise = drawn.stepNoise ?? new Float32Array();
      const perStep = n * perImage;
      const rms = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
      // DDPM injects noise on every step but the last (which lands on sigma = 0).
      const lastStep = stepNoise.slice((steps - 1) * perStep);
      expect(rms(lastStep)).toBe(0);
      if (sampler === 'ddpm') expect(rms(stepNoise.slice(0, perStep))).toBeGreaterThan(0.5);
      else expect(rms(stepNoise)).toBe(0);

      const given = await m.native.sample({
        ...base,
        seed: 123,
        noise: drawn.noise,
        stepNoise: drawn.stepNoise,
      });
      expect(given.values).toEqual(drawn.values);
      // The seed alone would have given other images: the given noise is what was used.
      const other = await m.native.sample({ ...base, seed: 123 });
      expect(other.values).not.toEqual(drawn.values);
      if (sampler === 'ddpm') {
        const flipped = await m.native.sample({
          ...base,
          seed: 7,
          stepNoise: stepNoise.map((v) => -v),
        });
        expect(flipped.values).not.toEqual(drawn.values);
      }
    });
  }

  it('names a noise array of the wrong size', async () => {
    const m = Model.create(config, 4);
    onTestFinished(() => m.dispose());
    // A bad option throws synchronously; a shape only the schedule can check rejects.
    expect(() =>
      m.native.sample({ sampler: 'ddim', steps: 2, n, seed: 0, noise: new Float32Array(5) }),
    ).toThrow(/spec\.noise has 5 elements, the shape needs 192/);
    expect(() =>
      m.native.sample({ sampler: 'ddim', steps: 2, n, seed: 0, stepNoise: new Float32Array(7) }),
    ).toThrow(/spec\.stepNoise must be a Float32Array of steps \* n \* H \* W \* C/);
    // Whole steps, but not the schedule's count.
    await expect(
      m.native.sample({
        sampler: 'ddpm',
        steps: 2,
        n,
        seed: 0,
        stepNoise: new Float32Array(3 * n * perImage),
      }),
    ).rejects.toThrow(/step_noise has shape \[3, 3, 8, 8, 1\], expected \[2, 3, 8, 8, 1\]/);
  });
});
