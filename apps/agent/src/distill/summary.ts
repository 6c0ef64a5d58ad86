// `anneal distill --json`'s last line: the reference, every stage's verdict and evaluations,
// the kept student and where the trade-off analysis went (distillSummarySchema reads it).
import { join } from 'node:path';
import type { writeAnalysis } from './analysis.ts';
import { bestBaseline } from './evaluate-stage.ts';
import { REFERENCE_ROW, type RunLatency, timedRow } from './latency.ts';
import type { Reference } from './reference.ts';
import type { DistillState, RunSettings } from './state.ts';

export interface SummaryInput {
  out: string;
  run: RunSettings;
  state: DistillState;
  reference: Reference;
  floorFd: number;
  /** The run's wall time in this process, seconds. */
  wall: number;
  kept: ReturnType<typeof writeAnalysis>['kept'];
  /** Where the kept student was copied. */
  studentDir: string;
  /** Every model timed together at the end (latency.ts); null: each stage's own timing. */
  latency: RunLatency | null;
}

export function distillSummary({
  out,
  run,
  state,
  reference,
  floorFd,
  wall,
  kept,
  studentDir,
  latency,
}: SummaryInput) {
  const last = state.stages.at(-1)?.evals.at(-1);
  // The trade-off's latencies: row 0 is the reference, then each evaluation in stage order.
  let row = 0;
  const ms = (name: string, own: number) =>
    timedRow(latency, row++, name)?.median_ms_per_image ?? own;
  return {
    method: run.method,
    teacher: run.teacher,
    teacher_sha256: run.teacher_sha256,
    out,
    budget: run.budget,
    eval_n: run.eval_n,
    reference: {
      sampler: 'ddim',
      steps: 32,
      nfe: reference.nfe,
      fd: reference.metrics.fd,
      fd_std: reference.fdSpread.std,
      floor_fd: floorFd,
      latency_ms_per_image: ms(REFERENCE_ROW, reference.latencyMsPerImage),
      cached: reference.cached,
    },
    stages: state.stages.map((s) => {
      // The stage's verdict is its last evaluation's (a consistency stage evaluates 2
      // steps, then 1); every evaluation is listed in `evals`.
      const v = s.evals.at(-1);
      return {
        stage: s.stage,
        from_steps: s.from_steps,
        to_steps: s.to_steps,
        steps: v?.steps ?? s.to_steps,
        iterations: s.iterations,
        training_stop: s.stop_reason,
        fd: v?.fd ?? null,
        fd_std: v?.fd_std ?? null,
        fd_interval: v ? [v.fd_low, v.fd_high] : null,
        decision: v?.proceed ? 'continue' : 'stop',
        met_budget: v?.met_budget ?? false,
        reason: v?.reason ?? null,
        wall_s: s.wall_s,
        evals: s.evals.map((e) => ({
          name: e.name,
          steps: e.steps,
          nfe: e.nfe,
          fd: e.fd,
          fd_std: e.fd_std,
          fd_ratio: e.fd_ratio,
          latency_ms_per_image: ms(e.name, e.latency_ms_per_image),
          decision: e.proceed ? 'continue' : 'stop',
          met_budget: e.met_budget,
          reason: e.reason,
          teacher_best: ((b) =>
            b ? { sampler: b.sampler, steps: b.steps, fd: b.fd, fd_std: b.fd_std } : null)(
            bestBaseline(e.teacher_at_nfe),
          ),
          beats_teacher: e.beats_teacher,
        })),
      };
    }),
    kept: kept ? { stage: kept.stage, steps: kept.steps, fd: kept.fd, dir: studentDir } : null,
    stop_reason: last?.reason ?? null,
    tradeoff: {
      markdown: join(out, 'tradeoff.md'),
      json: join(out, 'tradeoff.json'),
      svg: join(out, 'tradeoff.svg'),
    },
    wall_s: wall,
  };
}
