import { describe, expect, it } from 'vitest';
import { etaText, nextProgress } from './job-eta.ts';

describe('the jobs page ETA', () => {
  it("counts the agent's whole-job estimate down between events, and keeps it through events without one", () => {
    const first = nextProgress(
      undefined,
      { step: 10, total: 100, phase: 'extractor', etaS: 90, etaLowerBound: true, at: 5_000 },
      1_000,
    );
    expect(etaText(first, 'running', 1_000)).toBe('over 2 min left');
    expect(etaText(first, 'running', 31_000)).toBe('over 1 min left');
    expect(etaText(first, 'running', 61_500)).toBe('over 30 s left');
    // The sampling phase starts; its first event has no rate yet, so no estimate.
    const next = nextProgress(first, { step: 0, total: 10, phase: 'sample', at: 65_000 }, 61_000);
    expect(next.from).toEqual({ step: 0, at: 65_000 });
    expect(etaText(next, 'running', 71_000)).toBe('over 20 s left');
    // Never below zero; nothing once the job is not running.
    expect(etaText(next, 'running', 500_000)).toBe('over 0 s left');
    expect(etaText(next, 'succeeded', 71_000)).toBe('');
    // A new estimate replaces it.
    const fresh = nextProgress(
      next,
      { step: 5, total: 10, phase: 'sample', etaS: 12, at: 70_000 },
      70_000,
    );
    expect(etaText(fresh, 'running', 72_000)).toBe('10 s left');
  });

  it('without an estimate from the agent: the rate of this phase, counted down since the last event', () => {
    const a = nextProgress(undefined, { step: 0, total: 100, at: 0 }, 0);
    expect(etaText(a, 'running', 0)).toBe('');
    const b = nextProgress(a, { step: 10, total: 100, at: 20_000 }, 20_000);
    // 10 steps in 20 s: 90 steps left is 180 s.
    expect(etaText(b, 'running', 20_000)).toBe('3 min left');
    expect(etaText(b, 'running', 141_000)).toBe('59 s left');
    expect(etaText(b, 'running', 999_000)).toBe('0 s left');
  });
});
