import { builtinDataset } from '@anneal/datasets/builtins';
import { datasetRefSchema } from '@anneal/datasets/ref';
import {
  defaultDtype,
  estimateTrainingMemory,
  presetUNet,
  resolutionStages,
  samplerSchema,
  TRAINING_DEFAULTS,
  trainingConfigSchema,
  type UNetConfig,
} from '@anneal/engine/config';
import { z } from 'zod';
import {
  checkpointEventSchema,
  defineJobKind,
  errorEventSchema,
  metricsEventSchema,
  samplesEventSchema,
  warningEventSchema,
} from './kind.ts';

/** The most ranks a data-parallel job or `anneal train --ranks` takes. */
export const MAX_RANKS = 16;

/**
 * A train job: the same settings as `anneal train`, with the dataset named by a ref (a
 * built-in generator or a stored version fetched by its sha256) instead of a path.
 */
export const trainSpecSchema = trainingConfigSchema
  .omit({ dataset: true })
  .extend({
    dataset: datasetRefSchema,
    /**
     * Data-parallel over this many agents, leased together as one group (one rank each, on
     * MLX's ring backend); absent: one agent.
     */
    ranks: z.number().int().min(2).max(MAX_RANKS).optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.ranks !== undefined) {
      if (spec.resolutions || spec.multi_resolution)
        ctx.addIssue({
          code: 'custom',
          path: ['ranks'],
          message:
            'data-parallel training takes one resolution (not resolutions or multi_resolution)',
        });
      const batch = spec.batch ?? TRAINING_DEFAULTS.batch;
      if (batch % spec.ranks !== 0)
        ctx.addIssue({
          code: 'custom',
          path: ['ranks'],
          message: `the batch (${batch}) does not split evenly into ${spec.ranks} ranks`,
        });
    }
    // What `anneal train` would refuse, refused when the job is submitted instead.
    if (spec.stage_steps && !spec.resolutions)
      ctx.addIssue({
        code: 'custom',
        path: ['stage_steps'],
        message: 'only with resolutions (steps per resolution)',
      });
    if (spec.resolutions && spec.multi_resolution)
      ctx.addIssue({
        code: 'custom',
        path: ['multi_resolution'],
        message: 'give either multi_resolution or resolutions, not both',
      });
    if (spec.resolutions) {
      const levels = trainedUNetLevels(spec.preset);
      try {
        resolutionStages({
          resolution: spec.resolution,
          steps: spec.steps,
          resolutions: spec.resolutions,
          stageSteps: spec.stage_steps,
          factor: 2 ** (levels - 1),
        });
      } catch (err) {
        const message = (err as Error).message;
        const field = message.startsWith('stage_steps') ? 'stage_steps' : 'resolutions';
        ctx.addIssue({ code: 'custom', path: [field], message: message.replace(/^\w+: /, '') });
      }
    }
  });

/** The U-Net levels of a preset (the downsampling factor is 2^(levels-1)). */
function trainedUNetLevels(preset: TrainSpecPreset): number {
  return presetUNet(preset, { resolution: 64, channels: 3 }).block_out_channels.length;
}
type TrainSpecPreset = Parameters<typeof presetUNet>[0];
export type TrainSpec = z.infer<typeof trainSpecSchema>;
export type TrainSpecInput = z.input<typeof trainSpecSchema>;

/** `anneal train --json`'s last line. */
export const trainSummarySchema = z.object({
  steps: z.number().int(),
  /** Mean loss of the last steps; null when none was finite. */
  final_loss: z.number().nullable(),
  wall_s: z.number(),
  out: z.string(),
  images_per_s: z.number(),
  parameters: z.number().int(),
  peak_memory_bytes: z.number(),
  cancelled: z.boolean(),
});

/**
 * `anneal train`'s samples/index.json (SAMPLE_INDEX_ARTIFACT): how every grid was made (the
 * same noise seed and classes in each) and the frames so far, oldest first. `classes` names
 * image i's class (null: unconditional); `columns`, `pad` and `size` let a viewer cut one
 * image out of a grid.
 */
export const sampleIndexSchema = z.object({
  n: z.number().int().min(1),
  sampler: samplerSchema,
  steps: z.number().int().min(1),
  seed: z.number().int().min(0),
  columns: z.number().int().min(1),
  pad: z.number().int().min(0),
  size: z.number().int().min(1),
  classes: z.array(z.string()).nullable(),
  frames: z.array(
    z.object({
      step: z.number().int().min(0),
      file: z.string().min(1),
      wall_s: z.number(),
    }),
  ),
});
export type SampleIndex = z.infer<typeof sampleIndexSchema>;

/** The U-Net a train spec builds, as `anneal train` does from its preset and data. */
export function trainedUNet(spec: TrainSpec, versionClasses: number | null): UNetConfig {
  const data =
    spec.dataset.kind === 'version'
      ? { channels: 3, classes: versionClasses ?? 0 }
      : (({ channels, classes }) => ({ channels, classes: classes.length }))(
          builtinDataset(spec.dataset.name),
        );
  const conditional = spec.conditional && data.classes > 0;
  return presetUNet(spec.preset, {
    resolution: spec.resolution,
    channels: data.channels,
    numClasses: conditional ? data.classes : undefined,
  });
}

export const trainKind = defineJobKind({
  type: 'train',
  summary: 'train a diffusion model on a dataset',
  spec: trainSpecSchema,
  events: z.discriminatedUnion('event', [
    metricsEventSchema,
    checkpointEventSchema,
    samplesEventSchema,
    warningEventSchema,
    errorEventSchema,
  ]),
  result: trainSummarySchema,
  dataset: (spec) => spec.dataset,
  model: () => null,
  features: (spec) => [
    ...(spec.sample_every !== undefined ? ['train.sample_every' as const] : []),
    ...(spec.ranks !== undefined ? ['train.ranks' as const] : []),
    ...(spec.resolutions !== undefined ||
    spec.schedule_shift !== undefined ||
    spec.multi_resolution !== undefined
      ? ['train.resolutions' as const]
      : []),
  ],
  readsSourceDataset: false,
  /**
   * By the engine's own estimate. The effective batch is the spec's, or anneal train's
   * default (TRAINING_DEFAULTS.batch, the same on every machine), and the agent accumulates
   * the gradients of micro-batches when it does not fit (anneal train's batch planner), so
   * one image is the least it needs, with the accumulated gradients' buffer when the batch
   * is larger; the dtype is the spec's, or the one the agent would choose on its hardware.
   */
  memoryNeed(spec, { versionClasses, hardware }) {
    // Each rank of a data-parallel job takes its share of the batch.
    const batch = (spec.batch ?? TRAINING_DEFAULTS.batch) / (spec.ranks ?? 1);
    const dtype = spec.dtype ?? defaultDtype(hardware);
    return {
      bytes: estimateTrainingMemory(trainedUNet(spec, versionClasses), 1, dtype, batch).total,
      batch,
      dtype,
      lower: 'the resolution or preset',
    };
  },
  totalSteps: (spec) => spec.steps,
});
