import { describe, expect, it } from 'vitest';
import { type PlanBenchRow, planSummary } from './plan.ts';
import { gapShare } from './report.ts';
import { plan, schedules, timedSpread } from './report-adaptive.ts';
import type { ResultFile } from './report-format.ts';

describe('schedules report: the learned row share of the FD gap', () => {
  it('is a percentage of a positive gap, and n/a when there is none', () => {
    expect(gapShare(2, 4)).toBe('50% of the gap to the reference');
    // The best hand-crafted FD at or below the reference's: a ratio would be -inf..+inf noise.
    expect(gapShare(1, 0)).toMatch(/^n\/a/);
    expect(gapShare(1, -0.5)).toMatch(/^n\/a/);
  });
});

describe('schedules report: where the learned schedules are', () => {
  it("names each file from the model's folder, whatever path the run was given", () => {
    const q = {
      fd: 0.3,
      fd_std: 0.05,
      kid: 0,
      kid_std: null,
      precision: 1,
      recall: 1,
      accuracy: null,
    };
    const out = schedules({
      name: 'schedules',
      options: { model: 'models/m' },
      result: {
        model: 'models/m: small',
        parameters: 1,
        n: 10,
        quality: 'q',
        seed: 0,
        floor: q,
        reference: { sampler: 'heun', steps: 100, nfe_per_image: 199, ...q },
        rows: [],
        learned: [
          {
            sampler: 'dpmpp-2m',
            nfe: 5,
            file: '/elsewhere/checkout/models/m/schedules/dpmpp-2m-nfe5.json',
            learned_now: false,
            calibration_seed: 1000,
          },
        ],
      },
    } as never);
    expect(out).toContain('(files: models/m/schedules/dpmpp-2m-nfe5.json)');
    expect(out).not.toContain('/elsewhere');
  });
});

describe('plan report: the timed requests beside the prediction', () => {
  const row = (times: number[], predicted: number): PlanBenchRow => ({
    objective: 'latency <= 150 ms, 1 image(s)',
    sampler: 'dpmpp-2m',
    schedule: 'default',
    steps: 6,
    nfe: 6,
    batch: 1,
    dtype: 'float32',
    images: 1,
    predicted_ms: predicted,
    measured_ms: Math.min(...times),
    times_ms: times,
    ratio: Math.min(...times) / predicted,
    predicted_fd: 0.5,
    fd_interpolated: false,
  });

  it("prints each row's slowest request over its fastest, and their median", () => {
    const rows = [row([100, 150, 120], 100), row([200, 205, 210], 180), row([50, 100, 75], 50)];
    const s = planSummary(rows);
    const text = plan({
      name: 'plan',
      machine: {} as ResultFile['machine'],
      load_avg_end: [0, 0, 0],
      seconds: 1,
      options: {},
      result: {
        model: 'm',
        parameters: 1,
        profile: 'p',
        statistic: 'min',
        repeats: 3,
        curve: { n: 200, points: 3, samplers: ['dpmpp-2m/default'] },
        rows,
        refused: [],
        within_15pct: s.within,
        median_abs_error: s.medianAbsError,
      },
    });
    expect(timedSpread([100, 150, 120])).toBe(1.5);
    expect(text).toContain('| 100.0 | 100.0 | 1.000 | 1.50 |');
    expect(text).toContain('| 180.0 | 200.0 | 1.111 | 1.05 |');
    expect(text).toContain('Within 15% of the prediction: 3 of 3');
    // Spreads 1.05, 1.50, 2.00: the median is the middle one.
    expect(text).toContain('(median 1.50 here)');
  });
});
