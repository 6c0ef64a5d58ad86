import {
  estimateTrainingMemory,
  extractorStepsSchema,
  extractorWidthSchema,
  hardwareProfileSchema,
  profileKeySchema,
  samplerSchema,
  unetConfigSchema,
} from '@anneal/engine/config';
import { z } from 'zod';
import { defineJobKind, errorEventSchema, progressEventSchema } from './kind.ts';
import { trainedUNet, trainSpecSchema } from './train.ts';

export const searchObjectiveSchema = z.enum(['latency', 'throughput']);
export type SearchObjective = z.infer<typeof searchObjectiveSchema>;

/**
 * A full training's rate past the rungs: the rungs' carried on (constant), decayed on a cosine
 * to 0 from the last rung (cosine), or carried on and decayed to 0 over the last
 * `SEARCH_COOLDOWN_SHARE` of the iterations (cooldown, as warmup-stable-decay schedules end).
 */
export const searchFullScheduleSchema = z.enum(['cosine', 'constant', 'cooldown']);
export type SearchFullSchedule = z.infer<typeof searchFullScheduleSchema>;

/** The share of a full training's iterations that `cooldown` decays over. */
export const SEARCH_COOLDOWN_SHARE = 0.2;

/**
 * What a search trains past its rungs unless told otherwise, for `anneal search` and the job
 * alike: one winner, 5,000 iterations, cooled down (the MNIST search that met its target).
 */
export const SEARCH_FULL_DEFAULTS = {
  winners: 1,
  fullIters: 5000,
  fullSchedule: 'cooldown',
} as const satisfies { winners: number; fullIters: number; fullSchedule: SearchFullSchedule };

/** A full schedule in words, after "trained on to N iterations". */
export function describeFullSchedule(schedule: SearchFullSchedule): string {
  switch (schedule) {
    case 'cosine':
      return 'the learning rate decayed on a cosine to 0 after the rungs';
    case 'cooldown':
      return `at the rungs' constant learning rate, decayed on a cosine to 0 over the last ${SEARCH_COOLDOWN_SHARE * 100}%`;
    case 'constant':
      return "at the rungs' constant learning rate";
  }
}

/**
 * How a candidate starts from the teacher's weights: exact (the tensors of the same names and
 * shapes) or narrowed (also its up blocks by level and its narrower tensors restricted to the
 * teacher's leading channels: the engine's Model.inheritFrom with narrow).
 */
export const searchInheritSchema = z.enum(['exact', 'narrowed']);
export type SearchInherit = z.infer<typeof searchInheritSchema>;

/**
 * A search job: `anneal search` on the agent (issue 19 sections 4-5), from a registered
 * teacher version of the project. The agent measures candidates on its own hardware, so the
 * winners are fast on that machine: each evaluated winner is registered as a model version
 * with lineage to the teacher and the search's measurements. Fields as `anneal search`'s flags
 * of the same names, with their bounds; unset takes the command's defaults.
 */
export const searchSpecSchema = z
  .object({
    /** The teacher: a model version id in the job's project. */
    teacher: z.uuid().toLowerCase(),
    /**
     * A search folder on the agent that runs the job (`anneal search --out DIR`, run there from
     * the command line): the job takes it over instead of starting a search, with the folder's
     * own settings, and registers its winners. Its teacher must be this version (the weights
     * are compared). Jobs are not addressed to one agent: one that leases it without the folder
     * fails it, naming the folder.
     */
    from: z.string().min(1).max(4096).optional(),
    /**
     * What speed means: `latency`, ms per sampling step at batch 1 (one request at a time), or
     * `throughput`, ms per image per step at the throughput batch.
     */
    objective: searchObjectiveSchema.default('latency'),
    /** The limit in the objective's ms, on the agent. */
    latency_ms: z.number().positive().max(1e7).optional(),
    /** Without latency_ms: the teacher's measured ms over this (the command's default 1.5). */
    speedup: z.number().gt(1).max(1000).optional(),
    pool: z.number().int().min(1).max(100).default(8),
    fit_sample: z.number().int().min(3).max(200).default(12),
    first_iters: z.number().int().min(1).max(1_000_000).default(100),
    eta: z.number().int().min(2).max(8).default(2),
    rungs: z.number().int().min(1).max(8).default(3),
    winners: z.number().int().min(0).max(16).default(SEARCH_FULL_DEFAULTS.winners),
    full_iters: z.number().int().min(1).max(1_000_000).default(SEARCH_FULL_DEFAULTS.fullIters),
    /** The rate past the rungs in a full training (`anneal search --full-schedule`). */
    full_schedule: searchFullScheduleSchema.default(SEARCH_FULL_DEFAULTS.fullSchedule),
    /** Pool members trained fully for the proxy's rank correlation (the winners among them). */
    correlate: z.number().int().min(0).max(100).default(0),
    eval_n: z.number().int().min(2).max(50_000).default(1000),
    sampler: samplerSchema.default('dpmpp-2m'),
    steps: z.number().int().min(1).max(1000).default(20),
    seed: z.number().int().min(0).max(0x7fffffff).default(0),
    extractor_steps: extractorStepsSchema.optional(),
    extractor_width: extractorWidthSchema.optional(),
  })
  .strict()
  .refine((s) => s.latency_ms === undefined || s.speedup === undefined, {
    message: 'give latency_ms or speedup, not both (the limit is one or the other)',
    path: ['speedup'],
  });
