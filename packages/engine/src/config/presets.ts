import type { UNetConfig } from './model.ts';

export const presetNames = ['tiny', 'small', 'medium', 'base'] as const;
export type PresetName = (typeof presetNames)[number];

interface PresetShape {
  block_out_channels: number[];
  layers_per_block: number;
  /** Attention at resolutions at or below this fraction of the input (e.g. 1/4: 8x8 of 32x32). */
  attentionBelow: number;
  norm_num_groups: number;
  attention_head_dim: number;
  /** Peak learning rate that trains this size quickly without diverging (AdamW, batch 32). */
  lr: number;
}

/**
 * Presets, sized from `anneal doctor`'s measured conv throughput on a 2-core x86 CPU
 * (~35 GFLOP/s fwd+bwd): `small` trains MNIST at 32x32 in about 30 minutes there. Parameter
 * counts and FLOPs per image are in docs/presets.md. Released presets keep their meaning;
 * add a new name instead of changing one.
 */
const presets: Record<PresetName, PresetShape> = {
  tiny: {
    block_out_channels: [32, 64],
    layers_per_block: 1,
    attentionBelow: 0.5,
    norm_num_groups: 8,
    attention_head_dim: 8,
    lr: 1e-3,
  },
  small: {
    block_out_channels: [32, 64, 64],
    layers_per_block: 1,
    attentionBelow: 0.25,
    norm_num_groups: 8,
    attention_head_dim: 16,
    lr: 1e-3,
  },
  // Between small and base (issue 11): a reference teacher whose float32 model.safetensors
  // stays under the committed-model limit of 20 MB at 32x32 (4.06M parameters, 16.3 MB; the
  // trainer state, four copies, is 65 MB). docs/presets.md.
  medium: {
    block_out_channels: [64, 96, 96],
    layers_per_block: 2,
    attentionBelow: 0.25,
    norm_num_groups: 32,
    attention_head_dim: 32,
    lr: 2e-4,
  },
  base: {
    block_out_channels: [64, 128, 128, 256],
    layers_per_block: 2,
    attentionBelow: 0.25,
    norm_num_groups: 32,
    attention_head_dim: 32,
    lr: 2e-4,
  },
};

/** The UNet2DModel configuration of a preset at a resolution and channel count. */
export function presetUNet(
  name: PresetName,
  opts: { resolution: number; channels: number; numClasses?: number },
): UNetConfig {
  const p = presets[name];
  const levels = p.block_out_channels.length;
  const down: UNetConfig['down_block_types'] = [];
  for (let i = 0; i < levels; i++) {
    // Level i works at resolution / 2^i.
    down.push(1 / 2 ** i <= p.attentionBelow ? 'AttnDownBlock2D' : 'DownBlock2D');
  }
  const up = [...down]
    .reverse()
    .map((t) =>
      t === 'AttnDownBlock2D' ? 'AttnUpBlock2D' : 'UpBlock2D',
    ) as UNetConfig['up_block_types'];
  return {
    sample_size: opts.resolution,
    in_channels: opts.channels,
    out_channels: opts.channels,
    block_out_channels: [...p.block_out_channels],
    layers_per_block: p.layers_per_block,
    down_block_types: down,
    up_block_types: up,
    attention_head_dim: p.attention_head_dim,
    norm_num_groups: p.norm_num_groups,
    norm_eps: 1e-5,
    add_attention: true,
    // One extra embedding: the null class for classifier-free guidance.
    num_class_embeds: opts.numClasses ? opts.numClasses + 1 : null,
    dropout: 0,
    flip_sin_to_cos: true,
    freq_shift: 0,
    downsample_padding: 1,
    mid_block_scale_factor: 1,
    center_input_sample: false,
    time_embedding_type: 'positional',
    act_fn: 'silu',
    resnet_time_scale_shift: 'default',
  };
}

/** The default peak learning rate for a preset. */
export function presetLearningRate(name: PresetName): number {
  return presets[name].lr;
}

/**
 * The peak learning rate when none is given: the preset's, or base's for a model that names
 * no preset (a custom config.json). `anneal train` and the Trainer both read it.
 */
export function defaultLearningRate(preset: string | undefined): number {
  return presetLearningRate(
    preset !== undefined && preset in presets ? (preset as PresetName) : 'base',
  );
}
