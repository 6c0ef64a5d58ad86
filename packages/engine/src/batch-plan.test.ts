import { describe, expect, it } from 'vitest';
import { estimateTrainingMemory, planBatch, presetUNet } from './index.ts';

const MiB = 1024 ** 2;
const unet = presetUNet('tiny', { resolution: 32, channels: 3, numClasses: 10 });
const at = (resolution: number) => ({ ...unet, sample_size: resolution });

describe('batch planner (issue 16 §3)', () => {
  it('keeps the whole batch when it fits', () => {
    const need = estimateTrainingMemory(unet, 32).total;
    const plan = planBatch({
      unet,
      resolution: 32,
      batch: 32,
      budget: { bytes: need, source: 't' },
    });
    expect(plan).toMatchObject({
      batch: 32,
      microBatch: 32,
      accumulationSteps: 1,
      attention: 'fused',
    });
    expect(plan.estimate.total).toBe(need);
  });

  it('splits a batch that does not fit into the largest fitting divisor, keeping the effective batch', () => {
    // Room for 8 images with the accumulated gradients' buffer, not for 16.
    const bytes = estimateTrainingMemory(unet, 8, 'float32', 4).total;
    expect(estimateTrainingMemory(unet, 16, 'float32', 2).total).toBeGreaterThan(bytes);
    const plan = planBatch({ unet, resolution: 32, batch: 32, budget: { bytes, source: 't' } });
    expect(plan).toMatchObject({ batch: 32, microBatch: 8, accumulationSteps: 4 });
    expect(plan.microBatch * plan.accumulationSteps).toBe(32);
    expect(plan.estimate.total).toBeLessThanOrEqual(bytes);
    // Only divisors: a batch of 24 in the same budget runs as 3 x 8, not 2 x 12 or 8 + 8 + 8.
    expect(
      planBatch({ unet, resolution: 32, batch: 24, budget: { bytes, source: 't' } }),
    ).toMatchObject({ microBatch: 8, accumulationSteps: 3 });
  });

  it('plans each resolution of one model on its own: the same budget, smaller micro-batches higher up', () => {
    const budget = { bytes: estimateTrainingMemory(at(32), 32).total, source: 't' };
    const low = planBatch({ unet, resolution: 16, batch: 32, budget });
    const high = planBatch({ unet, resolution: 64, batch: 32, budget });
    expect(low.accumulationSteps).toBe(1);
    expect(high.microBatch).toBeLessThan(low.microBatch);
    expect(high.estimate.total).toBeLessThanOrEqual(budget.bytes);
    expect(
      estimateTrainingMemory(at(64), high.microBatch * 2, 'float32', 32 / (high.microBatch * 2))
        .total,
    ).toBeGreaterThan(budget.bytes);
  });

  it('plans a rectangular bucket by its own layer walk, between the squares around it', () => {
    const budget = { bytes: 4 * 1024 * MiB, source: 't' };
    const wide = planBatch({ unet, resolution: { height: 16, width: 32 }, batch: 8, budget });
    const small = planBatch({ unet, resolution: 16, batch: 8, budget });
    const large = planBatch({ unet, resolution: 32, batch: 8, budget });
    expect(wide.estimate.activations).toBeGreaterThan(small.estimate.activations);
    expect(wide.estimate.activations).toBeLessThan(large.estimate.activations);
    // 16x32 and 32x16 hold the same pixels at every level.
    expect(
      planBatch({ unet, resolution: { height: 32, width: 16 }, batch: 8, budget }).estimate,
    ).toEqual(wide.estimate);
    expect(() =>
      planBatch({ unet, resolution: { height: 16, width: 15 }, batch: 8, budget }),
    ).toThrow(/16x15: this U-Net takes sides that are multiples of 2/);
  });

  it('refuses a job whose one image cannot fit, naming the estimate, the budget and what to lower', () => {
    const one = estimateTrainingMemory(at(64), 1, 'float32', 8).total;
    expect(() =>
      planBatch({
        unet,
        resolution: 64,
        batch: 8,
        budget: { bytes: 10 * MiB, source: 'a test budget' },
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'RESOURCE_EXHAUSTED',
        message: expect.stringMatching(
          new RegExp(
            `even one image does not fit at 64x64, fused attention, float32: estimated ${(one / MiB).toFixed(1)} MiB .*exceeds the budget of 10\\.0 MiB \\(a test budget\\); lower the resolution or the model size`,
          ),
        ),
      }),
    );
  });

  it('estimates bfloat16 at float32 activation bytes (only float32 is calibrated) and does not advise it', () => {
    // A bfloat16 training step measured the same peak as float32 on the CPU backend.
    expect(estimateTrainingMemory(unet, 8, 'bfloat16')).toEqual(estimateTrainingMemory(unet, 8));
    const budget = { bytes: 10 * MiB, source: 't' };
    expect(() => planBatch({ unet, resolution: 64, batch: 8, budget, dtype: 'bfloat16' })).toThrow(
      expect.objectContaining({ message: expect.not.stringMatching(/bfloat16 \(--dtype\)/) }),
    );
  });

  it('with accumulation off, refuses a batch that does not fit and says what would', () => {
    const bytes = estimateTrainingMemory(unet, 8, 'float32', 4).total;
    expect(() =>
      planBatch({
        unet,
        resolution: 32,
        batch: 32,
        budget: { bytes, source: 't' },
        accumulation: false,
      }),
    ).toThrow(
      /batch 32 does not fit at 32x32.*allow gradient accumulation \(4 micro-batches of 8 would fit\)/,
    );
  });
});
