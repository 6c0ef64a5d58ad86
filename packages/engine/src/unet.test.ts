import { describe, expect, it } from 'vitest';
import { Model, presetUNet } from './index.ts';

const tinyConfig = (classes?: number) => ({
  unet: {
    ...presetUNet('tiny', { resolution: 8, channels: 1, numClasses: classes }),
    block_out_channels: [16, 32],
  },
  parameterization: 'eps' as const,
});

describe('U-Net', () => {
  it('names weights like diffusers UNet2DModel', () => {
    const m = Model.create(tinyConfig(3), 0);
    const names = m.native.parameterNames();
    for (const n of [
      'conv_in.weight',
      'time_embedding.linear_1.weight',
      'time_embedding.linear_2.bias',
      'class_embedding.weight',
      'down_blocks.0.resnets.0.norm1.weight',
      'down_blocks.0.resnets.0.time_emb_proj.weight',
      'down_blocks.0.downsamplers.0.conv.weight',
      'down_blocks.1.attentions.0.to_q.weight',
      'down_blocks.1.attentions.0.to_out.0.weight',
      'down_blocks.1.resnets.0.conv_shortcut.weight',
      'mid_block.attentions.0.group_norm.weight',
      'mid_block.resnets.1.conv2.bias',
      'up_blocks.0.resnets.1.conv_shortcut.weight',
      'up_blocks.0.upsamplers.0.conv.weight',
      'conv_norm_out.weight',
      'conv_out.bias',
    ]) {
      expect(names).toContain(n);
    }
    expect(m.parameterCount()).toBeGreaterThan(0);
    m.dispose();
    expect(() => m.parameterCount()).toThrow(/disposed/);
  });

  it('maps NHWC input to output of the same shape, and class labels change it', () => {
    const m = Model.create(tinyConfig(3), 1);
    const x = Float32Array.from({ length: 2 * 8 * 8 }, (_, i) => Math.sin(i * 0.37));
    const t = new Float32Array([10, 700]);
    const a = m.native.forward(x, [2, 8, 8, 1], t, new Int32Array([0, 1]));
    const b = m.native.forward(x, [2, 8, 8, 1], t, new Int32Array([2, 1]));
    expect(a).toHaveLength(2 * 8 * 8);
    expect(a.every(Number.isFinite)).toBe(true);
    // The first example's class changed, the second's did not.
    expect(Math.max(...a.slice(0, 64).map((v, i) => Math.abs(v - (b[i] ?? 0))))).toBeGreaterThan(
      1e-4,
    );
    expect(Math.max(...a.slice(64).map((v, i) => Math.abs(v - (b[64 + i] ?? 0))))).toBeLessThan(
      1e-6,
    );
    expect(() => m.native.forward(x, [2, 8, 8, 1], t)).toThrow(/class labels are required/);
  });

  it('gradients match central finite differences', () => {
    const m = Model.create(tinyConfig(3), 2);
    for (const seed of [0, 1]) {
      const { analytic, numeric } = m.native.gradientCheck({ seed, epsilon: 1e-2 });
      expect(Math.abs(analytic - numeric)).toBeLessThan(0.02 * Math.max(Math.abs(analytic), 1e-3));
    }
  });

  it('rejects bad configs, naming the field', () => {
    const bad = tinyConfig();
    expect(() =>
      Model.create({ ...bad, unet: { ...bad.unet, block_out_channels: [12, 32] } }),
    ).toThrow(/unet\.block_out_channels\.0: 12 is not a multiple of norm_num_groups/);
    expect(() => Model.create({ ...bad, unet: { ...bad.unet, sample_size: 9 } })).toThrow(
      /unet\.sample_size/,
    );
    expect(() => Model.create({ ...bad, parameterization: 'score' as 'eps' })).toThrow(
      /parameterization/,
    );
  });

  it('costs a configuration without training', () => {
    const m = Model.create(tinyConfig(), 0);
    const cost = m.cost();
    expect(cost.parameters).toBe(m.parameterCount());
    expect(cost.forwardFlopsPerImage).toBeGreaterThan(1e6);
    expect(cost.activationBytesPerImage).toBeGreaterThan(0);
  });

  it('measures step latency and peak memory on random data without changing the weights', async () => {
    const m = Model.create(tinyConfig(3), 0);
    const x = new Float32Array(8 * 8).fill(0.25);
    const before = m.native.forward(x, [1, 8, 8, 1], new Float32Array([10]), new Int32Array([0]));
    const r = await m.measureStep({ batch: 4, steps: 2, warmup: 1 });
    expect(r.steps).toBe(2);
    expect(r.stepSeconds).toBeGreaterThan(0);
    expect(r.imagesPerSecond).toBeCloseTo(4 / r.stepSeconds, 6);
    expect(r.peakBytes).toBeGreaterThan(m.parameterCount() * 4);
    expect(m.native.forward(x, [1, 8, 8, 1], new Float32Array([10]), new Int32Array([0]))).toEqual(
      before,
    );
  });
});
