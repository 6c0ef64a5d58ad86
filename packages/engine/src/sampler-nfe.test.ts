import { describe, expect, it } from 'vitest';
import {
  hasStepNfe,
  samplerNames,
  samplerNfe,
  stepsForNfe,
  stepsWithinNfe,
} from './config/index.ts';
import { loadNative } from './index.ts';

// samplerNfe is the one steps -> NFE rule the agent, the bench and the planner use: it must
// say what the engine spends. Checked against the engine's own count on a closed-form denoiser.
describe('samplerNfe', () => {
  const d = 2;
  const gaussian = (sampler: string, steps: number) =>
    loadNative().sampling.gaussian({
      dim: d,
      mean: new Float32Array(d),
      eigvecs: new Float32Array([1, 0, 0, 1]),
      eigvals: new Float32Array([1, 0.1]),
      sampler,
      steps,
      n: 2,
      sigmaMax: 80,
      sigmaMin: 0.002,
    });

  it.each(samplerNames.filter((s) => s !== 'adaptive' && s !== 'consistency'))(
    '%s: the NFE the engine spends',
    (sampler) => {
      for (const steps of [1, 2, 5])
        expect(samplerNfe(sampler, steps)).toBe(gaussian(sampler, steps).nfe);
    },
  );

  it('has no rule for the adaptive sampler, and says why', () => {
    expect(hasStepNfe('adaptive')).toBe(false);
    expect(hasStepNfe('nonsense')).toBe(false);
    expect(hasStepNfe('dpm-solver-2')).toBe(true);
    expect(() => samplerNfe('adaptive', 10)).toThrow(/adaptive sampler picks its own steps/);
  });

  it('inverts: the most steps within an NFE, and exactly an NFE', () => {
    expect(stepsWithinNfe('dpm-solver-2', 10)).toBe(5);
    expect(stepsWithinNfe('heun', 9)).toBe(5);
    expect(stepsWithinNfe('euler', 7)).toBe(7);
    expect(stepsWithinNfe('heun', 0)).toBe(1);
    expect(stepsForNfe('dpm-solver-2', 9)).toBe(5);
    expect(() => stepsForNfe('dpm-solver-2', 10)).toThrow(/dpm-solver-2 .* nfe is odd/);
    expect(() => stepsForNfe('heun', 4)).toThrow(/heun spends 2 \* steps - 1/);
  });
});
