import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CostTable,
  costTableSchema,
  type PlanDtype,
  type QualityCurve,
  qualityCurveSchema,
} from '@anneal/engine/config';
import { describe, expect, it } from 'vitest';
import { choosePlan, costAt, fdAt, nfeOfSteps, planOptions, requestLatencyMs } from './choose.ts';

// A cost table and a quality curve recorded by `anneal plan` on this machine (a tiny MNIST
// model, 2 shared CPU cores): real numbers, so the chooser is exercised on the shapes it meets.
const fixtures = join(import.meta.dirname, 'fixtures');
const recordedCosts = costTableSchema.parse(
  JSON.parse(readFileSync(join(fixtures, 'costs.json'), 'utf8')),
);
const recordedCurve = qualityCurveSchema.parse(
  JSON.parse(readFileSync(join(fixtures, 'quality-curve.json'), 'utf8')),
);

// A small table whose answers can be worked out by hand.
const costs: CostTable = {
  version: 1,
  statistic: 'median',
  profileKey: 'cpu-test-2',
  configKey: 'abc',
  guided: false,
  measuredAt: '2026-12-02T00:00:00Z',
  skipped: [],
  entries: [
    {
      batch: 1,
      dtype: 'float32',
      perNfeMs: 2,
      overheadMs: 1,
      peakBytes: 0,
      nfe: [2, 8],
      medianMs: [5, 17],
      repeats: 3,
    },
    {
      batch: 4,
      dtype: 'float32',
      perNfeMs: 5,
      overheadMs: 2,
      peakBytes: 0,
      nfe: [2, 8],
      medianMs: [12, 42],
      repeats: 3,
    },
    {
      batch: 1,
      dtype: 'bfloat16',
      perNfeMs: 1,
      overheadMs: 1,
      peakBytes: 0,
      nfe: [2, 8],
      medianMs: [3, 9],
      repeats: 3,
    },
  ],
};
const point = (
  sampler: string,
  steps: number,
  nfe: number,
  fd: number,
  dtype: PlanDtype = 'float32',
) => ({ sampler, schedule: 'default', dtype, steps, nfe, fd, fdStd: 0.1, floor: 0.5 }) as const;
const curve: QualityCurve = {
  version: 1,
  n: 100,
  seed: 0,
  guidance: 1,
  extractorId: 'x',
  measuredAt: '2026-12-02T00:00:00Z',
  points: [
    point('euler', 5, 5, 20),
    point('euler', 20, 20, 10),
    point('heun', 3, 5, 15),
    point('heun', 10, 19, 6),
  ],
};

describe('nfeOfSteps', () => {
  it('counts Heun as 2S - 1 and guidance as double, and knows no adaptive sampler', () => {
    expect(nfeOfSteps('heun', 3, false)).toBe(5);
    expect(nfeOfSteps('euler', 7, true)).toBe(14);
    expect(nfeOfSteps('adaptive', 7, false)).toBeNull();
    // DPM-Solver-2's midpoint costs a second evaluation per step, as Heun's correction does.
    expect(nfeOfSteps('dpm-solver-2', 3, false)).toBe(5);
    expect(nfeOfSteps('dpm-solver-2', 3, true)).toBe(10);
    expect(nfeOfSteps('consistency', 2, false)).toBe(2);
    expect(nfeOfSteps('nonsense', 2, false)).toBeNull();
  });
});

describe('fdAt', () => {
  it('returns measured points, interpolates in log NFE between them, and never extrapolates', () => {
    const euler = curve.points.filter((p) => p.sampler === 'euler');
    expect(fdAt(euler, 5)).toEqual({ fd: 20, interpolated: false });
    // 10 is the geometric midpoint of 5 and 20: halfway in log NFE.
    expect(fdAt(euler, 10)?.fd).toBeCloseTo(15, 12);
    expect(fdAt(euler, 10)?.interpolated).toBe(true);
    expect(fdAt(euler, 4)).toBeNull();
    expect(fdAt(euler, 21)).toBeNull();
  });
});

describe('costAt and requestLatencyMs', () => {
  it('interpolates between measured batches and sums chunks', () => {
    // Batch 2 is a third of the way from 1 to 4.
    expect(costAt(costs, 'float32', 2)?.perNfeMs).toBeCloseTo(3, 12);
    expect(costAt(costs, 'float32', 8)).toBeNull();
    // 3 images in chunks of 2: a chunk of 2 and one of 1, 10 NFE each, in one call whose
    // overhead (batch 2's, 4/3 ms) is paid once.
    expect(requestLatencyMs(costs, 'float32', 10, 3, 2)).toBeCloseTo(4 / 3 + 10 * 3 + 10 * 2, 12);
    // 8 images in chunks of 1: one overhead of 1 ms, not eight.
    expect(requestLatencyMs(costs, 'float32', 10, 8, 1)).toBeCloseTo(1 + 8 * 10 * 2, 12);
  });
});

