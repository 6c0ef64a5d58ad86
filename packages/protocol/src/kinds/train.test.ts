import { describe, expect, it } from 'vitest';
import { trainKind, trainSpecSchema } from './train.ts';

const base = {
  dataset: { kind: 'builtin', name: 'shapes' },
  resolution: 32,
  steps: 100,
  preset: 'tiny',
} as const;

const issues = (spec: unknown) =>
  trainSpecSchema.safeParse(spec).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);

describe('train spec: progressive and multi-resolution fields (issue 16)', () => {
  it('accepts a progressive spec and asks agents for the feature', () => {
    const spec = trainSpecSchema.parse({ ...base, resolutions: [16, 32], stage_steps: [40, 60] });
    expect(trainKind.features?.(spec)).toEqual(['train.resolutions']);
    expect(trainKind.features?.(trainSpecSchema.parse(base))).toEqual([]);
  });

  it('refuses at submission what anneal train would refuse, naming the field', () => {
    expect(issues({ ...base, stage_steps: [50, 50] })).toEqual([
      'stage_steps: only with resolutions (steps per resolution)',
    ]);
    expect(issues({ ...base, resolutions: [16, 32], stage_steps: [40, 40] })).toEqual([
      "stage_steps: 40,40 sum to 80, but steps (the run's total) is 100",
    ]);
    expect(issues({ ...base, resolutions: [16, 24] })).toEqual([
      "resolutions: the last (24) must be the model's resolution (32)",
    ]);
    expect(issues({ ...base, resolutions: [16, 32], multi_resolution: true })).toEqual([
      'multi_resolution: give either multi_resolution or resolutions, not both',
    ]);
  });
});
