// The files that make a distillation run resumable after kill -9: distill.json (the run's
// settings, written once) and distill-state.json (where the run is: stage, grids, where the
// student came from, which checkpoint slot holds the trainer state, the held-out losses so
// far), always replaced atomically. Trainer checkpoints alternate between two slots, and the
// state names the slot only once that slot is complete: a kill at any moment leaves a state
// that points at a whole checkpoint.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { writeFileAtomic } from '@anneal/engine';
import { type DistillMethod, distillMethodSchema } from '@anneal/protocol';
import { z } from 'zod';

export const RUN_FILE = 'distill.json';
export const STATE_FILE = 'distill-state.json';

/**
 * progressive and consistency (distillation) learn from the teacher's sampler;
 * consistency-training (ECT) fine-tunes a consistency model from the teacher's weights on the
 * data alone: the teacher only initializes it and is the reference it is measured against.
 */
export const methodNames = distillMethodSchema.options;
export type MethodName = DistillMethod;

/** Samplers `--teacher-baselines` may name: the deterministic and ancestral fixed-step ones. */
export const TEACHER_BASELINE_SAMPLERS = ['ddim', 'dpmpp-2m', 'ddpm', 'euler', 'heun'] as const;
export const DEFAULT_TEACHER_BASELINES = ['ddim', 'dpmpp-2m'] as const;

/** The teacher with one sampler at a student's step count, on the run's ruler. */
export const baselineRecordSchema = z.object({
  sampler: z.enum(TEACHER_BASELINE_SAMPLERS),
  steps: z.number().int(),
  nfe: z.number().int(),
  fd: z.number(),
  fd_std: z.number(),
  kid: z.number(),
  precision: z.number(),
  recall: z.number(),
});
export type BaselineRecord = z.infer<typeof baselineRecordSchema>;

export const runSettingsSchema = z.object({
  version: z.literal(1),
  method: z.enum(methodNames),
  teacher: z.string(),
  teacher_sha256: z.string(),
  budget: z.number().positive(),
  min_steps: z.number().int().min(1),
  max_iters_per_stage: z.number().int().min(1),
  eval_every: z.number().int().min(1),
  plateau_window: z.number().int().min(1),
  plateau_threshold: z.number().min(0),
  eval_n: z.number().int().min(10),
  heldout_n: z.number().int().min(1),
  batch: z.number().int().min(1),
  lr: z.number().positive(),
  ema_decay: z.number().min(0).max(1),
  seed: z.number().int().min(0),
  log_every: z.number().int().min(1),
  weighting: z.enum(['truncated-snr', 'snr+1']),
  cd_discretization: z.number().int().min(2),
  /**
   * consistency-training: ECT's gap sigma_t - sigma_r shrinks by q every ect_halving_every
   * iterations (null: max-iters-per-stage / 8, so the curriculum ends with the stage). Runs
   * written before the method existed have neither.
   */
  ect_q: z.number().gt(1).default(2),
  ect_halving_every: z.number().int().min(1).nullable().default(null),
  extractor_steps: z.number().int().optional(),
  extractor_width: z.number().int().optional(),
  /**
   * Samplers the teacher is measured with at each student's step count, on the same ruler and
   * noise: does the student beat the teacher's own best sampler at its NFE? (Runs written
   * before this field measured none.)
   */
  teacher_baselines: z.array(z.enum(TEACHER_BASELINE_SAMPLERS)).default([]),
});
export type RunSettings = z.infer<typeof runSettingsSchema>;

/** JSON has no NaN: a non-finite held-out loss is stored as null and read back as NaN. */
const lossValue = z
  .number()
  .nullable()
  .transform((v) => (v === null ? Number.NaN : v));

export const evalRecordSchema = z.object({
  name: z.string(),
  steps: z.number().int(),
  sampler: z.string(),
  sigmas: z.array(z.number()),
  nfe: z.number(),
  fd: z.number(),
  fd_std: z.number(),
  fd_low: z.number(),
  fd_high: z.number(),
  kid: z.number(),
  kid_std: z.number().nullable(),
  precision: z.number(),
  recall: z.number(),
  paired: z
    .object({ psnr: z.number().nullable(), ssim: z.number(), feature_distance: z.number() })
    .nullable(),
  latency_ms_per_image: z.number(),
  images_per_s: z.number(),
  peak_memory_bytes: z.number(),
  parameters: z.number(),
  fd_ratio: z.number(),
  met_budget: z.boolean(),
  proceed: z.boolean(),
  reason: z.string(),
  /** The teacher at this grid's step count with each of the run's baseline samplers. */
  teacher_at_nfe: z.array(baselineRecordSchema).default([]),
  /** FD below every baseline's; null when the run measured none. */
  beats_teacher: z.boolean().nullable().default(null),
});
export type EvalRecord = z.infer<typeof evalRecordSchema>;

