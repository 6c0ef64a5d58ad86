import { distillTradeoffSchema } from '@anneal/protocol';
import { describe, expect, it } from 'vitest';
import {
  paretoFront,
  type Tradeoff,
  type TradeoffRow,
  tradeoffJson,
  tradeoffMarkdown,
  tradeoffSvg,
} from './tradeoff.ts';

const row = (
  name: string,
  nfe: number,
  latency: number,
  fd: number,
  decision: TradeoffRow['decision'],
): TradeoffRow => ({
  name,
  steps: nfe,
  nfe,
  latencyMsPerImage: latency,
  imagesPerS: 1000 / latency,
  parameters: 1_000_000,
  peakMemoryBytes: 1 << 28,
  fd,
  fdStd: 0.1,
  kid: 0.01,
  precision: 0.7,
  recall: 0.6,
  paired: decision === 'reference' ? null : { psnr: 20, ssim: 0.8, featureDistance: 1.5 },
  decision,
});

describe('Pareto front', () => {
  it('keeps exactly the rows no other row beats on both cost and FD', () => {
    const pts = [
      { cost: 32, fd: 2.0 },
      { cost: 16, fd: 2.1 },
      { cost: 8, fd: 2.5 },
      { cost: 8, fd: 2.6 }, // dominated by the row above (same cost, worse FD)
      { cost: 4, fd: 3.5 },
      { cost: 2, fd: 3.4 }, // dominates the 4-step row
      { cost: 1, fd: Number.NaN },
    ];
    expect(paretoFront(pts)).toEqual([0, 1, 2, 5]);
    // Ties on both count as neither dominating the other.
    expect(
      paretoFront([
        { cost: 1, fd: 1 },
        { cost: 1, fd: 1 },
      ]),
    ).toEqual([0, 1]);
  });
});

