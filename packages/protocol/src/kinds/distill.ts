import {
  estimateTrainingMemory,
  extractorStepsSchema,
  extractorWidthSchema,
} from '@anneal/engine/config';
import { z } from 'zod';
import {
  checkpointEventSchema,
  defineJobKind,
  errorEventSchema,
  metricsEventSchema,
  progressEventSchema,
} from './kind.ts';
import { MAX_RANKS, trainedUNet, trainSpecSchema } from './train.ts';

/**
 * `anneal distill --method`: progressive and consistency distillation learn from the teacher's
 * sampler; consistency-training (ECT) fine-tunes from the teacher's weights on data alone.
 */
export const distillMethodSchema = z.enum(['progressive', 'consistency', 'consistency-training']);
export type DistillMethod = z.infer<typeof distillMethodSchema>;

/** How a method is named in prose: consistency training distils nothing from the teacher. */
export const DISTILL_METHOD_LABELS: Record<DistillMethod, string> = {
  progressive: 'progressive distillation',
  consistency: 'consistency distillation',
  'consistency-training': 'consistency training (ECT)',
};

/**
 * A distill job: `anneal distill` on the agent, from a registered teacher version of the
 * project, with the command's settings and defaults (docs/distillation.md). Each stage
 * whose student met the quality budget is registered as a model version with lineage to
 * the teacher.
 */
export const distillSpecSchema = z
  .object({
    /** The teacher: a model version id in the job's project. */
    teacher: z.uuid().toLowerCase(),
    method: distillMethodSchema,
    quality_budget: z.number().min(1).max(100).default(1.3),
    min_steps: z.number().int().min(1).max(16).default(1),
    max_iters_per_stage: z.number().int().min(1).max(1_000_000).default(3000),
    eval_n: z.number().int().min(10).max(10000).default(500),
    batch: z.number().int().min(1).max(4096).default(32),
    lr: z.number().positive().max(1).default(1e-4),
    seed: z.number().int().min(0).max(0x7fffffff).default(0),
    // The rest as `anneal distill`'s flags of the same names; unset takes its defaults.
    eval_every: z.number().int().min(1).max(1_000_000).optional(),
    plateau_window: z.number().int().min(1).max(100).optional(),
    plateau_threshold: z.number().min(0).max(1).optional(),
    heldout_n: z.number().int().min(1).max(1024).optional(),
    ema_decay: z.number().min(0).max(1).optional(),
    weighting: z.enum(['truncated-snr', 'snr+1']).optional(),
    cd_discretization: z.number().int().min(2).max(1000).optional(),
    /** consistency-training: ECT's gap shrinks by ect_q every ect_halving_every iterations. */
    ect_q: z.number().gt(1).max(1000).optional(),
    ect_halving_every: z.number().int().min(1).max(1_000_000).optional(),
    log_every: z.number().int().min(1).max(1_000_000).optional(),
    extractor_steps: extractorStepsSchema.optional(),
    extractor_width: extractorWidthSchema.optional(),
    /**
     * Data-parallel over this many agents, leased together as one group (one rank each, as
     * `anneal distill --ranks`); absent: one agent.
     */
    ranks: z.number().int().min(2).max(MAX_RANKS).optional(),
  })
  .strict()
  .refine((s) => s.method === 'progressive' || s.min_steps <= 2, {
    message: 'consistency models are evaluated at 2- and 1-step sampling; give 1 or 2',
    path: ['min_steps'],
  })
  .superRefine((s, ctx) => {
    if (s.method === 'consistency-training') return;
    for (const field of ['ect_q', 'ect_halving_every'] as const)
      if (s[field] !== undefined)
        ctx.addIssue({
          code: 'custom',
          message: 'applies to the consistency-training method only',
          path: [field],
        });
  })
  .refine((s) => s.ranks === undefined || s.batch % s.ranks === 0, {
    message: 'the batch does not split evenly into the ranks',
    path: ['ranks'],
  });
export type DistillSpec = z.infer<typeof distillSpecSchema>;
export type DistillSpecInput = z.input<typeof distillSpecSchema>;

/** A finished stage, as `anneal distill --events` prints it (and as its summary lists it). */
export const distillStageEventSchema = z.object({
  event: z.literal('stage'),
  stage: z.number().int().min(1),
  steps: z.number().int().min(1),
  fd: z.number().nullable(),
  fd_std: z.number().nullable(),
  decision: z.enum(['continue', 'stop']),
  met_budget: z.boolean(),
  reason: z.string().nullable(),
});