export type SearchSpec = z.infer<typeof searchSpecSchema>;
export type SearchSpecInput = z.input<typeof searchSpecSchema>;

/**
 * A candidate's name (apps/agent/src/search/space.ts: widths, layers, attention...): one path
 * segment, since a winner's checkpoint is the run's `winners/<name>/`.
 */
export const candidateNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,200}$/, 'must be letters, digits, ".", "_" or "-"')
  .refine((s) => s !== '.' && s !== '..', 'must not be "." or ".."');

/** What the search measures and predicts per candidate, in the order tables show them. */
export const SEARCH_COST_TARGETS = [
  'latencyMs',
  'throughputMsPerImage',
  'trainStepMs',
  'trainPeakBytes',
] as const;

/** A candidate's cost, measured on the agent (apps/agent/src/search/cost.ts). */
export const searchMeasuredCostSchema = z.object({
  /** ms per sampling step (one network evaluation) at batch 1. */
  latencyMs: z.number().positive(),
  /** ms per image per sampling step at the throughput batch. */
  throughputMsPerImage: z.number().positive(),
  throughputBatch: z.number().int().positive(),
  samplePeakBytes: z.number().nonnegative(),
  /** One training step at the training batch. */
  trainStepMs: z.number().positive(),
  trainBatch: z.number().int().positive(),
  trainPeakBytes: z.number().nonnegative(),
});
export type SearchMeasuredCost = z.infer<typeof searchMeasuredCostSchema>;

/** The cost model's prediction of the same quantities. */
export const searchPredictedCostSchema = z.object({
  latencyMs: z.number(),
  throughputMsPerImage: z.number(),
  trainStepMs: z.number(),
  trainPeakBytes: z.number(),
});

/** JSON writes a non-finite measurement (a diverged proxy, an FD of NaN) as null. */
const measure = z.number().nullable();

/** The proxy after a rung of successive halving: total iterations and score (lower is better). */
export const searchRungSchema = z.object({
  iters: z.number().int().min(0),
  proxy: measure,
  trainSeconds: z.number().min(0),
  /** Read from an earlier search of the same teacher on this agent, not trained here. */
  reused: z.boolean().optional(),
  /** Why the rung stopped short: its loss stayed non-finite (the candidate was dropped). */
  diverged: z.string().optional(),
});

/** FD and its companions of a winner (or the teacher) on one ruler: same sampler, noise and n. */
export const searchEvalSchema = z.object({
  n: z.number().int().min(1),
  fd: measure,
  /** The same FD between two real splits of n images. */
  floor: measure,
  kid: measure,
  precision: measure,
  recall: measure,
  classAccuracy: measure,
});
export type SearchEval = z.infer<typeof searchEvalSchema>;

