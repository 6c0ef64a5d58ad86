import { parseModelConfig, presetUNet } from '@anneal/engine';
import { describe, expect, it } from 'vitest';
import { samplingOf } from './sample.ts';

const unet = presetUNet('tiny', { resolution: 8, channels: 1 });
const plain = parseModelConfig({ unet, parameterization: 'v' });
const sigmas = [157.4, 12.1, 0];
const student = parseModelConfig({
  unet,
  parameterization: 'v',
  distillation: {
    method: 'progressive',
    stage: 4,
    sampler: 'ddim',
    sigmas,
    teacher: { weights_sha256: 'a'.repeat(64) },
    budget: 1.3,
  },
});

describe('sampling a distilled student', () => {
  it('uses the sampler and exact sigma list it was distilled for by default', () => {
    expect(samplingOf(student, {})).toEqual({ sampler: 'ddim', steps: 2, sigmas });
  });

  it('any sampling flag overrides the recorded grid; plain models keep the defaults', () => {
    expect(samplingOf(student, { steps: 8 })).toMatchObject({ sampler: 'dpmpp-2m', steps: 8 });
    expect(samplingOf(student, { sampler: 'euler' }).sigmas).toBeUndefined();
    expect(samplingOf(student, { 'sigma-max': 20 })).toMatchObject({ sigma_max: 20 });
    expect(samplingOf(plain, {})).toEqual({
      sampler: 'dpmpp-2m',
      steps: 20,
      schedule: 'default',
      sigma_max: undefined,
    });
  });

  it('config.json refuses a grid that does not end in 0 or does not decrease, naming the field', () => {
    const bad = (s: number[]) => () =>
      parseModelConfig(
        { unet, distillation: { ...student.distillation, sigmas: s } },
        'config.json',
      );
    expect(bad([3, 1])).toThrow(/config\.json: distillation\.sigmas: must end in 0/);
    expect(bad([1, 3, 0])).toThrow(/distillation\.sigmas: must strictly decrease/);
  });
});
