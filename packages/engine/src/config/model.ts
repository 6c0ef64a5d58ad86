import { datasetRefSchema } from '@anneal/datasets/ref';
import { z } from 'zod';

/**
 * diffusers' UNet2DModel configuration (the keys of its config.json), restricted to what the
 * engine implements. A matched configuration has the same parameter count and weight names.
 */
export const unetConfigSchema = z
  .object({
    sample_size: z.number().int().min(4).max(1024),
    in_channels: z.number().int().min(1).max(16),
    out_channels: z.number().int().min(1).max(16),
    block_out_channels: z.array(z.number().int().positive()).min(1).max(6),
    layers_per_block: z.number().int().min(1).max(8),
    down_block_types: z.array(z.enum(['DownBlock2D', 'AttnDownBlock2D'])),
    up_block_types: z.array(z.enum(['UpBlock2D', 'AttnUpBlock2D'])),
    attention_head_dim: z.number().int().positive().default(8),
    norm_num_groups: z.number().int().positive().default(32),
    norm_eps: z.number().positive().default(1e-5),
    add_attention: z.boolean().default(true),
    num_class_embeds: z.number().int().positive().nullable().default(null),
    dropout: z.number().min(0).lt(1).default(0),
    flip_sin_to_cos: z.boolean().default(true),
    freq_shift: z.number().default(0),
    downsample_padding: z.number().int().min(0).default(1),
    mid_block_scale_factor: z.number().positive().default(1),
    center_input_sample: z.boolean().default(false),
    /**
     * Anneal's own key, not diffusers': linear attention (Katharopoulos et al. 2020) in every
     * attention layer instead of softmax attention. A different model, chosen when it is
     * created (\`anneal train --attention linear\`), never swapped in; the weights have the
     * same names and shapes, but diffusers has no such model, so export refuses it. Absent
     * (the default): softmax.
     */
    linear_attention: z.boolean().optional(),
    time_embedding_type: z.literal('positional').default('positional'),
    act_fn: z.literal('silu').default('silu'),
    resnet_time_scale_shift: z.literal('default').default('default'),
  })
  .superRefine((c, ctx) => {
    const levels = c.block_out_channels.length;
    if (c.down_block_types.length !== levels) {
      ctx.addIssue({
        code: 'custom',
        path: ['down_block_types'],
        message: `needs ${levels} entries, one per block_out_channels entry`,
      });
    }
    if (c.up_block_types.length !== levels) {
      ctx.addIssue({
        code: 'custom',
        path: ['up_block_types'],
        message: `needs ${levels} entries, one per block_out_channels entry`,
      });
    }
    c.block_out_channels.forEach((ch, i) => {
      if (ch % c.norm_num_groups !== 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['block_out_channels', i],
          message: `${ch} is not a multiple of norm_num_groups (${c.norm_num_groups})`,
        });
      }
    });
    if (c.sample_size % 2 ** (levels - 1) !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['sample_size'],
        message: `must be divisible by 2^${levels - 1}`,
      });
    }
  });
export type UNetConfig = z.infer<typeof unetConfigSchema>;

export const parameterizationSchema = z.enum(['eps', 'v', 'x0', 'edm', 'consistency']);
export type Parameterization = z.infer<typeof parameterizationSchema>;

export const vpScheduleSchema = z.object({
  kind: z.enum(['linear', 'cosine']).default('linear'),
  timesteps: z.number().int().min(2).default(1000),
  beta_start: z.number().positive().default(1e-4),
  beta_end: z.number().positive().lt(1).default(0.02),
  /**
   * Resolution-dependent shift (Hoogeboom et al. 2023, "simple diffusion"): the resolution
   * the schedule was designed for. At resolution r every sigma is scaled by r / shift_base
   * (log-SNR shifted by 2 log(shift_base / r)), in training (per batch size) and sampling (at
   * unet.sample_size). Absent: no shift. On by default for progressive runs (their lowest
   * resolution); VP parameterizations only.
   */
  shift_base: z.number().int().min(1).max(1024).optional(),
});

export const datasetInfoSchema = z.object({
  name: z.string(),
  hash: z.string(),
  resolution: z.number().int(),
  channels: z.number().int(),
  num_classes: z.number().int().min(0),
  /**
   * The ref the model was trained on, options included, so evaluation re-materializes the
   * same data. Absent in checkpoints written before it was recorded.
   */
  ref: datasetRefSchema.optional(),
});

/**
 * How a distilled student was made and how it samples (issue 12): `anneal sample` and `eval`
 * use `sampler` on exactly `sigmas` unless told otherwise, because a progressive student is
 * only trained for the grid it was distilled on.
 */