/** `anneal search`'s settings, as its search.json keeps them (apps/agent/src/search/state.ts). */
export const searchSettingsSchema = z.object({
  /** The search space (the agent's searchSpaceSchema), kept as the search used it. */
  space: z.record(z.string(), z.unknown()),
  fitSample: z.number().int().min(1),
  /** The limit in the objective's ms; null: the teacher's measured ms over `speedup`. */
  latencyMs: z.number().positive().nullable(),
  speedup: z.number().gt(1),
  /** Absent in searches from before the choice: latency. */
  objective: searchObjectiveSchema.default('latency'),
  pool: z.number().int().min(1),
  throughputBatch: z.number().int().positive(),
  trainBatch: z.number().int().positive(),
  proxy: z.object({
    sampler: samplerSchema,
    steps: z.number().int().positive(),
    n: z.number().int().positive(),
    batch: z.number().int().positive(),
    lr: z.number().positive(),
    emaDecay: z.number().min(0).lt(1),
    outputWeight: z.number().nonnegative(),
    /** Absent in searches from before the choice: exact, what they started from. */
    inherit: searchInheritSchema.default('exact'),
    seed: z.number().int(),
    checkpointEvery: z.number().int().positive(),
  }),
  firstIters: z.number().int().positive(),
  eta: z.number().int().min(2),
  rungs: z.number().int().min(1),
  winners: z.number().int().min(0),
  fullIters: z.number().int().positive(),
  /**
   * The learning rate past the rungs in a full training: cosine (decays to 0 at fullIters, as
   * a teacher's training ends) or constant (the rungs' rate carried on). Absent in searches
   * from before the choice: constant, what they trained with.
   */
  fullSchedule: searchFullScheduleSchema.default('constant'),
  /**
   * Pool members trained to fullIters and evaluated like the winners (the winners among
   * them), spread over the first rung's proxy ranks: the proxy's rank correlation with the
   * quality after full training. 0: none beyond the winners.
   */
  correlate: z.number().int().min(0).default(0),
  evalN: z.number().int().min(1),
  extractor: z.object({ steps: z.number().int().optional(), width: z.number().int().optional() }),
});
export type SearchSettings = z.infer<typeof searchSettingsSchema>;

const fitSchema = z.object({
  coefficients: z.array(z.number()),
  /** Leave-one-out relative error of the fit over the measured candidates. */
  looError: z.object({ median: measure, max: measure, n: z.number().int().min(0) }),
});

/** A winner's training on to full iterations, and its evaluation beside the teacher's. */
const searchFullSchema = z.object({
  iters: z.number().int().min(0),
  proxy: measure,
  trainSeconds: z.number().min(0),
  /** Its rate's cosine decay, from the last rung to its end; absent: constant. */
  anneal: z.object({ from: z.number().int(), to: z.number().int() }).optional(),
  reused: z.boolean().optional(),
  /** Why the training stopped short: its loss stayed non-finite (not evaluated). */
  diverged: z.string().optional(),
  eval: searchEvalSchema.optional(),
});

/**
 * A search's phases, in order: the winners are trained fully in `training`, pool members for
 * the proxy's correlation in `correlating`.
 */
export const searchPhaseSchema = z.enum([
  'measuring',
  'halving',
  'training',
  'correlating',
  'done',
]);

/** A rank correlation's 5-95% interval and standard deviation over bootstrap resamples. */
export const searchRankSpreadSchema = z.object({
  low: z.number().min(-1).max(1),
  high: z.number().min(-1).max(1),
  std: z.number().min(0),
});

/**
 * The proxy's Spearman rank correlation with FD after full training, over the candidates
 * trained fully: of the first rung's proxy (what halving decided on first) and of the proxy
 * after full training. Null while fewer than 3 are evaluated.
 */
export const searchCorrelationSchema = z.object({
  n: z.number().int().min(3),
  firstRung: z.number().min(-1).max(1).nullable(),
  full: z.number().min(-1).max(1).nullable(),
  /**
   * How sure each is, given that FD is measured on n samples: Spearman's rho over paired
   * bootstrap resamples of the evaluations (the same rows of every candidate's samples and of
   * the real set, within classes), its 5-95% interval. Absent where an evaluation's features
   * were not kept.
   */
  spread: z
    .object({
      resamples: z.number().int().min(2),
      firstRung: searchRankSpreadSchema.nullable(),
      full: searchRankSpreadSchema.nullable(),
    })
    .optional(),
});

export type SearchCorrelation = z.infer<typeof searchCorrelationSchema>;

/**
 * A rank correlation for people: its value, and where its spread is known the 5-95% interval
 * over paired resamples of the FD evaluations (how sure the ranking of those FDs is).
 */
export function searchRankText(
  value: number | null,
  spread?: z.infer<typeof searchRankSpreadSchema> | null,
): string {
  const v = value === null ? 'n/a' : value.toFixed(2);
  return spread ? `${v} (5-95% ${spread.low.toFixed(2)} to ${spread.high.toFixed(2)})` : v;
}

/**
 * How far the teacher's second measurement may drift from its first before the search warns
 * that the machine's speed changed while measuring.
 */
export const SEARCH_MEASURE_DRIFT = 0.15;

/** The teacher measured again once the pool was: `drift` is the objective's ms then over its first, minus 1. */
export const searchRemeasuredSchema = z.object({
  latencyMs: z.number(),
  throughputMsPerImage: z.number(),
  drift: z.number(),
});

