import { describe, expect, it, onTestFinished } from 'vitest';
import { presetUNet } from './config/presets.ts';
import { Model } from './model.ts';

// Sampling in the U-Net's compute dtype (GenerateSpec::dtype), which `anneal plan` measures
// and chooses between: float32 is the unchanged path; bfloat16 keeps 8 significant bits, so
// its images follow float32's to within that precision, not exactly.
const config = {
  unet: {
    ...presetUNet('tiny', { resolution: 8, channels: 1, numClasses: 0 }),
    block_out_channels: [16, 32],
  },
  parameterization: 'v' as const,
};
const base = { sampler: 'euler', steps: 4, n: 4, seed: 3, returnValues: true } as const;

describe('sampling dtype', () => {
  it('float32 given explicitly is the default path, bit for bit', async () => {
    const m = Model.create(config, 1);
    onTestFinished(() => m.dispose());
    const a = await m.native.sample({ ...base });
    const b = await m.native.sample({ ...base, dtype: 'float32' });
    expect(b.values).toEqual(a.values);
  });

  it('bfloat16 follows float32 to within its precision, and is not the same computation', async () => {
    const m = Model.create(config, 1);
    onTestFinished(() => m.dispose());
    const a = (await m.native.sample({ ...base })).values as Float32Array;
    const b = (await m.native.sample({ ...base, dtype: 'bfloat16' })).values as Float32Array;
    let sum = 0;
    let max = 0;
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs((a[i] as number) - (b[i] as number));
      sum += d;
      max = Math.max(max, d);
    }
    expect(max).toBeGreaterThan(0);
    // bfloat16's unit roundoff is 2^-8 relative; a few steps of a small U-Net on values of
    // order 1 stay within a few dozen of those on average (0.1 = 25 roundoffs).
    expect(sum / a.length).toBeLessThan(0.1);
  });

  it('refuses an unknown dtype by naming the field', async () => {
    const m = Model.create(config, 1);
    onTestFinished(() => m.dispose());
    expect(() => m.native.sample({ ...base, dtype: 'int8' as never })).toThrow(/spec\.dtype/);
  });
});
