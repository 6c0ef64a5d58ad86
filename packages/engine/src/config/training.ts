import { z } from 'zod';
import { presetNames } from './presets.ts';

export const samplerNames = ['ddpm', 'ddim', 'euler', 'heun', 'dpmpp-2m'] as const;
export const samplerSchema = z.enum(samplerNames);
export type SamplerName = z.infer<typeof samplerSchema>;

export const dtypeSchema = z.enum(['float32', 'bfloat16', 'float16']);

/** What `anneal train` and a train job need; defaults match the CLI's. */
export const trainingConfigSchema = z.object({
  dataset: z.string().min(1),
  resolution: z.number().int().min(8).max(512),
  preset: z.enum(presetNames).default('small'),
  /** At most ten million: far past any run this engine trains, short of an accidental 1e12. */
  steps: z.number().int().min(1).max(10_000_000),
  batch: z.number().int().min(1).max(4096).optional(),
  /** Peak learning rate; when absent, the preset's (`presetLearningRate`), as `anneal train` does. */
  lr: z.number().positive().max(1).optional(),
  warmup: z.number().int().min(0).max(10_000_000).optional(),
  ema_decay: z.number().min(0).max(1).default(0.999),
  grad_clip: z.number().min(0).default(1),
  seed: z.number().int().min(0).default(0),
  dtype: dtypeSchema.optional(),
  conditional: z.boolean().default(true),
  parameterization: z.enum(['eps', 'v', 'x0', 'edm']).default('eps'),
  checkpoint_every: z.number().int().min(1).default(500),
  log_every: z.number().int().min(1).default(10),
});
export type TrainingConfig = z.infer<typeof trainingConfigSchema>;

export const samplingConfigSchema = z.object({
  sampler: samplerSchema.default('dpmpp-2m'),
  steps: z.number().int().min(1).max(1000).default(20),
  n: z.number().int().min(1).max(10000).default(64),
  seed: z.number().int().min(0).default(0),
  class: z.number().int().min(0).optional(),
  guidance: z.number().min(0).max(50).default(1),
  eta: z.number().min(0).max(1).default(0),
  schedule: z.enum(['default', 'uniform', 'karras', 'exponential']).default('default'),
});
export type SamplingConfig = z.infer<typeof samplingConfigSchema>;

/**
 * Overrides of a dataset's default quality extractor (`anneal eval`, evaluate jobs, bench
 * to-target): a different one is a different cache key, so both change what FD is read on.
 */
export const extractorStepsSchema = z.number().int().min(1).max(100000);
/** Extractor channels N, 2N, 4N: a multiple of 8 (the GroupNorm groups). */
export const extractorWidthSchema = z
  .number()
  .int()
  .min(8)
  .max(256)
  .refine((w) => w % 8 === 0, 'must be a multiple of 8');
