import { describe, expect, it } from 'vitest';
import { EvalEta } from './eta.ts';

/** A clock the test moves by hand. */
function clock() {
  let ms = 0;
  return { now: () => ms, advance: (s: number) => (ms += s * 1000) };
}

describe('EvalEta: the time left of a whole evaluation', () => {
  const plan = {
    sampleSteps: 10,
    sampleSampler: 'euler',
    reference: { steps: 20, sampler: 'heun' },
    memorization: false,
  };

  it('adds the reference sampling, estimated from the sampling rate per NFE', () => {
    const c = clock();
    const eta = new EvalEta(plan, c.now);
    expect(eta.progress('sample', 0, 10)).toBeNull();
    c.advance(4);
    // 4 of 10 ticks in 4 s: 6 s left of a 10 s sampling; the reference is 20 Heun steps,
    // 2 * 20 - 1 = 39 NFE (the last step is Euler's), against the sampling's 10: 39 s.
    expect(eta.progress('sample', 4, 10)).toEqual({ seconds: 6 + 39, lowerBound: false });
    c.advance(6);
    expect(eta.progress('sample', 10, 10)).toEqual({ seconds: 39, lowerBound: false });
    // Scoring has no rate of its own; what is left is the reference.
    expect(eta.progress('scoring', 0, 1)).toEqual({ seconds: 39, lowerBound: false });
    // The reference then runs on its own measured rate (here slower than estimated).
    eta.progress('reference', 0, 20);
    c.advance(10);
    expect(eta.progress('reference', 5, 20)).toEqual({ seconds: 30, lowerBound: false });
  });

  it('is a lower bound while the extractor trains: sampling has no rate yet', () => {
    const c = clock();
    const eta = new EvalEta({ ...plan, reference: null }, c.now);
    eta.progress('extractor', 0, 100);
    c.advance(5);
    expect(eta.progress('extractor', 50, 100)).toEqual({ seconds: 5, lowerBound: true });
    // Once sampling runs, the whole job is covered (no reference here).
    eta.progress('sample', 0, 10);
    c.advance(2);
    expect(eta.progress('sample', 5, 10)).toEqual({ seconds: 2, lowerBound: false });
  });

  it('does not scale the reference from an adaptive sampling, whose NFE is not its steps', () => {
    const c = clock();
    // sampleSteps is the unused --steps default: the adaptive sampler's NFE is known only after.
    const eta = new EvalEta({ ...plan, sampleSampler: 'adaptive', sampleSteps: 20 }, c.now);
    eta.progress('sample', 0, 10);
    c.advance(4);
    expect(eta.progress('sample', 4, 10)).toEqual({ seconds: 6, lowerBound: true });
    // Nor an adaptive reference from a fixed-step sampling.
    const ref = new EvalEta({ ...plan, reference: { steps: 20, sampler: 'adaptive' } }, c.now);
    ref.progress('sample', 0, 10);
    c.advance(4);
    expect(ref.progress('sample', 4, 10)).toEqual({ seconds: 6, lowerBound: true });
    // DPM-Solver-2 as reference: 2 * 20 - 1 = 39 NFE against the sampling's 10, as Heun.
    const dpm = new EvalEta({ ...plan, reference: { steps: 20, sampler: 'dpm-solver-2' } }, c.now);
    dpm.progress('sample', 0, 10);
    c.advance(4);
    expect(dpm.progress('sample', 4, 10)).toEqual({ seconds: 6 + 39, lowerBound: false });
  });

  it('is a lower bound when the unestimated nearest-neighbour check is still to come', () => {
    const c = clock();
    const eta = new EvalEta({ ...plan, reference: null, memorization: true }, c.now);
    eta.progress('sample', 0, 10);
    c.advance(1);
    expect(eta.progress('sample', 5, 10)).toEqual({ seconds: 1, lowerBound: true });
  });
});
