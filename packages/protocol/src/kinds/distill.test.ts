import { describe, expect, it } from 'vitest';
import { jobSpecSchema, parseChildLine } from '../jobs.ts';
import { distillKind, distillSpecSchema, distillSummarySchema } from './distill.ts';

const teacher = 'A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D';

/** The path and message of the first issue of a spec that should be refused. */
function refusal(spec: unknown): string {
  const r = distillSpecSchema.safeParse(spec);
  expect(r.success).toBe(false);
  const issue = r.error?.issues[0];
  return `${issue?.path.join('.')}: ${issue?.message}`;
}

// A stage as `anneal distill --json` prints it.
const stage = {
  stage: 1,
  from_steps: 32,
  to_steps: 16,
  steps: 16,
  iterations: 20,
  training_stop: 'reached --max-iters-per-stage (20)',
  fd: 1.5,
  fd_std: 0.2,
  fd_interval: [1.2, 1.9],
  decision: 'continue',
  met_budget: true,
  reason: 'stage 1 (32 -> 16 steps): FD 1.1x reference <= 1.3x',
  wall_s: 12.5,
  evals: [
    {
      name: 'stage 1 (32 -> 16 steps)',
      steps: 16,
      nfe: 16,
      fd: 1.5,
      fd_std: 0.2,
      fd_ratio: 1.1,
      latency_ms_per_image: 3.2,
      decision: 'continue',
      met_budget: true,
      reason: 'stage 1 (32 -> 16 steps): FD 1.1x reference <= 1.3x',
    },
  ],
};
const summary = {
  method: 'progressive',
  teacher: '/tmp/teacher',
  teacher_sha256: 'a'.repeat(64),
  out: '/tmp/out',
  budget: 1.3,
  eval_n: 500,
  reference: {
    sampler: 'ddim',
    steps: 32,
    nfe: 32,
    fd: 1.36,
    fd_std: 0.1,
    floor_fd: 0.4,
    latency_ms_per_image: 6.1,
    cached: false,
  },
  stages: [stage],
  kept: { stage: 1, steps: 16, fd: 1.5, dir: '/tmp/out/student' },
  stop_reason: stage.reason,
  tradeoff: { markdown: 'a', json: 'b', svg: 'c' },
  wall_s: 40,
};

describe('the distill job kind', () => {
  it("takes the teacher's version id in lower case and `anneal distill`'s defaults", () => {
    const spec = distillSpecSchema.parse({ teacher, method: 'progressive' });
    expect(spec).toEqual({
      teacher: teacher.toLowerCase(),
      method: 'progressive',
      quality_budget: 1.3,
      min_steps: 1,
      max_iters_per_stage: 3000,
      eval_n: 500,
      batch: 32,
      lr: 1e-4,
      seed: 0,
    });
    expect(
      jobSpecSchema.parse({ type: 'distill', spec: { teacher, method: 'consistency' } }),
    ).toMatchObject({ type: 'distill', spec: { method: 'consistency' } });
    expect(distillKind.model(spec)).toEqual({ kind: 'modelVersion', id: teacher.toLowerCase() });
  });

  it('refuses bad specs and names the field', () => {
    expect(refusal({ method: 'progressive' })).toMatch(/^teacher: /);
    expect(refusal({ teacher: 'v1', method: 'progressive' })).toMatch(/^teacher: /);
    expect(refusal({ teacher })).toMatch(/^method: /);
    expect(refusal({ teacher, method: 'magic' })).toMatch(/^method: /);
    expect(refusal({ teacher, method: 'progressive', quality_budget: 0.5 })).toMatch(
      /^quality_budget: /,
    );
    expect(refusal({ teacher, method: 'progressive', min_steps: 0 })).toMatch(/^min_steps: /);
    expect(refusal({ teacher, method: 'consistency', min_steps: 4 })).toBe(
      'min_steps: consistency models are evaluated at 2- and 1-step sampling; give 1 or 2',
    );
    expect(refusal({ teacher, method: 'consistency-training', min_steps: 4 })).toMatch(
      /^min_steps: /,
    );
    expect(refusal({ teacher, method: 'consistency', ect_q: 3 })).toBe(
      'ect_q: applies to the consistency-training method only',
    );
    expect(refusal({ teacher, method: 'progressive', ect_halving_every: 100 })).toBe(
      'ect_halving_every: applies to the consistency-training method only',
    );
    expect(refusal({ teacher, method: 'consistency-training', ect_q: 1 })).toMatch(/^ect_q: /);
    expect(
      distillSpecSchema.parse({ teacher, method: 'consistency-training', ect_halving_every: 250 }),
    ).toMatchObject({ method: 'consistency-training', ect_halving_every: 250 });
    expect(refusal({ teacher, method: 'progressive', eval_n: 5 })).toMatch(/^eval_n: /);
    expect(refusal({ teacher, method: 'progressive', batch: 0.5 })).toMatch(/^batch: /);
    expect(refusal({ teacher, method: 'progressive', lr: 0 })).toMatch(/^lr: /);
    expect(refusal({ teacher, method: 'progressive', extractor_width: 12 })).toMatch(
      /^extractor_width: /,
    );
    expect(refusal({ teacher, method: 'progressive', steps: 4 })).toMatch(/steps/);
  });

  it("reads the child's summary and names what is wrong in a bad one", () => {
    expect(distillSummarySchema.parse(summary).stages[0]?.evals[0]?.nfe).toBe(16);
    const bad = (patch: Record<string, unknown>) => {
      const line = JSON.stringify({ ...summary, ...patch });
      return () => parseChildLine('distill', line);
    };
    expect(bad({ stages: [{ ...stage, decision: 'maybe' }] })).toThrow(
      /invalid summary \(stages\.0\.decision: /,
    );
    expect(bad({ stages: [{ ...stage, evals: [] }] })).toThrow(/stages\.0\.evals: /);
    expect(bad({ teacher_sha256: 'xyz' })).toThrow(/teacher_sha256: /);
    expect(bad({ reference: undefined })).toThrow(/reference: /);
  });

  it("reads the child's events: metrics, progress and a line per finished stage", () => {
    const metrics = parseChildLine(
      'distill',
      '{"event":"metrics","stage":2,"iter":5,"loss":0.1,"step":25,"total":40}',
    );
    expect(metrics).toMatchObject({ kind: 'event', event: { event: 'metrics', step: 25 } });
    const progress = parseChildLine(
      'distill',
      '{"event":"progress","phase":"stage 1 (32 -> 16 steps)","stage":1,"iteration":10,"stage_total":20,"step":10,"total":40}',
    );
    expect(progress).toMatchObject({ kind: 'event', event: { event: 'progress', total: 40 } });
    const done = parseChildLine(
      'distill',
      JSON.stringify({
        event: 'stage',
        stage: 1,
        steps: 16,
        fd: 1.5,
        fd_std: 0.2,
        decision: 'continue',
        met_budget: true,
        reason: 'ok',
      }),
    );
    expect(done).toMatchObject({ kind: 'event', event: { event: 'stage', stage: 1 } });
    expect(() =>
      parseChildLine('distill', '{"event":"stage","stage":0,"steps":16,"decision":"stop"}'),
    ).toThrow(/invalid event \(stage: /);
  });
});
