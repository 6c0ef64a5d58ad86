import { z } from 'zod';
import { type SamplerName, samplerNfe, samplerSchema, stepsWithinNfe } from './training.ts';

/**
 * What `--schedule` (and Model.sample's `schedule`) accepts besides a path to a learned
 * schedule file: the engine's hand-crafted kinds, `ays` (the published Align-Your-Steps list,
 * transferred; see aysSigmas) and `learned` (the model's learned schedule for the sampler and
 * NFE: DIR/schedules/<sampler>-nfe<K>.json).
 */
export const scheduleNames = [
  'default',
  'uniform',
  'karras',
  'exponential',
  'ays',
  'learned',
] as const;
export type ScheduleName = (typeof scheduleNames)[number];

/** The samplers a schedule can be learned for: those whose endpoint is a function of the noise. */
export const learnableSamplerNames = ['ddim', 'euler', 'heun', 'dpmpp-2m'] as const;
export const learnableSamplerSchema = z.enum(learnableSamplerNames);

/** The steps that spend exactly `nfe` evaluations (samplerNfe's inverse), or an error naming why none does (as steps_for_nfe). */
export function stepsForNfe(sampler: SamplerName, nfe: number): number {
  if (!Number.isInteger(nfe) || nfe < 1) throw new Error(`nfe must be an integer >= 1, got ${nfe}`);
  const steps = stepsWithinNfe(sampler, nfe);
  if (samplerNfe(sampler, steps) !== nfe)
    throw new Error(
      `${sampler} spends 2 * steps - 1 evaluations, so its nfe is odd; got nfe ${nfe} (use ${nfe - 1} or ${nfe + 1})`,
    );
  return steps;
}

/** Where schedule learning keeps its reference records and checkpoints, relative to the model directory. */
export const LEARNING_STATE_DIR = 'schedules/learning';

/** The file a learned schedule lives in, relative to the model directory. */
export function learnedScheduleFile(sampler: string, nfe: number): string {
  return `schedules/${sampler}-nfe${nfe}.json`;
}

/** At most 1000 steps (1001 sigmas): `schedule learn --nfe` goes to 1000. */
const sigmaListSchema = z
  .array(z.number().finite().min(0))
  .min(2)
  .max(1001)
  .refine((s) => s[s.length - 1] === 0, { message: 'sigmas must end in 0' })
  .refine((s) => s.every((v, i) => i === 0 || v < (s[i - 1] ?? 0)), {
    message: 'sigmas must strictly decrease',
  });

const errorPairSchema = z.object({
  train_error: z.number().finite().min(0),
  heldout_error: z.number().finite().min(0),
});

/**
 * A learned sampling schedule (`anneal schedule learn`): K + 1 sigmas for `sampler` at `nfe`
 * evaluations, with how it was learned and its scores. Errors are mean squared error per pixel
 * (images in [-1, 1]) between the sampler's endpoint and the reference's from the same noise.
 */
export const learnedScheduleSchema = z
  .object({
    sampler: learnableSamplerSchema,
    nfe: z.number().int().min(1).max(1999),
    steps: z.number().int().min(1).max(1000),
    sigmas: sigmaListSchema,
    method: z.string().min(1),
    calibration: z.object({
      n: z.number().int().min(1),
      seed: z.number().int().min(0),
      heldout_seed: z.number().int().min(0),
      class: z.number().int().min(0).optional(),
      guidance: z.number().min(0).optional(),
      reference: z.object({ sampler: samplerSchema, steps: z.number().int().min(2) }),
    }),
    scores: z.object({
      baseline: errorPairSchema.extend({
        schedule: z.string(),
        sigmas: sigmaListSchema.optional(),
      }),
      learned: errorPairSchema,
      /** Hand-crafted schedules at the same NFE, scored on the same batches. */
      hand_crafted: z
        .array(errorPairSchema.extend({ schedule: z.string(), sigmas: sigmaListSchema }))
        .max(8)
        .optional(),
    }),
    /** The model it was learned on: a config hash, a directory or a registry version id. */
    model: z.string().min(1),
    created_at: z.string().min(1),
  })
  .superRefine((r, ctx) => {
    if (r.sigmas.length !== r.steps + 1)
      ctx.addIssue({
        code: 'custom',
        path: ['sigmas'],
        message: `a ${r.steps}-step schedule has ${r.steps + 1} sigmas, got ${r.sigmas.length}`,
      });
    if (samplerNfe(r.sampler, r.steps) !== r.nfe)
      ctx.addIssue({
        code: 'custom',
        path: ['nfe'],
        message: `${r.sampler} at ${r.steps} steps spends ${samplerNfe(r.sampler, r.steps)} evaluations, not ${r.nfe}`,
      });
    if (r.calibration.heldout_seed === r.calibration.seed)
      ctx.addIssue({
        code: 'custom',
        path: ['calibration', 'heldout_seed'],
        message: `must differ from calibration.seed (both ${r.calibration.seed}): equal seeds draw the same noise, so the held-out error is the training error`,
      });
    if (r.steps > r.calibration.reference.steps)
      ctx.addIssue({
        code: 'custom',
        path: ['calibration', 'reference', 'steps'],
        message: `a ${r.steps}-step schedule needs a reference of at least ${r.steps} steps, got ${r.calibration.reference.steps}`,
      });
  });
