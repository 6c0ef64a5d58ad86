// Hardware-aware sampling plans (issue 13 section 3): what a device costs per network
// evaluation, what a model's images are worth per NFE, and the plan chosen from the two.
// Pure schemas: the agent writes these files, plan jobs carry them, the web app shows them.
import { z } from 'zod';

/** Dtypes the U-Net can sample in (GenerateSpec::dtype); the sampler's arithmetic stays float32. */
export const planDtypes = ['float32', 'bfloat16'] as const;
export const planDtypeSchema = z.enum(planDtypes);
export type PlanDtype = z.infer<typeof planDtypeSchema>;

/** Batch sizes the cost table measures: 1, 2, 4, ..., 64. */
export const COST_BATCHES = [1, 2, 4, 8, 16, 32, 64] as const;

/**
 * A hardware profile's key (the agent's profileKey): one path segment, and a bounded key of
 * the plans a model version keeps per profile.
 */
export const profileKeySchema = z
  .string()
  .min(1)
  .max(120)
  .regex(/^[A-Za-z0-9._-]+$/, 'must be letters, digits, ".", "_" or "-"');

/**
 * One (batch, dtype) cell of the cost table. A sampling call of `nfe` network evaluations on
 * `batch` images takes `overheadMs + nfe * perNfeMs` (the line fitted through two timed calls
 * of different NFE); NFE counts guidance's doubled batch, as the engine's `nfe` does.
 */
export const costEntrySchema = z.object({
  batch: z.number().int().min(1).max(1024),
  dtype: planDtypeSchema,
  perNfeMs: z.number().nonnegative(),
  overheadMs: z.number(),
  /** MLX allocator peak during the timed calls. */
  peakBytes: z.number().nonnegative(),
  /** The NFE of the two timed calls the line goes through. */
  nfe: z.tuple([z.number().int().min(1), z.number().int().min(1)]),
  /** Milliseconds of each of those calls (the table's statistic over the repeats). */
  medianMs: z.tuple([z.number().nonnegative(), z.number().nonnegative()]),
  /** Timed calls of each. */
  repeats: z.number().int().min(1),
  /** Why the line is not the usual fit, when it is not. */
  note: z.string().optional(),
});
export type CostEntry = z.infer<typeof costEntrySchema>;

/**
 * How the timed calls of one cell are summarized: their median (the default), or their
 * minimum, the estimate of the uncontended cost on a machine other work is loading (the
 * plan's verification then reads its own calls the same way).
 */
export const costStatisticSchema = z.enum(['median', 'min']);
export type CostStatistic = z.infer<typeof costStatisticSchema>;

export const costTableSchema = z.object({
  version: z.literal(1),
  statistic: costStatisticSchema.default('median'),
  /** The hardware profile this was measured on (profileKey). */
  profileKey: profileKeySchema,
  /** The model architecture it was measured for (configKey). */
  configKey: z.string().min(1),
  /** Whether an NFE here is a guided one (two images per sample). */
  guided: z.boolean(),
  measuredAt: z.string(),
  /**
   * Dtypes the backend was asked for but could not run, with why. `unsupported` marks the
   * engine's refusal of the dtype itself (kept as an answer); older tables lack it, and their
   * refusals are asked again.
   */
  skipped: z
    .array(
      z.object({
        dtype: planDtypeSchema,
        reason: z.string(),
        unsupported: z.literal(true).optional(),
      }),
    )
    .default([]),
  entries: z.array(costEntrySchema).min(1),
});
export type CostTable = z.infer<typeof costTableSchema>;

/** A checkpoint's identity: the sha256 (hex) of its model.safetensors. */
export const weightsSchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 in hex');

/** One measured point of a model's quality curve: FD with its floor and bootstrap spread. */
export const qualityPointSchema = z.object({
  sampler: z.string().min(1),
  /** Opaque schedule name (default, uniform, karras, exponential, ays, learned, ...). */
  schedule: z.string().min(1),
  dtype: planDtypeSchema.default('float32'),
  steps: z.number().int().min(1),
  nfe: z.number().int().min(1),
  fd: z.number(),
  /** Standard deviation of FD over bootstrap resamples. */
  fdStd: z.number().nonnegative(),
  /** The same FD between two real sets of n images. */
  floor: z.number(),
});
export type QualityPoint = z.infer<typeof qualityPointSchema>;

export const qualityCurveSchema = z.object({
  version: z.literal(1),
  n: z.number().int().min(1),
  seed: z.number().int().min(0),
  guidance: z.number().min(0),
  /** The feature network FD is read on (its cache id): curves on different ones do not mix. */
  extractorId: z.string().min(1),
  /**
   * How the real sets were drawn (the agent's RealSets): class-stratified for a conditional
   * model's curve. Absent in curves from before the choice, which drew them at random.
   */
  realSets: z.enum(['random', 'train-stratified', 'class-stratified']).optional(),
  /** sha256 of the model.safetensors the points were sampled from (absent in older files). */
  weights: weightsSchema.optional(),
  measuredAt: z.string(),
  points: z.array(qualityPointSchema),
});
export type QualityCurve = z.infer<typeof qualityCurveSchema>;

export const planObjectiveSchema = z.discriminatedUnion('kind', [
  /** Lowest FD whose predicted latency for a request of `batch` images is <= latencyMs. */
  z.object({
    kind: z.literal('latency'),
    latencyMs: z.number().positive(),
    batch: z.number().int().min(1).max(1024).default(1),
  }),
  /** Lowest FD whose predicted images/s is >= imagesPerSecond. */
  z.object({ kind: z.literal('throughput'), imagesPerSecond: z.number().positive() }),
  /** Lowest predicted latency for a request of `batch` images whose FD is <= maxFd. */
  z.object({
    kind: z.literal('max-fd'),
    maxFd: z.number().positive(),
    batch: z.number().int().min(1).max(1024).default(1),
  }),
]);
export type PlanObjective = z.infer<typeof planObjectiveSchema>;

export const planSchema = z.object({
  version: z.literal(1),
  objective: planObjectiveSchema,
  sampler: z.string().min(1),
  schedule: z.string().min(1),
  steps: z.number().int().min(1),
  nfe: z.number().int().min(1),
  /** Images per network batch (the engine's chunk). */
  batch: z.number().int().min(1),
  dtype: planDtypeSchema,
  guidance: z.number().min(0),
  predicted: z.object({
    /** One request (objective.batch images, or `batch` for throughput). */
    latencyMs: z.number().nonnegative(),
    imagesPerSecond: z.number().nonnegative(),
    fd: z.number(),
    /** Whether fd is a measured point or interpolated in log NFE between two. */
    fdInterpolated: z.boolean(),
  }),
  measured: z
    .object({
      /** The cost table's statistic over the timed requests, as the prediction used. */
      statistic: costStatisticSchema.default('median'),
      latencyMs: z.number().nonnegative(),
      /** Every timed request, in order. */
      timesMs: z.array(z.number().nonnegative()).default([]),
      /** measured / predicted latency. */
      latencyRatio: z.number(),
      fd: z.number().optional(),
      fdN: z.number().int().optional(),
    })
    .optional(),
  profileKey: profileKeySchema,
  /** sha256 of the model.safetensors the plan was chosen for (absent in older files). */
  weights: weightsSchema.optional(),
  createdAt: z.string(),
});
export type Plan = z.infer<typeof planSchema>;
