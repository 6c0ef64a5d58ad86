import { describe, expect, it } from 'vitest';
import { LINKS, ringAllReduceMs, stepTimes } from './data-parallel.ts';

describe('the data-parallel benchmark', () => {
  it('estimates a ring all-reduce from the bytes on the wire and a latency per message', () => {
    const tenGbE = { gbit_s: 10, latency_ms: 0.1 };
    // 2 ranks: each sends and receives the whole 100 MB once (2(R-1)/R = 1): 80 ms at 10
    // Gbit/s, plus 3 buckets of 32 MiB x 2 messages x 0.1 ms.
    expect(ringAllReduceMs(100e6, 2, tenGbE)).toBeCloseTo(80 + 3 * 2 * 0.1, 9);
    // 4 ranks: 1.5x the bytes, 6 messages per bucket.
    expect(ringAllReduceMs(100e6, 4, tenGbE)).toBeCloseTo(120 + 3 * 6 * 0.1, 9);
    // Faster links take less time for the same gradient.
    const [tb5, tb4, gbe] = LINKS.map((l) => ringAllReduceMs(64e6, 2, l));
    expect(tb5).toBeLessThan(tb4 as number);
    expect(tb4).toBeLessThan(gbe as number);
  });

  it('times steps between consecutive logged steps past the warm-up only', () => {
    const line = (step: number, wall_s: number) => ({ event: 'metrics' as const, step, wall_s });
    const times = stepTimes(
      [line(1, 1.0), line(2, 1.5), line(3, 1.6), line(4, 1.8), line(6, 2.2), line(7, 2.5)],
      2,
    );
    // 2 -> 3, 3 -> 4 and 6 -> 7; 1 -> 2 is warm-up, 4 -> 6 skips a step.
    expect(times.map((t) => Math.round(t))).toEqual([100, 200, 300]);
  });
});
