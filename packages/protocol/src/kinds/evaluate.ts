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

const SIDE = { min: 8, max: 512 };
const resolutionSchema = z.union([
  z.number().int().min(SIDE.min).max(SIDE.max),
  z
    .string()
    .regex(/^\d+x\d+$/, 'a square side N or a shape HxW (e.g. 24x44)')
    .refine((v) => {
      const { height, width } = resolutionShape(v);
      return [height, width].every((x) => x >= SIDE.min && x <= SIDE.max);
    }, `each side from ${SIDE.min} to ${SIDE.max}`),
]);

/** The sides one entry of an evaluate job's `resolutions` names. */
export function resolutionShape(r: number | string): { height: number; width: number } {
  if (typeof r === 'number') return { height: r, width: r };
  const [height, width] = r.split('x').map(Number) as [number, number];
  return { height, width };
}

const shapeKey = (s: { height: number; width: number }) => `${s.height}x${s.width}`;

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
     * As `anneal eval --resolution` (issue 16 §5): score at each of these resolutions, each
     * against held-out images at that size beside its own floor. A number is a square side;
     * "HxW" is one of a multi-resolution model's aspect buckets (feature evaluate.shapes).
     */
    resolutions: z
      .array(resolutionSchema)
      .min(1)
      .max(8)
      .refine(
        (rs) => new Set(rs.map((r) => shapeKey(resolutionShape(r)))).size === rs.length,
        'lists a resolution twice',
      )
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
  features: (spec) => [
    ...(spec.resolutions !== undefined ? (['evaluate.resolutions'] as const) : []),
    // An older agent's schema takes numbers only and would drop the offer as malformed.
    ...(spec.resolutions?.some((r) => typeof r === 'string') ? (['evaluate.shapes'] as const) : []),
  ],
  // Held-out images of the data the checkpoint was trained on.
  readsSourceDataset: true,
  // Sized at the resolution that needs the most (the extractor trained there is small beside
  // the model's sampling chunk and not counted).
  memoryNeed: (spec, { source }) => {
    const needs = (spec.resolutions ?? [undefined]).map((r) =>
      samplingMemoryNeed(spec, source, r === undefined ? undefined : resolutionShape(r)),
    );
    return needs.reduce((a, b) => (a && b && b.bytes > a.bytes ? b : a));
  },
  totalSteps: () => null,
});
