import { z } from 'zod';

// What evaluate and bench jobs leave behind, as the agent reports it in `job_complete` and
// as the server stores it (on the model version, on the agent). Parsed on arrival: a
// summary that does not fit is refused there, not discovered in the UI.

/** The adaptive sampler's spread of network evaluations over the images. */
export const nfePerImageSchema = z.object({ mean: z.number(), min: z.number(), max: z.number() });

/**
 * FD's spread from sampling alone: its standard deviation and 5th/95th percentiles over
 * bootstrap resamples of the sample and real sets.
 */
export const fdSpreadSchema = z.object({
  std: z.number(),
  low: z.number(),
  high: z.number(),
  resamples: z.number().int(),
});
export type FdSpreadSummary = z.infer<typeof fdSpreadSchema>;

/** One resolution of a multi-resolution evaluation: its metrics beside its own floor. */
export const resolutionQualitySchema = z.object({
  /** The side, or the height of a non-square shape (an aspect bucket) whose width follows. */
  resolution: z.number().int(),
  width: z.number().int().optional(),
  n: z.number().int(),
  fd: z.number(),
  floor_fd: z.number(),
  kid: z.number(),
  floor_kid: z.number(),
  precision: z.number(),
  floor_precision: z.number(),
  recall: z.number(),
  floor_recall: z.number(),
  accuracy: z.number().optional(),
  floor_accuracy: z.number().optional(),
  fd_spread: fdSpreadSchema.optional(),
  floor_fd_spread: fdSpreadSchema.optional(),
});
export type ResolutionQuality = z.infer<typeof resolutionQualitySchema>;

/**
 * `anneal eval --json`'s object (DESIGN.md section 4): each metric beside its floor. With
 * `--resolution` (issue 16 §5) the top-level metrics are the first resolution's, and
 * `per_resolution` holds one entry per resolution, each against held-out images at that
 * resolution with the floor at that resolution.
 */
export const evaluationSummarySchema = z.object({
  sampler: z.string(),
  steps: z.number().int(),
  /** The start sigma, when the sampler did not start at the model's largest. */
  sigma_max: z.number().optional(),
  seed: z.number().int(),
  wall_s: z.number(),
  n: z.number().int(),
  nfe: z.number().int(),
  /** The adaptive sampler: network evaluations per image, and its tolerances (absent: defaults). */
  nfe_per_image: nfePerImageSchema.optional(),
  rtol: z.number().nullable().optional(),
  atol: z.number().nullable().optional(),
  extractor: z.string(),
  extractor_kind: z.string().optional(),
  extractor_accuracy: z.number().nullable().optional(),
  /**
   * The extractor's weights (sha256): FDs are on one ruler when these match; the id names the
   * recipe, and the same recipe retrained on another CPU is another network. Absent: older reports.
   */
  extractor_sha256: z.string().optional(),
  /** shipped with the project, from ANNEAL_HOME's cache, or trained by this evaluation. */
  extractor_source: z.enum(['shipped', 'cache', 'trained']).optional(),
  fd: z.number(),
  kid: z.number(),
  kid_std: z.number().nullable().optional(),
  precision: z.number(),
  recall: z.number(),
  floor_fd: z.number(),
  floor_kid: z.number(),
  floor_precision: z.number(),
  floor_recall: z.number(),
  /** Absent: reports from before the spread was measured. */
  fd_spread: fdSpreadSchema.optional(),
  floor_fd_spread: fdSpreadSchema.optional(),
  /**
   * How the real sets were drawn: class-stratified (row i of class i mod K, the layout of a
   * class-conditional model's samples) or random. Absent: reports from before the choice, random.
   */
  real_sets: z.enum(['random', 'train-stratified', 'class-stratified']).optional(),
  accuracy: z.number().optional(),
  floor_accuracy: z.number().optional(),
  /**
   * The resolution the top-level metrics were measured at (absent: the model's own); with
   * `width`, the height of a non-square shape (a multi-resolution model's aspect bucket).
   */
  resolution: z.number().int().optional(),
  width: z.number().int().optional(),
  per_resolution: z.array(resolutionQualitySchema).optional(),
  paired: z
    .object({
      psnr: z.number().nullable(),
      ssim: z.number(),
      feature_distance: z.number(),
      floor_feature_distance: z.number(),
      reference_sampler: z.string(),
      reference_steps: z.number().int(),
      reference_nfe: z.number().int(),
    })
    .optional(),
});
export type EvaluationSummary = z.infer<typeof evaluationSummarySchema>;

/** One evaluation as kept on a model version: the summary, and the job and run it came from. */
export const evaluationRecordSchema = evaluationSummarySchema.extend({
  job_id: z.string(),
  run_id: z.string(),
  at: z.string(),
});
export type EvaluationRecord = z.infer<typeof evaluationRecordSchema>;

/** Per sampler, from `anneal bench --only sampling --json`. */
const samplerBenchSchema = z.object({
  sampler: z.string(),
  steps: z.number().int(),
  n: z.number().int(),
  nfe_per_image: z.number(),
  seconds_median: z.number(),
  images_per_s: z.number(),
});

/** `anneal bench --only sampling --json`'s object: its sampling result file. */
export const benchSummarySchema = z.object({
  results: z.object({
    sampling: z.object({
      machine: z.record(z.string(), z.unknown()),
      seconds: z.number(),
      options: z.record(z.string(), z.unknown()),
      result: z.object({
        model: z.string(),
        parameters: z.number(),
        resolution: z.number(),
        samplers: z.array(samplerBenchSchema),
      }),
    }),
  }),
});

/** The last benchmark an agent ran, as kept on the agent. */
export const agentBenchmarkSchema = z.object({
  job_id: z.string(),
  at: z.string(),
  benchmark: z.literal('sampling'),
  scale: z.string(),
  seconds: z.number(),
  machine: z.record(z.string(), z.unknown()),
  model: z.string(),
  parameters: z.number(),
  resolution: z.number(),
  samplers: z.array(samplerBenchSchema),
});
export type AgentBenchmark = z.infer<typeof agentBenchmarkSchema>;
