import { datasetRefSchema } from '@anneal/datasets/ref';
import {
  extractorStepsSchema,
  extractorWidthSchema,
  samplerSchema,
  samplingConfigSchema,
  trainingConfigSchema,
} from '@anneal/engine/config';
import { z } from 'zod';

/**
 * A train job: the same settings as `anneal train`, with the dataset named by a ref (a
 * built-in generator or a stored version fetched by its sha256) instead of a path.
 */
export const trainSpecSchema = trainingConfigSchema
  .omit({ dataset: true })
  .extend({ dataset: datasetRefSchema })
  .strict();
export type TrainSpec = z.infer<typeof trainSpecSchema>;
export type TrainSpecInput = z.input<typeof trainSpecSchema>;

/**
 * Where a sample or evaluate job's weights come from: the last checkpoint of a run, or the
 * checkpoint a registered model version points at.
 */
export const modelSourceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('run'), runId: z.uuid() }).strict(),
  z.object({ kind: z.literal('modelVersion'), id: z.uuid() }).strict(),
]);
export type ModelSource = z.infer<typeof modelSourceSchema>;

/** A sample job: a grid PNG from a checkpoint, uploaded as `samples/grid.png`. */
export const sampleSpecSchema = samplingConfigSchema
  .extend({ model: modelSourceSchema, n: z.number().int().min(1).max(256).default(16) })
  .strict();
export type SampleSpec = z.infer<typeof sampleSpecSchema>;

/**
 * An evaluate job: `anneal eval` on the agent (FD, KID, precision/recall against held-out
 * data, each with its floor; paired fidelity when a reference sampler is given). The result
 * lands on the model version the checkpoint belongs to.
 */
export const evaluateSpecSchema = z
  .object({
    model: modelSourceSchema,
    sampler: samplerSchema.default('dpmpp-2m'),
    steps: z.number().int().min(1).max(1000).default(20),
    n: z.number().int().min(10).max(10000).default(1000),
    seed: z.number().int().min(0).max(0x7fffffff).default(0),
    guidance: z.number().min(0).max(50).default(1),
    reference_sampler: samplerSchema.optional(),
    reference_steps: z.number().int().min(1).max(1000).optional(),
    /** Overrides of the dataset's default extractor (a different one is a different cache key). */
    extractor_steps: extractorStepsSchema.optional(),
    extractor_width: extractorWidthSchema.optional(),
  })
  .strict()
  .refine((s) => s.reference_steps === undefined || s.reference_sampler !== undefined, {
    message: 'needs reference_sampler',
    path: ['reference_steps'],
  });
export type EvaluateSpec = z.infer<typeof evaluateSpecSchema>;

/**
 * A bench job: the engine-only sampling benchmark of `anneal bench` on the agent (no Python
 * reference needed, so any agent runs it), at a bounded scale: `smoke` takes seconds and its
 * numbers only show the harness works, `quick` takes a minute or two. The result lands on
 * the agent.
 */
export const benchSpecSchema = z
  .object({
    benchmark: z.enum(['sampling']).default('sampling'),
    scale: z.enum(['smoke', 'quick']).default('quick'),
  })
  .strict();
export type BenchSpec = z.infer<typeof benchSpecSchema>;

export const jobTypes = ['train', 'sample', 'evaluate', 'bench'] as const;
export const jobTypeSchema = z.enum(jobTypes);
export type JobType = z.infer<typeof jobTypeSchema>;

/** A job as submitted and as offered: its type and the spec that type takes. */
export const jobSpecSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('train'), spec: trainSpecSchema }),
  z.object({ type: z.literal('sample'), spec: sampleSpecSchema }),
  z.object({ type: z.literal('evaluate'), spec: evaluateSpecSchema }),
  z.object({ type: z.literal('bench'), spec: benchSpecSchema }),
]);
export type JobSpec = z.infer<typeof jobSpecSchema>;
export type JobSpecInput = z.input<typeof jobSpecSchema>;