export const stageRecordSchema = z.object({
  stage: z.number().int().min(1),
  from_steps: z.number().int(),
  to_steps: z.number().int(),
  iterations: z.number().int(),
  stop_reason: z.string(),
  dir: z.string(),
  wall_s: z.number(),
  evals: z.array(evalRecordSchema),
});
export type StageRecord = z.infer<typeof stageRecordSchema>;

export const stateSchema = z.object({
  version: z.literal(1),
  stage: z.number().int().min(1),
  phase: z.enum(['training', 'evaluating', 'done']),
  /** This stage's teacher checkpoint folder and the folder whose weights started the student. */
  teacher_dir: z.string(),
  student_from: z.string(),
  teacher_sigmas: z.array(z.number()),
  student_sigmas: z.array(z.number()),
  /** The checkpoint slot (stage-K/checkpoint-a|b) holding the trainer state at `iter`. */
  slot: z.enum(['a', 'b']).nullable(),
  iter: z.number().int().min(0),
  heldout: z.array(z.object({ iter: z.number().int(), loss: lossValue })),
  stop_reason: z.string().nullable(),
  /** Seconds spent on this stage before the last resume. */
  stage_wall_s: z.number().default(0),
  stages: z.array(stageRecordSchema),
});
export type DistillState = z.infer<typeof stateSchema>;
export type DistillStateInput = z.input<typeof stateSchema>;

function readJson<T>(path: string, schema: z.ZodType<T>, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new AppError('BAD_REQUEST', `${path}: not valid JSON (${(err as Error).message})`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new AppError(
      'BAD_REQUEST',
      `${path}: not a ${what}: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  return r.data;
}

export const readRun = (out: string) =>
  readJson(join(out, RUN_FILE), runSettingsSchema, 'distillation run');

export const readState = (out: string): DistillState | null =>
  existsSync(join(out, STATE_FILE))
    ? readJson(join(out, STATE_FILE), stateSchema, 'distillation state')
    : null;

const json = (v: unknown) =>
  `${JSON.stringify(v, (_, x) => (typeof x === 'number' && !Number.isFinite(x) ? null : x), 2)}\n`;

export function writeRun(out: string, run: RunSettings): void {
  writeFileAtomic(join(out, RUN_FILE), json(run));
}

export function writeState(out: string, state: DistillState): void {
  writeFileAtomic(join(out, STATE_FILE), json(state));
}

export const otherSlot = (slot: 'a' | 'b' | null): 'a' | 'b' => (slot === 'a' ? 'b' : 'a');
export const stageDir = (out: string, stage: number) => join(out, `stage-${stage}`);
export const slotDir = (out: string, stage: number, slot: 'a' | 'b') =>
  join(stageDir(out, stage), `checkpoint-${slot}`);

/**
 * The state with its folders rebased onto `out` and `run.teacher`: a run moved to another
 * folder or machine (an agent resuming another agent's uploaded checkpoint) names the
 * folders it had there. Each is a stage's folder (stage-K) or else the teacher's.
 */
export function relocateState(out: string, run: RunSettings, state: DistillState): DistillState {
  const rebase = (path: string) => {
    const m = /(?:^|[\\/])stage-(\d+)[\\/]?$/.exec(path);
    return m ? stageDir(out, Number(m[1])) : run.teacher;
  };
  return {
    ...state,
    teacher_dir: rebase(state.teacher_dir),
    student_from: rebase(state.student_from),
    stages: state.stages.map((s) => ({ ...s, dir: stageDir(out, s.stage) })),
  };
}

const PHASE_ORDER = { training: 0, evaluating: 1, done: 2 } as const;

/** Whether `a` is further along the run than `b` (stage, then phase, then iteration). */
export function furtherAlong(a: DistillState, b: DistillState): boolean {
  if (a.stage !== b.stage) return a.stage > b.stage;
  if (a.phase !== b.phase) return PHASE_ORDER[a.phase] > PHASE_ORDER[b.phase];
  return a.iter > b.iter;
}
