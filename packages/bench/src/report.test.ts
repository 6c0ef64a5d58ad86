import { describe, expect, it } from 'vitest';
import { gapShare } from './report.ts';

describe('schedules report: the learned row share of the FD gap', () => {
  it('is a percentage of a positive gap, and n/a when there is none', () => {
    expect(gapShare(2, 4)).toBe('50% of the gap to the reference');
    // The best hand-crafted FD at or below the reference's: a ratio would be -inf..+inf noise.
    expect(gapShare(1, 0)).toMatch(/^n\/a/);
    expect(gapShare(1, -0.5)).toMatch(/^n\/a/);
  });
});