describe('trade-off table and chart', () => {
  const t: Tradeoff = {
    rows: [
      row('reference (DDIM 32)', 32, 320, 2.0, 'reference'),
      row('stage 1 (32 -> 16 steps)', 16, 160, 2.1, 'within budget'),
      row('stage 2 (16 -> 8 steps)', 8, 80, 2.4, 'kept'),
      // Latency is measured: here noise makes a 4-step student slower than the 8-step one.
      row('stage 3 (8 -> 4 steps)', 4, 90, 3.0, 'over budget'),
    ],
    referenceFd: 2.0,
    floorFd: 0.4,
    budget: 1.3,
    n: 500,
  };

  it('marks the Pareto points on each axis in the JSON and the markdown', () => {
    const j = tradeoffJson(t);
    expect(j.rows.map((r) => r.pareto_nfe)).toEqual([true, true, true, true]);
    expect(j.rows.map((r) => r.pareto_latency)).toEqual([true, true, true, false]);
    expect(j.rows[3]?.fd_ratio).toBeCloseTo(1.5, 12);
    const md = tradeoffMarkdown(t);
    expect(md.split('\n').filter((l) => l.startsWith('| stage'))).toHaveLength(3);
    // ms/image, images/s, then peak memory in MB (2^28 bytes).
    expect(md).toContain('| stage 3 (8 -> 4 steps) | 4 | 4 | 90.0 | 11.1 | 268 |');
    expect(md).toContain('Latency: each model timed at its own stage evaluation.');
    const together = tradeoffMarkdown({
      ...t,
      latency: { together: true, batch: 16, rounds: 5, loadAvgStart: 0.5, loadAvgEnd: 0.25 },
    });
    expect(together).toContain(
      'median of 5 calls at batch 16 (1-minute load average 0.50 before, 0.25 after)',
    );
    // What writeAnalysis records when nothing was timed together (rank > 0, a failed timing).
    const apart = tradeoffMarkdown({
      ...t,
      latency: { together: false, batch: 16, rounds: 3, loadAvgStart: null, loadAvgEnd: null },
    });
    expect(apart).toContain(
      'each model timed at its own stage evaluation (median of 3 calls at batch 16), hours apart',
    );
    expect(tradeoffJson({ ...t, latency: undefined }).latency).toBeUndefined();
    expect(md).toContain('| yes, no | over budget |');
    expect(md).toContain('FD <= 2.600');
  });

  it('writes JSON the run page can parse, also when a measurement is not finite', () => {
    const broken: Tradeoff = {
      ...t,
      rows: [...t.rows, row('stage 4 (4 -> 2 steps)', 2, 45, Number.NaN, 'over budget')],
    };
    const parsed = distillTradeoffSchema.parse(JSON.parse(JSON.stringify(tradeoffJson(broken))));
    expect(parsed.rows.at(-1)?.fd).toBeNull();
    expect(parsed.rows.at(-1)?.pareto_nfe).toBe(false);
    // The schema refuses what the command never writes (the page shows the error instead).
    expect(
      distillTradeoffSchema.safeParse({
        ...parsed,
        rows: [{ ...parsed.rows[0], decision: 'kept?' }],
      }).success,
    ).toBe(false);
  });

  it('draws one marker per row and panel, filled on the front of its panel, and the reference lines', () => {
    const svg = tradeoffSvg(t);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<circle /g)).toHaveLength(8);
    // NFE panel: all 4 on the front; latency panel: 3.
    expect(svg.match(/class="pareto"/g)).toHaveLength(7);
    expect(svg.match(/<line class="ref"/g)).toHaveLength(6);
    expect(svg).toContain('reference FD 2.00');
    expect(svg).toContain('real vs real 0.400');
    expect(svg).toContain('stage 1 (32 -&gt; 16 steps)');
    // Balanced tags: every opened g is closed.
    expect(svg.match(/<g /g)?.length).toBe(svg.match(/<\/g>/g)?.length);
    // FD grows upwards: the reference's marker (FD 2.0) sits below the 4-step one (3.0).
    const cy = [...svg.matchAll(/<circle [^>]*cy="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(cy[0]).toBeGreaterThan(cy[3] as number);
  });

  it("sets each student beside the teacher's best sampler at its NFE, in every output", () => {
    const withTeacher: Tradeoff = {
      ...t,
      rows: t.rows.map((r) =>
        r.nfe === 8
          ? { ...r, teacherBest: { sampler: 'dpmpp-2m', steps: 8, fd: 3.1, fdStd: 0.2 } }
          : r.nfe === 4
            ? { ...r, teacherBest: { sampler: 'heun', steps: 2, fd: 2.9, fdStd: 0.2 } }
            : r,
      ),
    };
    const j = distillTradeoffSchema.parse(JSON.parse(JSON.stringify(tradeoffJson(withTeacher))));
    expect(j.rows.map((r) => r.teacher_best?.sampler ?? null)).toEqual([
      null,
      null,
      'dpmpp-2m',
      'heun',
    ]);
    const md = tradeoffMarkdown(withTeacher);
    // 2.4 beats the teacher's 3.1 at 8 NFE; 3.0 does not beat 2.9 at 4 (Heun: 2 steps, 3 NFE).
    expect(md).toContain('| 1.20x | dpmpp-2m: 3.100 ± 0.200 (beaten) |');
    expect(md).toContain('| 1.50x | heun (2 steps): 2.900 ± 0.200 (not beaten) |');
    expect(md).toContain("The teacher's best at this NFE:");
    expect(tradeoffMarkdown(t)).not.toContain("The teacher's best at this NFE:");
    const svg = tradeoffSvg(withTeacher);
    expect(svg.match(/<rect class="teacher"/g)).toHaveLength(2);
    expect(svg).toContain('teacher, dpmpp-2m 8 steps: FD 3.100');
    // Older runs' JSON (no teacher_best) still parses.
    const old = JSON.parse(JSON.stringify(tradeoffJson(t)));
    for (const r of old.rows) delete r.teacher_best;
    expect(distillTradeoffSchema.safeParse(old).success).toBe(true);
  });
});