export type LearnedSchedule = z.infer<typeof learnedScheduleSchema>;

/**
 * Align Your Steps' 10-step schedule for Stable Diffusion 1.5 (Sabour, Fidler & Kreis 2024,
 * "Align Your Steps: Optimizing Sampling Schedules in Diffusion Models"). NVIDIA's how-to page
 * (research.nvidia.com/labs/toronto-ai/AlignYourSteps/howto.html) publishes it as timesteps,
 * [999, 850, 736, 645, 545, 455, 343, 233, 124, 24, 0]; these are SD 1.5's sigmas at those
 * timesteps, the numbers as ComfyUI's AlignYourStepsScheduler lists them (NOISE_LEVELS["SD1"]).
 * 11 values for 10 steps: the last is SD's sigma_min, which is replaced by 0.
 */
export const AYS_SD15_SIGMAS = [
  14.6146412293, 6.4745760956, 3.8636745985, 2.694615152, 1.8841921177, 1.3943805092, 0.9642583904,
  0.6523686016, 0.3977456272, 0.1515232662, 0.0291671582,
] as const;

/**
 * The AYS list transferred to a model: its log-sigmas mapped affinely from SD 1.5's range
 * [0.0292, 14.61] onto [sigmaMin, sigmaMax], then interpolated log-linearly to steps + 1 points
 * (the AYS authors' recipe for other step counts), the last replaced by 0 as theirs is.
 */
export function aysSigmas(steps: number, sigmaMin: number, sigmaMax: number): number[] {
  if (!Number.isInteger(steps) || steps < 1)
    throw new Error(`steps must be an integer >= 1, got ${steps}`);
  if (!(sigmaMin > 0 && sigmaMax > sigmaMin)) throw new Error('need 0 < sigmaMin < sigmaMax');
  const src = AYS_SD15_SIGMAS.map(Math.log);
  const hi = src[0] ?? 0;
  const lo = src[src.length - 1] ?? 0;
  const mapped = src.map(
    (v) => Math.log(sigmaMin) + ((v - lo) / (hi - lo)) * (Math.log(sigmaMax) - Math.log(sigmaMin)),
  );
  const out: number[] = [];
  for (let i = 0; i <= steps; i++) {
    const pos = (i / steps) * (mapped.length - 1);
    const j = Math.min(Math.floor(pos), mapped.length - 2);
    const w = pos - j;
    out.push(Math.exp((1 - w) * (mapped[j] ?? 0) + w * (mapped[j + 1] ?? 0)));
  }
  out[0] = sigmaMax;
  out[steps] = 0;
  return out;
}

/** Refuses a schedule record learned for another sampler or NFE, naming both. */
export function checkScheduleFits(
  record: Pick<LearnedSchedule, 'sampler' | 'nfe'>,
  sampler: string,
  nfe: number,
  source: string,
): void {
  if (record.sampler !== sampler || record.nfe !== nfe)
    throw new Error(
      `${source} was learned for --sampler ${record.sampler} at ${record.nfe} NFE; this run asks for --sampler ${sampler} at ${nfe} NFE`,
    );
}
