// A distillation stage's evaluation: the published student sampled on its grid (a progressive
// stage's halved DDIM grid; a consistency stage's 2- and 1-step grids), measured against the
// run's ruler and reference, decided against the quality budget, and recorded in eval.json
// and metrics.jsonl. Deterministic, so a resumed run redoes it and gets the same numbers.
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CONFIG_FILE,
  loadNative,
  Model,
  type ModelConfig,
  type SamplerName,
  writeFileAtomic,
} from '@anneal/engine';
import type { QualityRuler } from '../quality/evaluate.ts';
import { type Measured, measureModel, measureQuality, type SamplingGrid } from './measure.ts';
import type { Reference } from './reference.ts';
import { type BudgetRule, decideStage } from './stages.ts';
import {
  type BaselineRecord,
  type DistillState,
  type EvalRecord,
  type RunSettings,
  type StageRecord,
  stageDir,
} from './state.ts';

/** Samples per timed batch when measuring latency. */
export const LATENCY_BATCH = 16;

/** The consistency sampler's default grid for `steps` (Karras rho 7, the boundary dropped). */
export function consistencyGrid(model: Model, steps: number): number[] {
  const { sigmaMin, sigmaMax } = model.sigmaRange();
  const s = loadNative().sampling.sigmas({
    steps: steps + 1,
    schedule: 'karras',
    sigmaMin,
    sigmaMax,
  });
  s.splice(s.length - 2, 1);
  return s;
}

function evalRecord(
  name: string,
  grid: SamplingGrid,
  m: Measured,
  decision: ReturnType<typeof decideStage>,
): EvalRecord {
  return {
    name,
    steps: grid.sigmas.length - 1,
    sampler: grid.sampler,
    sigmas: grid.sigmas,
    nfe: m.nfe,
    fd: m.metrics.fd,
    fd_std: m.fdSpread.std,
    fd_low: m.fdSpread.low,
    fd_high: m.fdSpread.high,
    kid: m.metrics.kid,
    kid_std: m.metrics.kidStd,
    precision: m.metrics.precision,
    recall: m.metrics.recall,
    teacher_at_nfe: [],
    beats_teacher: null,
    paired: m.paired
      ? {
          psnr: Number.isFinite(m.paired.psnr) ? m.paired.psnr : null,
          ssim: m.paired.ssim,
          feature_distance: m.paired.featureDistance,
        }
      : null,
    latency_ms_per_image: m.latencyMsPerImage,
    images_per_s: m.imagesPerS,
    peak_memory_bytes: m.peakMemoryBytes,
    parameters: m.parameters,
    fd_ratio: decision.ratio,
    met_budget: decision.metBudget,
    proceed: decision.proceed,
    reason: decision.reason,
  };
}

export interface StageEvaluation {
  out: string;
  run: RunSettings;
  /** The run's teacher (the original one), for the baselines at each student's NFE. */
  teacher: Model;
  /** The run's state with the stage's training done (its student published in stage-K/). */
  state: DistillState;
  stage: number;
  /** The teacher's steps this stage halved (32 for a consistency stage). */
  fromSteps: number;
  /** A progressive stage's label and step count (its one grid). */
  label: string;
  toSteps: number;
  ruler: QualityRuler;
  reference: Reference;
  budgetRule: BudgetRule;
  /** The config.json `distillation` entry for a student sampled with `sampler` on `sigmas`. */
  distillation: (stage: number, sampler: string, sigmas: number[]) => ModelConfig['distillation'];
  progress: (phase: string) => (done: number, total: number) => void;
  /** Closes the current progress bar. */
  endPhase: () => void;
  say: (line: string) => void;
}

/**
 * The run's teacher with each baseline sampler at `nfe` (a student's step count), on the student's ruler, n and seed
 * (so the same initial noise): what the student has to beat at its NFE.
 */
