import { describe, expect, it } from 'vitest';
import { lowNfeSentence, MIXED_SHAPES, nfeAtFd, validateMeasure } from './complexity.ts';

describe('the complexity benchmark', () => {
  it('its complexity measure ranks real shapes images by their dials', () => {
    // With no relation, Spearman's rho over n images has standard deviation about 1 / sqrt(n - 1):
    // 0.058 at n = 300, so anything above 3 of those (0.17) is outside the null band. The
    // measure must clear twice that on the composite of the three dials.
    const n = 300;
    const v = validateMeasure(16, MIXED_SHAPES, n);
    const band = 3 / Math.sqrt(n - 1);
    expect(v.spearman.composite).toBeGreaterThan(2 * band);
    // Each dial alone moves it the right way.
    for (const rho of [v.spearman.shapes_per_image, v.spearman.texture, v.spearman.edges])
      expect(rho).toBeGreaterThan(band);
  });

  it('reads the NFE at an FD off a ladder: interpolated in log NFE, or bounded', () => {
    const ladder = [
      { nfe: 5, fd: 8 },
      { nfe: 10, fd: 4 },
      { nfe: 20, fd: 2 },
    ];
    // FD 3 lies halfway from 4 to 2: halfway from 10 to 20 in log NFE, sqrt(200).
    const mid = nfeAtFd(ladder, 3);
    expect(mid.bound).toBe('interpolated');
    expect(mid.nfe).toBeCloseTo(Math.sqrt(200), 10);
    expect(nfeAtFd(ladder, 9)).toEqual({ nfe: 5, bound: 'at_most' });
    expect(nfeAtFd(ladder, 1)).toEqual({ nfe: null, bound: 'above_ladder' });
  });

  it('says when the low-NFE comparison only has an upper bound', () => {
    const base = {
      dpmpp_2m: [
        { nfe: 5, fd: 2 },
        { nfe: 10, fd: 1 },
      ],
      adaptive_cheapest: { rtol: 0.1, mean_nfe: 12.3, fd: 3 },
    };
    // The adaptive run's FD 3 is worse than dpmpp-2m's at its smallest rung (FD 2 at 5 NFE).
    const bounded = lowNfeSentence({
      ...base,
      dpmpp_2m_nfe_at_equal_fd: 5,
      dpmpp_2m_bound_at_equal_fd: 'at_most',
    });
    expect(bounded).toContain('already beats at its smallest rung, 5 NFE (an upper bound');
    expect(bounded).not.toContain('reaches at 5');
    const exact = lowNfeSentence({
      ...base,
      adaptive_cheapest: { ...base.adaptive_cheapest, fd: 1.5 },
      dpmpp_2m_nfe_at_equal_fd: 7.1,
      dpmpp_2m_bound_at_equal_fd: 'interpolated',
    });
    expect(exact).toContain('which dpmpp-2m reaches at 7.1 NFE');
    expect(
      lowNfeSentence({ ...base, dpmpp_2m_nfe_at_equal_fd: null, dpmpp_2m_bound_at_equal_fd: null }),
    ).toContain('no NFE of its ladder');
    expect(
      lowNfeSentence({ ...base, adaptive_cheapest: null, dpmpp_2m_nfe_at_equal_fd: null }),
    ).toBeNull();
  });
});
