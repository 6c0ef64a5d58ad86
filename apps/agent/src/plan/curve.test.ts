import { describe, expect, it } from 'vitest';
import { stepsAtMost } from './curve.ts';

describe('stepsAtMost', () => {
  it('is the most steps within the NFE, counting second-order and guided evaluations', () => {
    expect(stepsAtMost('euler', 10, false)).toBe(10);
    expect(stepsAtMost('euler', 10, true)).toBe(5);
    // Heun and DPM-Solver-2: 2S - 1 evaluations.
    expect(stepsAtMost('heun', 10, false)).toBe(5);
    expect(stepsAtMost('dpm-solver-2', 19, false)).toBe(10);
    expect(stepsAtMost('euler', 0, false)).toBe(1);
  });

  it('refuses a sampler whose NFE does not follow from its steps, by name', () => {
    expect(() => stepsAtMost('adaptive', 10, false)).toThrow(/sampler "adaptive" spends/);
  });
});