describe('choosePlan', () => {
  it('for a latency bound, picks the lowest FD that fits and refuses below the fastest', () => {
    // bfloat16 has no curve points: every option is float32 at batch 1: 1 + 2 NFE ms.
    const r = choosePlan(costs, curve, { kind: 'latency', latencyMs: 30, batch: 1 });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    // <= 30 ms allows NFE <= 14; Heun at 13 NFE (7 steps) beats Euler at 14 NFE.
    expect(r.option).toMatchObject({
      sampler: 'heun',
      steps: 7,
      nfe: 13,
      batch: 1,
      dtype: 'float32',
    });
    expect(r.option.latencyMs).toBe(27);
    const heun = curve.points.filter((p) => p.sampler === 'heun');
    expect(r.option.fd).toBeCloseTo(fdAt(heun, 13)?.fd as number, 12);

    const no = choosePlan(costs, curve, { kind: 'latency', latencyMs: 5, batch: 1 });
    expect(no.ok).toBe(false);
    if (no.ok) return;
    expect(no.nearest).toMatchObject({ nfe: 5, latencyMs: 11 });
    expect(no.message).toMatch(/no plan meets 5 ms.*the fastest is .* 5 NFE/);
  });

  it('for a throughput target, picks the lowest FD at or above it', () => {
    // Batch 4 at NFE k: 4000 / (2 + 5k) images/s >= 100 needs k <= 7.6.
    const r = choosePlan(costs, curve, { kind: 'throughput', imagesPerSecond: 100 });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.option).toMatchObject({ sampler: 'heun', nfe: 7, batch: 4 });
    expect(r.option.imagesPerSecond).toBeGreaterThanOrEqual(100);
  });

  it('for an FD bound, picks the fastest that reaches it and names the best when none does', () => {
    const r = choosePlan(costs, curve, { kind: 'max-fd', maxFd: 10, batch: 1 });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    // Heun reaches FD 10 before Euler does (Euler only at its measured 20 NFE).
    expect(r.option.sampler).toBe('heun');
    expect(r.option.fd).toBeLessThanOrEqual(10);
    const heun = curve.points.filter((p) => p.sampler === 'heun');
    // One step fewer would miss the bound.
    expect(fdAt(heun, r.option.nfe - 2)?.fd).toBeGreaterThan(10);

    const no = choosePlan(costs, curve, { kind: 'max-fd', maxFd: 1, batch: 1 });
    expect(no.ok).toBe(false);
    if (no.ok) return;
    expect(no.nearest).toMatchObject({ sampler: 'heun', nfe: 19, fd: 6 });
    expect(no.message).toMatch(/not extrapolated/);
  });

  it('pairs each cost dtype with the curve measured in it only', () => {
    const bf = {
      ...curve,
      points: curve.points.map((p) => ({ ...p, dtype: 'bfloat16' as const })),
    };
    const opts = planOptions(costs, bf, { kind: 'latency', latencyMs: 1000, batch: 1 });
    expect(opts.length).toBeGreaterThan(0);
    expect(opts.every((o) => o.dtype === 'bfloat16')).toBe(true);
  });

  it('on the recorded table and curve, meets every bound it accepts', () => {
    const fastest = Math.min(
      ...planOptions(recordedCosts, recordedCurve, { kind: 'latency', latencyMs: 1, batch: 1 }).map(
        (o) => o.latencyMs,
      ),
    );
    for (const factor of [1.5, 3, 10]) {
      const r = choosePlan(recordedCosts, recordedCurve, {
        kind: 'latency',
        latencyMs: fastest * factor,
        batch: 1,
      });
      expect(r.ok).toBe(true);
      if (r.ok) expect(r.option.latencyMs).toBeLessThanOrEqual(fastest * factor);
    }
    // A looser latency bound never gives a worse FD.
    const fds = [1.5, 3, 10].map((f) => {
      const r = choosePlan(recordedCosts, recordedCurve, {
        kind: 'latency',
        latencyMs: fastest * f,
        batch: 1,
      });
      return r.ok ? r.option.fd : Number.NaN;
    });
    expect(fds[1]).toBeLessThanOrEqual(fds[0] as number);
    expect(fds[2]).toBeLessThanOrEqual(fds[1] as number);
    expect(
      choosePlan(recordedCosts, recordedCurve, {
        kind: 'latency',
        latencyMs: fastest / 2,
        batch: 1,
      }).ok,
    ).toBe(false);
  });
});