const fdNum = z.number().nullable();

/** One evaluation of a stage's student (a consistency stage evaluates 2 steps, then 1). */
export const distillEvalSchema = z.object({
  name: z.string(),
  steps: z.number().int().min(1),
  nfe: z.number().int().min(1),
  fd: fdNum,
  fd_std: fdNum,
  fd_ratio: fdNum,
  latency_ms_per_image: fdNum,
  decision: z.enum(['continue', 'stop']),
  met_budget: z.boolean(),
  reason: z.string().nullable(),
  /** The teacher's lowest-FD baseline sampler at this NFE, and whether the student's FD is lower. */
  teacher_best: z
    .object({ sampler: z.string(), steps: z.number().int(), fd: fdNum, fd_std: fdNum })
    .nullable()
    .optional(),
  beats_teacher: z.boolean().nullable().optional(),
});

export const distillStageSchema = z.object({
  stage: z.number().int().min(1),
  from_steps: z.number().int().min(1),
  to_steps: z.number().int().min(1),
  steps: z.number().int().min(1),
  iterations: z.number().int().min(0),
  training_stop: z.string().nullable(),
  fd: fdNum,
  fd_std: fdNum,
  fd_interval: z.tuple([fdNum, fdNum]).nullable(),
  decision: z.enum(['continue', 'stop']),
  met_budget: z.boolean(),
  reason: z.string().nullable(),
  wall_s: z.number(),
  evals: z.array(distillEvalSchema).min(1),
});
export type DistillStage = z.infer<typeof distillStageSchema>;

/** `anneal distill --json`'s last line. */
export const distillSummarySchema = z.object({
  method: distillMethodSchema,
  teacher: z.string(),
  teacher_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  out: z.string(),
  budget: z.number(),
  eval_n: z.number().int(),
  reference: z.object({
    sampler: z.string(),
    steps: z.number().int(),
    nfe: z.number().int(),
    fd: z.number(),
    fd_std: z.number(),
    floor_fd: fdNum,
    latency_ms_per_image: fdNum,
    cached: z.boolean(),
  }),
  stages: z.array(distillStageSchema),
  kept: z
    .object({ stage: z.number().int(), steps: z.number().int(), fd: z.number(), dir: z.string() })
    .nullable(),
  stop_reason: z.string().nullable(),
  wall_s: z.number(),
});
export type DistillSummary = z.infer<typeof distillSummarySchema>;

/**
 * `anneal distill`'s tradeoff.json (DISTILL_ARTIFACTS.tradeoffJson): the reference row, then
 * one row per stage evaluation, with Pareto flags on FD vs NFE and FD vs latency. Numbers
 * are nullable because JSON writes a non-finite measurement as null.
 */
export const distillTradeoffSchema = z.object({
  n: z.number().int().min(1),
  reference_fd: z.number(),
  floor_fd: fdNum,
  budget: z.number(),
  /**
   * How the rows' latencies were timed: together (every model in one sitting at the run's
   * end, interleaved) or each at its own stage evaluation. Absent in older runs: per stage.
   */
  latency: z
    .object({
      together: z.boolean(),
      batch: z.number().int().min(1),
      rounds: z.number().int().min(1),
      load_avg_start: z.number().nullable(),
      load_avg_end: z.number().nullable(),
    })
    .optional(),
  rows: z.array(
    z.object({
      name: z.string(),
      steps: z.number().int().min(1),
      nfe: z.number().int().min(1),
      latency_ms_per_image: fdNum,
      images_per_s: fdNum,
      parameters: z.number().int().min(0),
      peak_memory_bytes: fdNum,
      fd: fdNum,
      fd_std: fdNum,
      fd_ratio: fdNum,
      kid: fdNum,
      precision: fdNum,
      recall: fdNum,
      paired: z.object({ psnr: fdNum, ssim: fdNum, feature_distance: fdNum }).nullable(),
      decision: z.enum(['reference', 'kept', 'within budget', 'over budget']),
      /** The teacher's lowest-FD baseline sampler at this row's NFE (absent in older runs). */
      teacher_best: z
        .object({ sampler: z.string(), steps: z.number().int(), fd: fdNum, fd_std: fdNum })
        .nullable()
        .optional(),
      pareto_nfe: z.boolean(),
      pareto_latency: z.boolean(),
    }),
  ),
});
export type DistillTradeoff = z.infer<typeof distillTradeoffSchema>;

