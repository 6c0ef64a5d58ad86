import {
  COST_BATCHES,
  extractorStepsSchema,
  extractorWidthSchema,
  planDtypeSchema,
  planSchema,
  qualityCurveSchema,
  samplerSchema,
} from '@anneal/engine/config';
import { z } from 'zod';
import { defineJobKind, errorEventSchema, progressEventSchema } from './kind.ts';
import { modelSourceSchema } from './model-source.ts';
import { samplingMemoryNeed } from './sampling-need.ts';

/** `sampler` or `sampler:schedule` (schedule names are opaque here: the agent resolves them). */
const seriesSchema = z
  .string()
  .regex(/^[a-z0-9-]+(:[a-z0-9_-]+)?$/, 'must be sampler or sampler:schedule')
  .refine((s) => samplerSchema.safeParse(s.split(':')[0]).success, 'names an unknown sampler');

/**
 * A plan job: `anneal plan` on the agent (issue 13 section 3). The agent measures its cost
 * table (cached per hardware profile and architecture) and the model's quality curve, chooses
 * the plan for the one objective given, runs it, and reports predicted beside measured.
 * Completion keeps the plan on the model version under the agent's hardware profile, and
 * the curve.
 */
export const planSpecSchema = z
  .object({
    model: modelSourceSchema,
    latency_ms: z.number().positive().max(1e7).optional(),
    throughput: z.number().positive().max(1e7).optional(),
    max_fd: z.number().positive().optional(),
    /** Images per request for latency_ms and max_fd. */
    batch: z.number().int().min(1).max(1024).default(1),
    /** Samples per point of the quality curve (and real images per set). */
    n: z.number().int().min(10).max(10000).default(200),
    samplers: z.array(seriesSchema).min(1).max(16).optional(),
    nfe: z.array(z.number().int().min(1).max(1000)).min(1).max(16).optional(),
    seed: z.number().int().min(0).max(0x7fffffff).default(0),
    guidance: z.number().min(0).max(50).default(1),
    /** Also measure the chosen plan's FD on this many samples. */
    verify_fd: z.number().int().min(10).max(10000).optional(),
    statistic: z.enum(['median', 'min']).default('median'),
    /**
     * Batch sizes and dtypes the cost table measures (default: 1..64, float32 and bfloat16).
     * At most 64, the engine's sampling chunk, which memoryNeed is sized on.
     */
    batches: z
      .array(
        z
          .number()
          .int()
          .min(1)
          .max(Math.max(...COST_BATCHES)),
      )
      .min(1)
      .max(16)
      .optional(),
    dtypes: z.array(planDtypeSchema).min(1).optional(),
    /**
     * Measure the curve even when the agent's cached one was read on another ruler (n, seed,
     * guidance, extractor), discarding it; without it such a job fails naming the difference.
     */
    replace: z.boolean().default(false),
    extractor_steps: extractorStepsSchema.optional(),
    extractor_width: extractorWidthSchema.optional(),
  })
  .strict()
  .refine(
    (s) => [s.latency_ms, s.throughput, s.max_fd].filter((v) => v !== undefined).length === 1,
    {
      message: 'give exactly one objective: latency_ms, throughput or max_fd',
      path: ['latency_ms'],
    },
  );
export type PlanSpec = z.infer<typeof planSpecSchema>;

/** `anneal plan --json`'s summary: the plan (predicted and measured) and the curve it used. */
export const planSummarySchema = z.object({
  plan: planSchema,
  curve: qualityCurveSchema,
  considered: z.number().int().min(0),
  model: z.string(),
});
export type PlanSummary = z.infer<typeof planSummarySchema>;

/** A plan as kept on a model version, per hardware profile: the plan and where it came from. */
export const planRecordSchema = planSchema.extend({
  job_id: z.string(),
  run_id: z.string(),
  at: z.string(),
});
export type PlanRecord = z.infer<typeof planRecordSchema>;

export const planKind = defineJobKind({
  type: 'plan',
  summary: 'choose sampler, schedule, NFE, batch and dtype for a latency, throughput or FD goal',
  spec: planSpecSchema,
  events: z.discriminatedUnion('event', [progressEventSchema, errorEventSchema]),
  result: planSummarySchema,
  dataset: () => null,
  model: (spec) => spec.model,
  // The quality curve is read on held-out images of the data the model was trained on.
  readsSourceDataset: true,
  // The cost table samples batches of up to 64 images (guided: twice that through the model).
  memoryNeed: (spec, { source }) =>
    samplingMemoryNeed({ n: Math.max(64, spec.n), guidance: spec.guidance }, source),
  totalSteps: () => null,
  // An agent from before plan jobs would drop the offer as an unknown type.
  features: () => ['plan'],
});
