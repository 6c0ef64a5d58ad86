import { samplingConfigSchema, tolerancesNeedAdaptive } from '@anneal/engine/config';
import { z } from 'zod';
import { nfePerImageSchema } from '../results.ts';
import { defineJobKind, errorEventSchema } from './kind.ts';
import { modelSourceSchema } from './model-source.ts';
import { samplingMemoryNeed } from './sampling-need.ts';

/** A sample job: a grid PNG from a checkpoint, uploaded as `samples/grid.png`. */
export const sampleSpecSchema = samplingConfigSchema
  .extend({ model: modelSourceSchema, n: z.number().int().min(1).max(256).default(16) })
  .strict()
  .superRefine(tolerancesNeedAdaptive);
export type SampleSpec = z.infer<typeof sampleSpecSchema>;

/** `anneal sample --json`'s last line. */
export const sampleSummarySchema = z.object({
  out: z.string(),
  n: z.number().int(),
  sampler: z.string(),
  steps: z.number().int(),
  nfe: z.number().int(),
  /** The adaptive sampler: evaluations per image (values: each image's), its tolerances (null: defaults). */
  nfe_per_image: nfePerImageSchema
    .extend({ values: z.array(z.number().int()).optional() })
    .optional(),
  rtol: z.number().nullable().optional(),
  atol: z.number().nullable().optional(),
  /** The adaptive sampler: step attempts its error control rejected, over all images. */
  rejected_steps: z.number().int().min(0).optional(),
  wall_s: z.number(),
});

export const sampleKind = defineJobKind({
  type: 'sample',
  summary: 'a grid of samples from a checkpoint',
  spec: sampleSpecSchema,
  events: z.discriminatedUnion('event', [errorEventSchema]),
  result: sampleSummarySchema,
  dataset: () => null,
  model: (spec) => spec.model,
  readsSourceDataset: false,
  memoryNeed: (spec, { source }) => samplingMemoryNeed(spec, source),
  totalSteps: () => null,
});
