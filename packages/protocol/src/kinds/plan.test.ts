import { describe, expect, it } from 'vitest';
import { planSpecSchema } from './plan.ts';

const base = {
  model: { kind: 'modelVersion', id: '0b6c2d4e-1f3a-4b5c-8d7e-9f0a1b2c3d4e' },
  throughput: 10,
};

describe('plan job spec', () => {
  it('caps the cost batches at the sampling chunk its memory is sized on', () => {
    expect(planSpecSchema.safeParse({ ...base, batches: [1, 64] }).success).toBe(true);
    const r = planSpecSchema.safeParse({ ...base, batches: [1, 128] });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['batches', 1]);
    expect(r.error?.issues[0]?.message).toMatch(/64/);
  });
});

describe('plan record', () => {
  it('bounds the hardware profile key a version keeps plans under', async () => {
    const { profileKeySchema } = await import('@anneal/engine/config');
    expect(profileKeySchema.safeParse('cpu-Intel_R_Xeon-2t-mlx0.32.4-openblas').success).toBe(true);
    expect(profileKeySchema.safeParse('cpu/../../etc').success).toBe(false);
    expect(profileKeySchema.safeParse('__proto__ x').success).toBe(false);
    expect(profileKeySchema.safeParse('a'.repeat(121)).success).toBe(false);
  });
});