/** CPU seconds (user and system, every thread) a search spent, by phase. */
export const searchCpuSecondsSchema = z.object({
  measuring: z.number().min(0),
  halving: z.number().min(0),
  training: z.number().min(0),
  /** Absent in states from before the phase existed. */
  correlating: z.number().min(0).default(0),
  /** False for a search begun before CPU time was counted: the sums then miss its start. */
  fromStart: z.boolean(),
});

/** `anneal search --json`'s last line (`summary()` in apps/agent/src/commands/search.ts). */
export const searchSummarySchema = z.object({
  out: z.string(),
  phase: searchPhaseSchema,
  /** The hardware profile the costs were measured under (plan's profile key). */
  profile: profileKeySchema,
  hardware: hardwareProfileSchema,
  settings: searchSettingsSchema,
  teacher: z.object({
    dir: z.string(),
    weights: z.string().regex(/^[0-9a-f]{64}$/),
    name: candidateNameSchema,
  }),
  /** In the objective's ms; null until the teacher is measured (when derived from speedup). */
  latencyLimitMs: z.number().positive().nullable(),
  candidates: z.number().int().min(0),
  measured: z.number().int().min(0),
  predictor: z.partialRecord(z.enum(SEARCH_COST_TARGETS), fitSchema).optional(),
  seconds: z.object({ measure: z.number().min(0), proxy: z.number().min(0) }),
  /** Null for a search begun before CPU time was counted. */
  cpuSeconds: searchCpuSecondsSchema.nullable().default(null),
  /**
   * Other hardware profiles the search went on on after its costs were measured (training and
   * scoring only), with the phase each took over at.
   */
  continuedOn: z
    .array(z.object({ profile: z.string(), phase: searchPhaseSchema, at: z.string() }))
    .default([]),
  pool: z.array(
    z.object({
      name: candidateNameSchema,
      parameters: z.number().int().min(0),
      measured: searchMeasuredCostSchema.optional(),
      predicted: searchPredictedCostSchema.optional(),
      rungs: z.array(searchRungSchema),
      /** Why it left the search (over the limit when measured, halved out at a rung). */
      dropped: z.string().nullable(),
      /** Its training to fullIters and evaluation (winners, and the correlation's candidates). */
      full: searchFullSchema.nullable().default(null),
      /** Full trainings under settings a resume has since changed, oldest first. */
      earlierFull: z.array(searchFullSchema).default([]),
    }),
  ),
  correlation: searchCorrelationSchema.nullable().default(null),
  /** The Pareto front of (proxy, latency, training memory), the teacher's name among them. */
  front: z.array(candidateNameSchema),
  /** The teacher's own measured cost (absent in summaries from before it was given). */
  teacherMeasured: searchMeasuredCostSchema.nullable().default(null),
  /**
   * The teacher measured once more after the pool, past the cost cache: `drift` is the
   * objective's ms then over its first, minus 1 (null before, and in older summaries).
   */
  remeasured: searchRemeasuredSchema.nullable().default(null),
  teacherEval: searchEvalSchema.nullable(),
  winners: z.array(
    z.object({
      name: candidateNameSchema,
      /** A diffusers UNet2DModel configuration. */
      unet: unetConfigSchema,
      parameters: z.number().int().min(0),
      measured: searchMeasuredCostSchema.optional(),
      /** The teacher's measured ms over the winner's, in the objective. */
      speedup: z.number().positive().nullable(),
      rungs: z.array(searchRungSchema),
      full: searchFullSchema.nullable(),
      /** `winners/<name>` once evaluated (its checkpoint is there), else null. */
      dir: z.string().nullable(),
    }),
  ),
});
export type SearchSummary = z.infer<typeof searchSummarySchema>;
export type SearchWinner = SearchSummary['winners'][number];

/** Where a search job's run keeps what it leaves (the agent uploads, the server reads). */
export const SEARCH_ARTIFACTS = {
  /** The search's whole state: every candidate's measurement and decision. */
  state: 'search/search.json',
  /** The summary the job completed with, for the run page. */
  summary: 'search/summary.json',
  /** An evaluated winner's config.json and model.safetensors. */
  winner: (name: string) => `winners/${name}/`,
} as const;

/** The measured (or predicted) cost a search's objective counts, in ms. */
export function searchObjectiveMs(
  objective: SearchObjective,
  cost: { latencyMs: number; throughputMsPerImage: number },
): number {
  return cost[searchObjectiveKey(objective)];
}

