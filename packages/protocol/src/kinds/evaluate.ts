import {
  extractorStepsSchema,
  extractorWidthSchema,
  SAMPLING_DEFAULTS,
  samplerSchema,
  tolerancesNeedAdaptive,
} from '@anneal/engine/config';
import { z } from 'zod';
import { evaluationSummarySchema } from '../results.ts';
import { defineJobKind, errorEventSchema, progressEventSchema } from './kind.ts';
import { modelSourceSchema } from './model-source.ts';
import { samplingMemoryNeed } from './sampling-need.ts';

/**
 * An evaluate job: `anneal eval` on the agent (FD, KID, precision/recall against held-out
 * data, each with its floor; paired fidelity when a reference sampler is given). The result
 * lands on the model version the checkpoint belongs to.
 */
export const evaluateSpecSchema = z
  .object({
    model: modelSourceSchema,
    sampler: samplerSchema.default(SAMPLING_DEFAULTS.sampler),
    steps: z.number().int().min(1).max(1000).default(SAMPLING_DEFAULTS.steps),
    n: z.number().int().min(10).max(10000).default(1000),
    seed: z.number().int().min(0).max(0x7fffffff).default(0),
    guidance: z.number().min(0).max(50).default(SAMPLING_DEFAULTS.guidance),
    /** As `anneal eval --sigma-max`: the sampler's schedule starts at this sigma. */
    sigma_max: z.number().positive().max(1e6).optional(),
    /** The adaptive sampler's tolerances (as `anneal eval --rtol/--atol`). */
    rtol: z.number().positive().max(1).optional(),
    atol: z.number().positive().max(1).optional(),
    reference_sampler: samplerSchema.optional(),
    reference_steps: z.number().int().min(1).max(1000).optional(),
    /** Overrides of the dataset's default extractor (a different one is a different cache key). */
    extractor_steps: extractorStepsSchema.optional(),
    extractor_width: extractorWidthSchema.optional(),
    /**
     * As `anneal eval --resolution` (issue 16 §5): score at each of these square resolutions,
     * each against held-out images at that resolution beside its own floor.
     */
    resolutions: z
      .array(z.number().int().min(8).max(512))
      .min(1)
      .max(8)
      .refine((rs) => new Set(rs).size === rs.length, 'lists a resolution twice')
      .optional(),
  })
  .strict()
  .refine((s) => s.reference_steps === undefined || s.reference_sampler !== undefined, {
    message: 'needs reference_sampler',
    path: ['reference_steps'],
  })
  .superRefine(tolerancesNeedAdaptive);
export type EvaluateSpec = z.infer<typeof evaluateSpecSchema>;

export const evaluateKind = defineJobKind({
  type: 'evaluate',
  summary: 'sample quality (FD, KID, precision/recall) of a checkpoint, with floors',
  spec: evaluateSpecSchema,
  events: z.discriminatedUnion('event', [progressEventSchema, errorEventSchema]),
  result: evaluationSummarySchema,
  dataset: () => null,
  model: (spec) => spec.model,
  features: (spec) => (spec.resolutions !== undefined ? ['evaluate.resolutions'] : []),
  // Held-out images of the data the checkpoint was trained on.
  readsSourceDataset: true,
  // Sized at the largest resolution it scores at (the extractor trained there is small
  // beside the model's sampling chunk and not counted).
  memoryNeed: (spec, { source }) =>
    samplingMemoryNeed(
      spec,
      source,
      spec.resolutions === undefined ? undefined : Math.max(...spec.resolutions),
    ),
  totalSteps: () => null,
});
