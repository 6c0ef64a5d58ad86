import { z } from 'zod';
import { presetNames } from './presets.ts';
import { resolutionsSchema, stageStepsSchema } from './resolutions.ts';

/** The samplers of a diffusion model's probability-flow ODE or reverse SDE (what the bench climbs). */
export const diffusionSamplerNames = ['ddpm', 'ddim', 'euler', 'heun', 'dpmpp-2m'] as const;
/**
 * DPM-Solver-2 (the single-step midpoint method in lambda = -log sigma, DPM-Solver++(2S) with
 * r = 1/2) at fixed steps: the adaptive sampler's second-order method without its error
 * control, for comparing the two at equal solver.
 */
export const fixedSolverNames = ['dpm-solver-2'] as const;
/**
 * Every sampler: the diffusion ones, `consistency` (Song et al. 2023, Algorithm 1: one- and
 * multi-step sampling of a consistency model) and `adaptive` (an error-controlled solver of the
 * probability-flow ODE that picks each image's steps itself from tolerances rtol and atol; its
 * NFE depends on the content, so it is not on the bench's fixed-step climb).
 */
export const samplerNames = [
  ...diffusionSamplerNames,
  ...fixedSolverNames,
  'consistency',
  'adaptive',
] as const;
export const samplerSchema = z.enum(samplerNames);
export type SamplerName = z.infer<typeof samplerSchema>;

/**
 * Network evaluations per image of `steps` steps, without guidance (which doubles each): the
 * one rule, as the engine's sampler_nfe (samplers.cpp). Heun's trapezoidal correction and
 * DPM-Solver-2's midpoint cost a second evaluation on every step but the last, which steps to
 * sigma = 0 by Euler (Karras et al. 2022, Algorithm 1): 2 * steps - 1. Every other fixed-step
 * sampler, and consistency sampling, one per step. The adaptive sampler has no such rule (its
 * NFE depends on the images; it reports nfe_per_image): asking is an error, so a caller decides
 * what adaptive means for it (see hasStepNfe).
 */
export function samplerNfe(sampler: SamplerName, steps: number): number {
  switch (sampler) {
    case 'heun':
    case 'dpm-solver-2':
      return 2 * steps - 1;
    case 'ddpm':
    case 'ddim':
    case 'euler':
    case 'dpmpp-2m':
    case 'consistency':
      return steps;
    case 'adaptive':
      throw new RangeError(
        'the adaptive sampler picks its own steps: its NFE depends on the images, not on a step count',
      );
  }
}

/** Whether samplerNfe has a rule for the sampler (every one but adaptive). */
export function hasStepNfe(sampler: string): sampler is Exclude<SamplerName, 'adaptive'> {
  return (samplerNames as readonly string[]).includes(sampler) && sampler !== 'adaptive';
}

/** The most steps that spend at most `nfe` evaluations per image (at least 1): a ladder's rung in steps. */
export function stepsWithinNfe(sampler: SamplerName, nfe: number): number {
  let steps = 1;
  while (samplerNfe(sampler, steps + 1) <= nfe) steps++;
  return steps;
}

export const dtypeSchema = z.enum(['float32', 'bfloat16', 'float16']);

/**
 * The adaptive sampler's tolerances when none are given (k-diffusion's sample_dpm_adaptive
 * values): the one TypeScript copy, which the CLI's help, the step predictor and the
 * complexity bench read; the engine keeps its own (AdaptiveOptions, samplers.h).
 */
export const DEFAULT_ADAPTIVE_TOLERANCES = { rtol: 0.05, atol: 0.0078 } as const;

/**
 * Sampling settings when none are given: the one TypeScript definition, which the schemas,
 * the engine's Model.sample, the CLI's help and the New job form read (the native side
 * keeps its own, in native/src/engine/generate.h).
 */
export const SAMPLING_DEFAULTS = {
  sampler: 'dpmpp-2m',
  steps: 20,
  seed: 0,
  guidance: 1,
  eta: 0,
  schedule: 'default',
} as const satisfies {
  sampler: SamplerName;
  steps: number;
  seed: number;
  guidance: number;
  eta: number;
  schedule: string;
};

/**
 * Trainer settings when none are given: the one TypeScript definition (train specs, the
 * CLI's flags and help, and the engine's Trainer read it; the native side keeps its own,
 * in native/src/engine/trainer.h). The learning rate's default is the preset's
 * (presetLearningRate).
 */
export const TRAINING_DEFAULTS = {
  preset: 'small',
  emaDecay: 0.999,
  gradClip: 1,
  seed: 0,
  /**
   * v, not eps (issue 11): on linear betas an eps network's x0 estimate carries its error
   * times sigma (up to 157), and after 300 steps of the same recipe an eps model left 16 of 32
   * ODE samples as noise where a v model left none (docs/samples/README.md). A
   * checkpoint's config.json without a parameterization still reads as eps.
   */
  parameterization: 'v',
  checkpointEvery: 500,
  logEvery: 10,
  /** Share of class labels replaced by the null class, for classifier-free guidance. */
  cfgDropout: 0.1,
  /** none: plain network-space MSE, the loss of every model trained before issue 11. */
  lossWeighting: 'none',
  /** min-SNR's gamma, as in Hang et al. 2023 and diffusers' training script. */
  minSnrGamma: 5,
  lrSchedule: 'cosine',
  minLr: 0,
  /**
   * The effective batch when none is given, the same on every machine (issue 16 §3): a
   * budget that cannot hold it at once gets micro-batches (planBatch), not a smaller batch.
   */
  batch: 32,
} as const;

export const lossWeightingNames = ['none', 'min-snr'] as const;
export const lrScheduleNames = ['cosine', 'constant'] as const;

