import { describe, expect, it } from 'vitest';
import {
  type ComplexityResult,
  equalFdNoise,
  lowNfeSentence,
  MIXED_SHAPES,
  nfeAtFd,
  validateMeasure,
} from './complexity.ts';

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

  it('says when the tolerances FDs lie within one bootstrap spread of each other', () => {
    const run = (fd: number, fd_std?: number | null) => ({
      rtol: 0.1,
      atol: 0.0156,
      mean_nfe: 20,
      min_nfe: 18,
      max_nfe: 22,
      fd,
      fd_std,
      seconds: 1,
      batch_calls: 1,
      rows_evaluated: 1,
      spearman_nfe_complexity: 0.3,
    });
    const of = (adaptive: ReturnType<typeof run>[]) => ({ adaptive }) as ComplexityResult;
    // Span 0.15 against spreads 0.18, 0.2, 0.25: the median (0.2) is larger.
    expect(equalFdNoise(of([run(2.76, 0.2), run(2.7, 0.18), run(2.61, 0.25)]))).toContain(
      'span 0.150, less than one bootstrap spread of a single FD (median ± 0.200)',
    );
    // Span 1.0 against the same spreads: beyond them.
    expect(equalFdNoise(of([run(3.61, 0.2), run(2.7, 0.18), run(2.61, 0.25)]))).toContain(
      'span 1.000, more than one bootstrap spread of a single FD',
    );
    // A record without spreads (older, or no --spread) says nothing, as does one run without.
    expect(equalFdNoise(of([run(2.76), run(2.7)]))).toBeNull();
    expect(equalFdNoise(of([run(2.76, 0.2), run(2.7, null)]))).toBeNull();
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
