import { datasetRefSchema } from '@anneal/datasets/ref';
import { samplingConfigSchema, trainingConfigSchema } from '@anneal/engine/config';
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

/** Where a sample job's weights come from: the last checkpoint of a run. */
export const modelSourceSchema = z.object({ kind: z.literal('run'), runId: z.uuid() }).strict();

/** A sample job: a grid PNG from a run's checkpoint, uploaded as `samples/grid.png`. */
export const sampleSpecSchema = samplingConfigSchema
  .extend({ model: modelSourceSchema, n: z.number().int().min(1).max(256).default(16) })
  .strict();
export type SampleSpec = z.infer<typeof sampleSpecSchema>;

export const jobTypes = ['train', 'sample'] as const;
export const jobTypeSchema = z.enum(jobTypes);
export type JobType = z.infer<typeof jobTypeSchema>;

/** A job as submitted and as offered: its type and the spec that type takes. */
export const jobSpecSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('train'), spec: trainSpecSchema }),
  z.object({ type: z.literal('sample'), spec: sampleSpecSchema }),
]);
export type JobSpec = z.infer<typeof jobSpecSchema>;
export type JobSpecInput = z.input<typeof jobSpecSchema>;