/** One sentence on how the latencies were timed, for the table's readers. */
export function distillLatencyNote(l: DistillTradeoff['latency']): string {
  if (!l) return 'Latency: each model timed at its own stage evaluation.';
  const load =
    l.load_avg_start === null
      ? ''
      : ` (1-minute load average ${l.load_avg_start.toFixed(2)} before${l.load_avg_end === null ? '' : `, ${l.load_avg_end.toFixed(2)} after`})`;
  return l.together
    ? `Latency: every model timed together at the end of the run, interleaved, median of ${l.rounds} calls at batch ${l.batch}${load}; ratios between rows are like for like.`
    : `Latency: each model timed at its own stage evaluation (median of ${l.rounds} calls at batch ${l.batch}), hours apart: the machine's load in between differs, so compare rows with care.`;
}

/** Where a distill job's run keeps what it leaves (the agent uploads, the server reads). */
export const DISTILL_ARTIFACTS = {
  /** `students/stage-K/` holds stage K's config.json, model.safetensors and eval.json. */
  stage: (k: number) => `students/stage-${k}/`,
  tradeoffJson: 'distill/tradeoff.json',
  tradeoffSvg: 'distill/tradeoff.svg',
  tradeoffMd: 'distill/tradeoff.md',
  metrics: 'distill/metrics.jsonl',
  /** Every model timed together at the run's end (each call's time, the load around it). */
  latency: 'distill/latency.json',
} as const;

export const distillKind = defineJobKind({
  type: 'distill',
  summary:
    'distill a teacher version into few-step students, stage by stage, within a quality budget',
  spec: distillSpecSchema,
  events: z.discriminatedUnion('event', [
    metricsEventSchema,
    progressEventSchema,
    checkpointEventSchema,
    distillStageEventSchema,
    errorEventSchema,
  ]),
  result: distillSummarySchema,
  dataset: () => null,
  model: (spec) => ({ kind: 'modelVersion', id: spec.teacher }),
  modelField: 'job.spec.teacher',
  // Its students are registered in the job's project, with lineage to the teacher.
  modelInProject: true,
  // The teacher's training data: the stages train on it and measure against its held-out split.
  readsSourceDataset: true,
  /**
   * The student trains as its teacher did (weights, gradients, optimizer state, EMA,
   * activations at the batch) and the frozen teacher's weights sit beside it. Null when
   * the train job behind the teacher is unknown.
   */
  features: (spec) => (spec.ranks !== undefined ? ['distill.ranks' as const] : []),
  memoryNeed(spec, { source }) {
    const train = trainSpecSchema.safeParse(source?.spec);
    if (!source || !train.success) return null;
    // Each rank of a data-parallel job takes its share of the batch.
    const batch = spec.batch / (spec.ranks ?? 1);
    const estimate = estimateTrainingMemory(
      trainedUNet(train.data, source.versionClasses),
      batch,
      'float32',
    );
    return {
      bytes: estimate.total + estimate.parameters,
      batch,
      dtype: 'float32',
      lower: 'the batch size',
    };
  },
  totalSteps: () => null,
});

/**
 * What a registered student keeps about where it came from (its model version's
 * `metadata.distillation`): the teacher version, the job and stage, and the stage's verdict.
 */
export const distillationRecordSchema = z.object({
  teacher: z.object({
    version_id: z.string(),
    model: z.string(),
    version: z.number().int(),
    weights_sha256: z.string(),
  }),
  job_id: z.string(),
  run_id: z.string(),
  method: distillMethodSchema,
  stage: z.number().int().min(1),
  from_steps: z.number().int(),
  steps: z.number().int().min(1),
  nfe: z.number().int().min(1),
  budget: z.number(),
  decision: z.enum(['continue', 'stop']),
  reason: z.string().nullable(),
  fd: fdNum,
  fd_std: fdNum,
  fd_interval: z.tuple([fdNum, fdNum]).nullable(),
  fd_ratio: fdNum,
  reference_fd: z.number(),
  eval_n: z.number().int(),
  iterations: z.number().int(),
  /** Whether this is the run's kept student (the last stage within budget). */
  kept: z.boolean(),
  /** The run's whole stage table (each stage's verdict), for the model page's chain. */
  stages: z.array(
    z.object({
      stage: z.number().int(),
      steps: z.number().int(),
      fd: fdNum,
      fd_std: fdNum,
      decision: z.enum(['continue', 'stop']),
      met_budget: z.boolean(),
      reason: z.string().nullable(),
    }),
  ),
});
export type DistillationRecord = z.infer<typeof distillationRecordSchema>;