/** The measured quantity (and cost-model fit) an objective counts. */
export function searchObjectiveKey(
  objective: SearchObjective,
): 'latencyMs' | 'throughputMsPerImage' {
  return objective === 'throughput' ? 'throughputMsPerImage' : 'latencyMs';
}

/**
 * The teacher's two measurements in the objective's ms and their change in percent, when it
 * is past SEARCH_MEASURE_DRIFT (the CLI's warning and the Search card's); else null.
 */
export function searchMeasureDrift(
  objective: SearchObjective,
  first: { latencyMs: number; throughputMsPerImage: number } | null | undefined,
  again: z.infer<typeof searchRemeasuredSchema> | null | undefined,
): { first: number; again: number; pct: string } | null {
  if (!first || !again || Math.abs(again.drift) <= SEARCH_MEASURE_DRIFT) return null;
  return {
    first: searchObjectiveMs(objective, first),
    again: searchObjectiveMs(objective, again),
    pct: `${again.drift > 0 ? '+' : ''}${(100 * again.drift).toFixed(0)}%`,
  };
}

/**
 * The teacher's measured ms in the search's objective: its own measurement, or (a summary
 * from before that was given) through the winners' speedups, or the limit when it was
 * derived from a speedup; null when none.
 */
export function searchTeacherMs(s: SearchSummary): number | null {
  if (s.teacherMeasured) return searchObjectiveMs(s.settings.objective, s.teacherMeasured);
  const winner = s.winners.find((w) => w.speedup !== null && w.measured);
  if (winner?.measured && winner.speedup !== null)
    return searchObjectiveMs(s.settings.objective, winner.measured) * winner.speedup;
  if (s.settings.latencyMs === null && s.latencyLimitMs !== null)
    return s.latencyLimitMs * s.settings.speedup;
  return null;
}

export const searchKind = defineJobKind({
  type: 'search',
  summary:
    "find smaller U-Net variants of a teacher version that run fastest on the agent's hardware",
  spec: searchSpecSchema,
  events: z.discriminatedUnion('event', [progressEventSchema, errorEventSchema]),
  result: searchSummarySchema,
  dataset: () => null,
  model: (spec) => ({ kind: 'modelVersion', id: spec.teacher }),
  modelField: 'job.spec.teacher',
  // Its winners are registered in the job's project, with lineage to the teacher.
  modelInProject: true,
  // The candidates learn from the teacher on its training data; FD is read on its held-out split.
  readsSourceDataset: true,
  /**
   * The largest candidate is the teacher's own U-Net, trained (and its training step measured)
   * at `anneal search`'s batch of 32 beside the frozen teacher. Null when the train job behind
   * the teacher is unknown.
   */
  memoryNeed(_spec, { source }) {
    const train = trainSpecSchema.safeParse(source?.spec);
    if (!source || !train.success) return null;
    const batch = 32;
    const estimate = estimateTrainingMemory(
      trainedUNet(train.data, source.versionClasses),
      batch,
      'float32',
    );
    return {
      bytes: estimate.total + estimate.parameters,
      batch,
      dtype: 'float32',
      lower: 'the teacher (a smaller one)',
    };
  },
  totalSteps: () => null,
  // An agent from before search jobs would drop the offer as an unknown type.
  features: () => ['search'],
});

/**
 * What a registered winner keeps about the search that found it (its model version's
 * `metadata.search`): the teacher version, where it was measured, the search's settings, its
 * measured and predicted cost, its proxy per rung, its full training and evaluation.
 */
export const searchRecordSchema = z.object({
  teacher: z.object({
    version_id: z.string(),
    model: z.string(),
    version: z.number().int(),
    weights_sha256: z.string(),
  }),
  job_id: z.string(),
  run_id: z.string(),
  /** The candidate's name in the search. */
  name: candidateNameSchema,
  profile: z.string(),
  space: z.record(z.string(), z.unknown()),
  settings: searchSettingsSchema,
  latency_limit_ms: z.number().nullable(),
  measured: searchMeasuredCostSchema.nullable(),
  predicted: searchPredictedCostSchema.nullable(),
  /** The teacher's ms over this one's in the objective, both measured on the same agent. */
  speedup: z.number().nullable(),
  rungs: z.array(searchRungSchema),
  full: searchFullSchema,
  teacher_eval: searchEvalSchema.nullable(),
  /** The winner's FD over the teacher's (same sampler, steps, noise and n). */
  fd_ratio: z.number().nullable(),
  parameters: z.number().int().min(0),
});
export type SearchRecord = z.infer<typeof searchRecordSchema>;