export const distillationInfoSchema = z.object({
  method: z.enum(['progressive', 'consistency', 'consistency-training']),
  stage: z.number().int().min(1),
  /** A sampler name (ddim for progressive students, consistency for consistency models). */
  sampler: z.string().min(1),
  /** The sampling grid, decreasing and ending in 0 (steps + 1 values). */
  sigmas: z
    .array(z.number().nonnegative())
    .min(2)
    .refine((s) => s.at(-1) === 0, 'must end in 0')
    .refine(
      (s) => s.every((v, i) => i === 0 || v < (s[i - 1] as number)),
      'must strictly decrease',
    ),
  teacher: z.object({
    /** sha256 of the teacher's model.safetensors: the run's root teacher, not the previous stage. */
    weights_sha256: z.string().regex(/^[0-9a-f]{64}$/),
    path: z.string().optional(),
  }),
  /** The FD budget the run held it to (x the reference FD). */
  budget: z.number().positive().optional(),
});
export type DistillationInfo = z.infer<typeof distillationInfoSchema>;

/**
 * A consistency model's function f(x, sigma) = D_inner + (sigma_min / sigma)(x - D_inner): the
 * inner model's deterministic DDIM jump from sigma to sigma_min, so f(x, sigma_min) = x and a
 * student built from a teacher starts as the teacher's one-step sampler. `inner` is the
 * parameterization of the network inside (a student initialized from a VP teacher keeps the
 * teacher's, and its timestep input), `sigma_min` the boundary where f is the identity (the
 * teacher table's smallest sigma). No sigma_data: Song et al.'s eq. 8 scalings that use it
 * were made for a raw EDM network, not a full denoiser (docs/distillation-engine.md). A
 * `sigma_data` written by earlier builds is ignored.
 */
export const consistencyConfigSchema = z.object({
  inner: z.enum(['eps', 'v', 'x0']),
  sigma_min: z.number().positive(),
});
export type ConsistencyConfig = z.infer<typeof consistencyConfigSchema>;

/** config.json of a checkpoint: architecture, parameterization and schedule. */
export const modelConfigSchema = z
  .object({
    format: z.literal('anneal-checkpoint').default('anneal-checkpoint'),
    version: z.literal(1).default(1),
    preset: z.string().optional(),
    unet: unetConfigSchema,
    parameterization: parameterizationSchema.default('eps'),
    schedule: vpScheduleSchema.default({
      kind: 'linear',
      timesteps: 1000,
      beta_start: 1e-4,
      beta_end: 0.02,
    }),
    sigma_data: z.number().positive().default(0.5),
    sigma_min: z.number().positive().default(0.002),
    /** Required for parameterization "consistency", refused otherwise. */
    consistency: consistencyConfigSchema.optional(),
    dataset: datasetInfoSchema.optional(),
    /**
     * The resolutions it was trained at, low to high, when more than one (a progressive or
     * multi-resolution run); the last is unet.sample_size, what it samples at by default.
     */
    resolutions: z.array(z.number().int().min(4).max(1024)).min(1).optional(),
    /**
     * A multi-resolution run's aspect buckets: how its dataset version was sorted
     * (materializeBuckets' target, factor and min_count, so an evaluation finds the same
     * buckets and their held-out images) and the shapes kept. It samples at each of them.
     */
    buckets: z
      .object({
        target: z.number().int().min(4),
        factor: z.number().int().min(1),
        min_count: z.number().int().min(1),
        shapes: z
          .array(
            z.object({
              height: z.number().int().min(4).max(1024),
              width: z.number().int().min(4).max(1024),
            }),
          )
          .min(1),
      })
      .optional(),
    /** Present on distilled students: the sampler and sigma list they were distilled for. */
    distillation: distillationInfoSchema.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.buckets) {
      const factor = 2 ** (c.unet.block_out_channels.length - 1);
      const bad = (message: string) => ctx.addIssue({ code: 'custom', path: ['buckets'], message });
      if (c.buckets.target !== c.unet.sample_size)
        bad(`target ${c.buckets.target} is not the model's sample_size ${c.unet.sample_size}`);
      if (c.buckets.factor !== factor)
        bad(`factor ${c.buckets.factor} is not this U-Net's 2^(levels-1) = ${factor}`);
      for (const s of c.buckets.shapes)
        if (s.height % factor !== 0 || s.width % factor !== 0)
          bad(`${s.height}x${s.width} has a side that is not a multiple of ${factor}`);
    }
    if (c.parameterization === 'consistency' && !c.consistency)
      ctx.addIssue({
        code: 'custom',
        path: ['consistency'],
        message: 'a consistency model needs {inner, sigma_min}',
      });
    if (c.parameterization !== 'consistency' && c.consistency)
      ctx.addIssue({
        code: 'custom',
        path: ['consistency'],
        message: `only a consistency model has this block (parameterization is ${c.parameterization})`,
      });
  });
export type ModelConfig = z.infer<typeof modelConfigSchema>;
export type ModelConfigInput = z.input<typeof modelConfigSchema>;