async function teacherBaselines(e: StageEvaluation, nfe: number): Promise<BaselineRecord[]> {
  const records: BaselineRecord[] = [];
  for (const sampler of e.run.teacher_baselines) {
    // Heun spends 2 steps - 1 evaluations: its step count that stays at or under the NFE.
    const steps = sampler === 'heun' ? Math.max(1, Math.floor((nfe + 1) / 2)) : nfe;
    const m = await measureQuality({
      ruler: e.ruler,
      model: e.teacher,
      sampler,
      steps,
      n: e.run.eval_n,
      seed: e.run.seed,
      onProgress: e.progress(`teacher ${sampler} ${steps} steps`),
    });
    e.endPhase();
    records.push({
      sampler,
      steps,
      nfe: m.nfe,
      fd: m.metrics.fd,
      fd_std: m.fdSpread.std,
      kid: m.metrics.kid,
      precision: m.metrics.precision,
      recall: m.metrics.recall,
    });
  }
  return records;
}

/** Measures stage K's student on each of its grids; returns the stage's record. */
export async function evaluateStage(e: StageEvaluation): Promise<StageRecord> {
  const { out, run, state, stage: k } = e;
  const pd = run.method === 'progressive';
  const student = Model.load(stageDir(out, k));
  try {
    const grids: Array<{ name: string; grid: SamplingGrid; toSteps: number }> = pd
      ? [
          {
            name: e.label,
            grid: { sampler: 'ddim', sigmas: state.student_sigmas },
            toSteps: e.toSteps,
          },
        ]
      : [2, 1]
          .filter((s) => s >= run.min_steps)
          .map((s) => ({
            name: `consistency ${s} step${s === 1 ? '' : 's'}`,
            grid: {
              sampler: 'consistency' as SamplerName,
              sigmas: consistencyGrid(student, s),
            },
            toSteps: s,
          }));
    const evals: EvalRecord[] = [];
    for (const g of grids) {
      const m = await measureModel({
        ruler: e.ruler,
        model: student,
        grid: g.grid,
        n: run.eval_n,
        seed: run.seed,
        reference: e.reference,
        latencyBatch: LATENCY_BATCH,
        onProgress: e.progress(`measure ${g.name}`),
      });
      e.endPhase();
      const decision = decideStage(
        { stage: k, fromSteps: e.fromSteps, toSteps: g.toSteps, fd: m.metrics.fd },
        e.budgetRule,
      );
      const rec = evalRecord(g.name, g.grid, m, decision);
      rec.teacher_at_nfe = await teacherBaselines(e, rec.nfe);
      const best = bestBaseline(rec.teacher_at_nfe);
      rec.beats_teacher = best ? rec.fd < best.fd : null;
      evals.push(rec);
      appendFileSync(
        join(out, 'metrics.jsonl'),
        `${JSON.stringify({ stage: k, event: 'eval', ...rec })}\n`,
      );
      e.say(`${decision.reason} (FD ${m.metrics.fd.toFixed(4)} ± ${m.fdSpread.std.toFixed(4)})`);
      if (best)
        e.say(
          `  the teacher's best at ${rec.nfe} NFE: ${best.sampler} ${best.steps} steps, FD ${best.fd.toFixed(4)} ± ${best.fd_std.toFixed(4)}; the student ${rec.beats_teacher ? 'beats' : 'does not beat'} it`,
        );
    }
    const record: StageRecord = {
      stage: k,
      from_steps: e.fromSteps,
      to_steps: Math.min(...evals.map((r) => r.steps)),
      iterations: state.iter,
      stop_reason: state.stop_reason ?? '',
      dir: stageDir(out, k),
      wall_s: state.stage_wall_s,
      evals,
    };
    writeFileSync(join(stageDir(out, k), 'eval.json'), `${JSON.stringify(record, null, 2)}\n`);
    if (!pd) {
      // A consistency student samples by default with the fewest steps that met the budget.
      const best = [...evals].reverse().find((r) => r.met_budget) ?? evals.at(-1);
      if (best)
        writeFileAtomic(
          join(stageDir(out, k), CONFIG_FILE),
          `${JSON.stringify({ ...student.config, distillation: e.distillation(k, 'consistency', best.sigmas) }, null, 2)}\n`,
        );
    }
    return record;
  } finally {
    student.dispose();
  }
}

/** The baseline with the lowest finite FD, if any. */
export function bestBaseline(records: readonly BaselineRecord[]): BaselineRecord | null {
  return records
    .filter((r) => Number.isFinite(r.fd))
    .reduce<BaselineRecord | null>((b, r) => (b && b.fd <= r.fd ? b : r), null);
}