/** Linear warmup steps when none are given: min(100, steps / 10). */
export function defaultWarmup(totalSteps: number): number {
  return Math.min(100, Math.floor(totalSteps / 10));
}

/** What `anneal train` and a train job need; defaults match the CLI's. */
export const trainingConfigSchema = z.object({
  dataset: z.string().min(1),
  resolution: z.number().int().min(8).max(512),
  preset: z.enum(presetNames).default(TRAINING_DEFAULTS.preset),
  /** At most ten million: far past any run this engine trains, short of an accidental 1e12. */
  steps: z.number().int().min(1).max(10_000_000),
  batch: z.number().int().min(1).max(4096).optional(),
  /** Peak learning rate; when absent, the preset's (`presetLearningRate`), as `anneal train` does. */
  lr: z.number().positive().max(1).optional(),
  warmup: z.number().int().min(0).max(10_000_000).optional(),
  /** cosine: linear warmup, then cosine decay to min_lr at `steps`; constant: lr after warmup. */
  lr_schedule: z.enum(lrScheduleNames).default(TRAINING_DEFAULTS.lrSchedule),
  /** The floor the cosine schedule decays to (ignored by constant). */
  min_lr: z.number().min(0).max(1).default(TRAINING_DEFAULTS.minLr),
  ema_decay: z.number().min(0).max(1).default(TRAINING_DEFAULTS.emaDecay),
  grad_clip: z.number().min(0).default(TRAINING_DEFAULTS.gradClip),
  seed: z.number().int().min(0).default(TRAINING_DEFAULTS.seed),
  dtype: dtypeSchema.optional(),
  conditional: z.boolean().default(true),
  parameterization: z.enum(['eps', 'v', 'x0', 'edm']).default(TRAINING_DEFAULTS.parameterization),
  /** min-snr: x0-space weight min(SNR, min_snr_gamma) per example (eps, v, x0 only). */
  loss_weighting: z.enum(lossWeightingNames).default(TRAINING_DEFAULTS.lossWeighting),
  min_snr_gamma: z.number().positive().max(1e6).default(TRAINING_DEFAULTS.minSnrGamma),
  /** Share of labels dropped to the null class (class-conditional models). */
  cfg_dropout: z.number().min(0).max(1).default(TRAINING_DEFAULTS.cfgDropout),
  checkpoint_every: z.number().int().min(1).default(TRAINING_DEFAULTS.checkpointEvery),
  log_every: z.number().int().min(1).default(TRAINING_DEFAULTS.logEvery),
  /**
   * Steps between sample grids of the EMA weights (DIR/samples/step-N.png); unset: at every
   * checkpoint; 0: none.
   */
  sample_every: z.number().int().min(0).optional(),
  /**
   * Progressive resolution: train at these resolutions, low to high, ending at `resolution`
   * (resolutionStages checks them); absent: `resolution` throughout.
   */
  resolutions: resolutionsSchema.optional(),
  /** Steps per resolution, summing to `steps`; absent: an even split. Only with resolutions. */
  stage_steps: stageStepsSchema.optional(),
  /**
   * The resolution-dependent schedule shift (config.json's schedule.shift_base): absent, on
   * for progressive runs (based at their lowest resolution) and off otherwise.
   */
  schedule_shift: z.boolean().optional(),
  /**
   * Multi-resolution: train on aspect buckets (sides multiples of 2^(levels-1), about
   * resolution^2 pixels each) of a dataset version of mixed sizes instead of center-cropped
   * squares; each batch comes from one bucket. Not with resolutions.
   */
  multi_resolution: z.boolean().optional(),
});
export type TrainingConfig = z.infer<typeof trainingConfigSchema>;

export const samplingConfigSchema = z.object({
  sampler: samplerSchema.default(SAMPLING_DEFAULTS.sampler),
  steps: z.number().int().min(1).max(1000).default(SAMPLING_DEFAULTS.steps),
  n: z.number().int().min(1).max(10000).default(64),
  seed: z.number().int().min(0).default(SAMPLING_DEFAULTS.seed),
  class: z.number().int().min(0).optional(),
  guidance: z.number().min(0).max(50).default(SAMPLING_DEFAULTS.guidance),
  eta: z.number().min(0).max(1).default(SAMPLING_DEFAULTS.eta),
  schedule: z
    .enum(['default', 'uniform', 'karras', 'exponential'])
    .default(SAMPLING_DEFAULTS.schedule),
  /**
   * Start the schedule at this sigma instead of the model's largest: karras and exponential
   * run from it down to the smallest; uniform-in-t starts at the largest timestep whose sigma
   * is <= it. Absent: the model's largest. Must lie in the model's sigma range.
   */
  sigma_max: z.number().positive().max(1e6).optional(),
  /**
   * The adaptive sampler's tolerances per pixel (relative, and absolute in data units of
   * [-1, 1]). Absent: the engine's (0.05, 0.0078). Only with sampler adaptive: a spec that
   * gives them with a fixed-step sampler is refused (tolerancesNeedAdaptive), not run without.
   */
  rtol: z.number().positive().max(1).optional(),
  atol: z.number().positive().max(1).optional(),
});
export type SamplingConfig = z.infer<typeof samplingConfigSchema>;

/**
 * A superRefine for the specs that carry a sampler and the adaptive sampler's tolerances:
 * rtol and atol with a fixed-step sampler would be dropped on the way to the engine, so the
 * spec is refused with the field named instead.
 */
export function tolerancesNeedAdaptive(
  s: { sampler: string; rtol?: number; atol?: number },
  ctx: z.RefinementCtx,
): void {
  if (s.sampler === 'adaptive') return;
  for (const key of ['rtol', 'atol'] as const) {
    if (s[key] !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `needs sampler adaptive (sampler is ${s.sampler}, which takes steps, not tolerances)`,
      });
    }
  }
}

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
