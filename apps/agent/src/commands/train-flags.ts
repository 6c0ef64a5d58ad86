import { type DatasetRefInput, parseDatasetFlag } from '@anneal/datasets/ref';
import {
  dtypeSchema,
  parameterizationSchema,
  presetNames,
  resolutionsSchema,
  stageStepsSchema,
  TRAINING_DEFAULTS,
  trainingConfigSchema,
} from '@anneal/engine/config';
import { MAX_RANKS, type TrainSpecInput } from '@anneal/protocol';
import { z } from 'zod';
import { UsageError } from '../args.ts';

/**
 * The flags that make a training job, shared by `anneal train` (runs it here) and `anneal
 * submit train` (queues it on the control plane), so the two cannot drift apart: one flag
 * per field of a train job spec (`trainSpecFields` maps them, and the type checker
 * insists that every field is mapped).
 */
export const trainJobOptions = {
  dataset: { type: 'string' },
  'dataset-ref': { type: 'string' },
  resolution: { type: 'string' },
  resolutions: { type: 'string' },
  'stage-steps': { type: 'string' },
  'schedule-shift': { type: 'string' },
  'multi-resolution': { type: 'boolean' },
  steps: { type: 'string' },
  preset: { type: 'string' },
  parameterization: { type: 'string' },
  unconditional: { type: 'boolean' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  warmup: { type: 'string' },
  'lr-schedule': { type: 'string' },
  'min-lr': { type: 'string' },
  'loss-weighting': { type: 'string' },
  'min-snr-gamma': { type: 'string' },
  'cfg-dropout': { type: 'string' },
  'ema-decay': { type: 'string' },
  'grad-clip': { type: 'string' },
  seed: { type: 'string' },
  dtype: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  'log-every': { type: 'string' },
  'sample-every': { type: 'string' },
  ranks: { type: 'string' },
} as const;

const spec = trainingConfigSchema.shape;

/** A comma-separated list of integers ("16,32"), then the schema's checks. */
const intList = <T extends z.ZodType<number[], number[]>>(schema: T) =>
  z
    .string()
    .transform((s) => s.split(',').map((x) => (x.trim() === '' ? Number.NaN : Number(x))))
    .pipe(schema);

/**
 * The job flags, validated. Defaults are the train spec's own (trainingConfigSchema), so a
 * flag left out means the same on this machine as on an agent. `--resolution` and
 * `--steps` are optional here because `anneal submit` shares the object with other job
 * types; `anneal train` makes them required.
 */
export const trainJobFlagsSchema = z.object({
  dataset: z.string().min(1).optional(),
  'dataset-ref': z.string().min(1).optional(),
  resolution: z.coerce.number().int().min(8).max(512).optional(),
  resolutions: intList(resolutionsSchema).optional(),
  'stage-steps': intList(stageStepsSchema).optional(),
  'schedule-shift': z
    .enum(['on', 'off'])
    .transform((v) => v === 'on')
    .optional(),
  'multi-resolution': z.boolean().optional(),
  steps: z.coerce.number().int().min(1).optional(),
  preset: z.enum(presetNames).default(spec.preset.def.defaultValue),
  parameterization: parameterizationSchema
    .exclude(['consistency'])
    .default(spec.parameterization.def.defaultValue),
  unconditional: z.boolean().default(false),
  batch: z.coerce.number().int().min(1).max(4096).optional(),
  lr: z.coerce.number().positive().max(1).optional(),
  warmup: z.coerce.number().int().min(0).optional(),
  'lr-schedule': spec.lr_schedule.unwrap().default(spec.lr_schedule.def.defaultValue),
  'min-lr': z.coerce.number().min(0).max(1).default(spec.min_lr.def.defaultValue),
  'loss-weighting': spec.loss_weighting.unwrap().default(spec.loss_weighting.def.defaultValue),
  'min-snr-gamma': z.coerce
    .number()
    .positive()
    .max(1e6)
    .default(spec.min_snr_gamma.def.defaultValue),
  'cfg-dropout': z.coerce.number().min(0).max(1).default(spec.cfg_dropout.def.defaultValue),
  'ema-decay': z.coerce.number().min(0).max(1).default(spec.ema_decay.def.defaultValue),
  'grad-clip': z.coerce.number().min(0).default(spec.grad_clip.def.defaultValue),
  seed: z.coerce.number().int().min(0).default(spec.seed.def.defaultValue),
  dtype: dtypeSchema.optional(),
  'checkpoint-every': z.coerce
    .number()
    .int()
    .min(1)
    .default(spec.checkpoint_every.def.defaultValue),
  'log-every': z.coerce.number().int().min(1).default(spec.log_every.def.defaultValue),
  'sample-every': z.coerce.number().int().min(0).optional(),
  ranks: z.coerce.number().int().min(2).max(MAX_RANKS).optional(),
});
export type TrainJobFlags = z.infer<typeof trainJobFlagsSchema>;

/** Help text for the job flags, the same in both commands. */
export const trainJobUsage = `Data:
  --dataset D          mnist | shapes | folder:PATH (PNG/JPEG/WebP, subfolders = labels;
                       \`anneal train\` only: a folder must be uploaded before a job can use it)
  --dataset-ref JSON   instead of --dataset: a DatasetRef as job specs carry it (a built-in
                       with its options, or a dataset version {"kind":"version","id","hash"})
  --resolution N       image size in pixels (MNIST: 28 or 32)
  --resolutions A,B..  progressive resolution: one run trains at each, low to high, with the
                       same weights, ending at --resolution (which defaults to the last); the
                       step is in the trainer state, so --resume is exact across stages
  --stage-steps N,M..  steps per resolution, summing to --steps (default: an even split)
  --multi-resolution   train on aspect buckets of a dataset version of mixed sizes (sides
                       multiples of 2^(levels-1), about --resolution^2 pixels; each image to
                       its nearest aspect, covered and center-cropped) instead of squares
  --schedule-shift S   on | off: scale sigmas by resolution / base resolution (log-SNR shifted
                       by 2 log(base/resolution), Hoogeboom et al. 2023), base the lowest of
                       --resolutions (--resolution with --multi-resolution), recorded in
                       config.json so sampling shifts the same (default: on with
                       --resolutions or --multi-resolution, off otherwise)
  --steps N            total optimizer steps

Model:
  --preset P           ${presetNames.join(' | ')} (default ${TRAINING_DEFAULTS.preset})
  --parameterization P eps | v | x0 | edm (default ${TRAINING_DEFAULTS.parameterization})
  --unconditional      ignore labels (default: class-conditional when the data has labels)

Training:
  --batch N            the effective batch (default 32, on every machine); split into
                       micro-batches with accumulated gradients when it does not fit at once
  --lr X               peak learning rate (default: the preset's, 1e-3 for tiny and small, 2e-4
                       for medium and base; linear warmup, then --lr-schedule)
  --warmup N           warmup steps (default min(100, steps/10))
  --lr-schedule S      cosine | constant: after the warmup, cosine decay to --min-lr at the last
                       step, or the peak lr throughout (default ${TRAINING_DEFAULTS.lrSchedule})
  --min-lr X           the floor the cosine schedule decays to (default ${TRAINING_DEFAULTS.minLr})
  --loss-weighting W   none | min-snr: min-snr weighs each example so its x0-space weight is
                       min(SNR, gamma), SNR = 1/sigma^2 (Hang et al. 2023; eps, v and x0 models)
                       (default ${TRAINING_DEFAULTS.lossWeighting})
  --min-snr-gamma G    min-snr's gamma (default ${TRAINING_DEFAULTS.minSnrGamma})
  --cfg-dropout P      share of labels replaced by the null class, which classifier-free
                       guidance needs (default ${TRAINING_DEFAULTS.cfgDropout})
  --ema-decay X        EMA decay of the saved weights (default ${TRAINING_DEFAULTS.emaDecay})
  --grad-clip X        gradient norm clip, 0 for none (default ${TRAINING_DEFAULTS.gradClip})
  --seed N             seed for weights, noise and data order (default ${TRAINING_DEFAULTS.seed})
  --dtype T            float32 | bfloat16 | float16 (default: from the agent's hardware probe)
  --checkpoint-every N steps between checkpoints (default ${TRAINING_DEFAULTS.checkpointEvery})
  --log-every N        steps between metrics lines (default ${TRAINING_DEFAULTS.logEvery})
  --sample-every N     steps between sample grids of the EMA weights, from the same noise and
                       classes every time (DIR/samples/step-N.png and samples/index.json;
                       default: at every checkpoint; 0: none)
  --ranks N            data-parallel over N ranks (2-${MAX_RANKS}) as one group on MLX's ring
                       backend, each taking its share of every --batch (the effective batch,
                       as with one process); rank 0 writes the checkpoints, metrics and grids.
                       One resolution only. \`anneal train\`: N processes on this machine over
                       loopback; a job: N agents leased together, one rank each`;

/** The dataset a job reads: exactly one of --dataset (a built-in) or --dataset-ref. */
export function datasetRefOfFlags(flags: TrainJobFlags): DatasetRefInput | undefined {
  if (flags.dataset !== undefined && flags['dataset-ref'] !== undefined)
    throw new UsageError('--dataset-ref: give either --dataset or --dataset-ref, not both');
  if (flags['dataset-ref'] !== undefined) {
    try {
      return JSON.parse(flags['dataset-ref']) as DatasetRefInput;
    } catch (err) {
      throw new UsageError(`--dataset-ref: not valid JSON (${(err as Error).message})`);
    }
  }
  if (flags.dataset === undefined) return undefined;
  const parsed = parseDatasetFlag(flags.dataset);
  if (parsed.kind === 'folder')
    throw new UsageError(
      `--dataset: ${flags.dataset} is a folder on this machine; upload it as a dataset version (Datasets page or POST /api/v1/projects/:id/datasets) and pass --dataset-ref '{"kind":"version","id":"...","hash":"..."}'`,
    );
  return parsed;
}

/**
 * The train job spec the flags describe, field by field. `satisfies` makes a field added
 * to the spec without a flag a type error here.
 */
export function trainSpecFields(flags: TrainJobFlags) {
  return {
    dataset: datasetRefOfFlags(flags),
    resolution: flags.resolution ?? flags.resolutions?.at(-1),
    resolutions: flags.resolutions,
    stage_steps: flags['stage-steps'],
    schedule_shift: flags['schedule-shift'],
    multi_resolution: flags['multi-resolution'],
    preset: flags.preset,
    steps: flags.steps,
    batch: flags.batch,
    lr: flags.lr,
    warmup: flags.warmup,
    lr_schedule: flags['lr-schedule'],
    min_lr: flags['min-lr'],
    loss_weighting: flags['loss-weighting'],
    min_snr_gamma: flags['min-snr-gamma'],
    cfg_dropout: flags['cfg-dropout'],
    ema_decay: flags['ema-decay'],
    grad_clip: flags['grad-clip'],
    seed: flags.seed,
    dtype: flags.dtype,
    conditional: !flags.unconditional,
    parameterization: flags.parameterization,
    checkpoint_every: flags['checkpoint-every'],
    log_every: flags['log-every'],
    sample_every: flags['sample-every'],
    ranks: flags.ranks,
  } satisfies { [K in keyof Required<TrainSpecInput>]: TrainSpecInput[K] | undefined };
}
