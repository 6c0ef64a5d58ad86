import { describe, expect, it } from 'vitest';
import { oihwToOhwi, unetConfigFromDiffusers } from './diffusers.ts';

describe('diffusers import: pure parts', () => {
  it('moves the input-channel axis of conv weights last (OIHW -> OHWI)', () => {
    // O=2, I=3, H=1, W=2: value encodes its (o, i, h, w) position.
    const shape = [2, 3, 1, 2];
    const src = new Float32Array(12);
    for (let o = 0; o < 2; o++)
      for (let i = 0; i < 3; i++)
        for (let w = 0; w < 2; w++) src[(o * 3 + i) * 2 + w] = o * 100 + i * 10 + w;
    const out = oihwToOhwi(src, shape);
    for (let o = 0; o < 2; o++)
      for (let w = 0; w < 2; w++)
        for (let i = 0; i < 3; i++) expect(out[(o * 2 + w) * 3 + i]).toBe(o * 100 + i * 10 + w);
  });

  const base = {
    _class_name: 'UNet2DModel',
    _diffusers_version: '0.42.1',
    sample_size: 16,
    in_channels: 3,
    out_channels: 3,
    block_out_channels: [32, 64],
    layers_per_block: 1,
    down_block_types: ['DownBlock2D', 'AttnDownBlock2D'],
    up_block_types: ['AttnUpBlock2D', 'UpBlock2D'],
    mid_block_type: 'UNetMidBlock2D',
    downsample_type: 'conv',
    upsample_type: 'conv',
    class_embed_type: null,
    time_embedding_dim: null,
    attn_norm_num_groups: null,
    num_train_timesteps: null,
    attention_head_dim: 8,
  };

  it('accepts diffusers defaults and drops bookkeeping keys', () => {
    const unet = unetConfigFromDiffusers(base, 'config.json');
    expect(unet).not.toHaveProperty('_class_name');
    expect(unet).not.toHaveProperty('mid_block_type');
    expect(unet.attention_head_dim).toBe(8);
  });

  it('maps attention_head_dim null to the single attention width, and refuses mixed widths', () => {
    expect(
      unetConfigFromDiffusers({ ...base, attention_head_dim: null }, 'c').attention_head_dim,
    ).toBe(64);
    expect(() =>
      unetConfigFromDiffusers(
        {
          ...base,
          attention_head_dim: null,
          down_block_types: ['AttnDownBlock2D', 'AttnDownBlock2D'],
        },
        'c',
      ),
    ).toThrow(/attention_head_dim/);
  });

  it('refuses architecture changes, naming the key', () => {
    expect(() => unetConfigFromDiffusers({ ...base, mid_block_type: null }, 'c')).toThrow(
      /`mid_block_type`/,
    );
    expect(() => unetConfigFromDiffusers({ ...base, time_embedding_dim: 96 }, 'c')).toThrow(
      /`time_embedding_dim`/,
    );
    expect(() => unetConfigFromDiffusers({ ...base, downsample_type: 'resnet' }, 'c')).toThrow(
      /`downsample_type`/,
    );
    expect(() =>
      unetConfigFromDiffusers({ ...base, _class_name: 'UNet2DConditionModel' }, 'c'),
    ).toThrow(/UNet2DModel/);
  });
});
