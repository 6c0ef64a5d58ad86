import { describe, expect, it } from 'vitest';
import { rulerDifferences, stepsAtMost } from './curve.ts';

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

describe('rulerDifferences', () => {
  const curve = {
    version: 1 as const,
    n: 200,
    seed: 0,
    guidance: 1,
    extractorId: 'e1',
    measuredAt: '2026-12-01T00:00:00.000Z',
    points: [],
  };

  it('reads a curve without realSets as drawn at random, from before stratified real sets', () => {
    const ruler = { n: 200, seed: 0, guidance: 1, extractorId: 'e1' };
    expect(rulerDifferences(curve, { ...ruler, realSets: 'random' })).toEqual([]);
    expect(rulerDifferences(curve, { ...ruler, realSets: 'class-stratified' })).toEqual([
      'real sets random, not class-stratified',
    ]);
    // Before the ruler is built, how its real sets are drawn is not known: not a difference.
    expect(rulerDifferences(curve, ruler)).toEqual([]);
    expect(
      rulerDifferences(
        { ...curve, realSets: 'train-stratified' },
        { ...ruler, realSets: 'train-stratified' },
      ),
    ).toEqual([]);
  });
});
