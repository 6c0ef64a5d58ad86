// The search space (issue 19 section 1): every candidate a valid, distinct diffusers
// UNet2DModel configuration around the teacher's, the axes each reaching what they say.
import { presetUNet, unetConfigSchema } from '@anneal/engine';
import { describe, expect, it } from 'vitest';
import { candidateName, enumerateCandidates } from './space.ts';

const teacher = presetUNet('small', { resolution: 32, channels: 1, numClasses: 10 });

describe('search space', () => {
  const all = enumerateCandidates(teacher);

  it('holds the teacher and only valid, distinct configurations with its images and classes', () => {
    expect(all.map((c) => c.name)).toContain(candidateName(teacher));
    expect(new Set(all.map((c) => c.name)).size).toBe(all.length);
    expect(new Set(all.map((c) => JSON.stringify(c.unet))).size).toBe(all.length);
    for (const c of all) {
      expect(unetConfigSchema.safeParse(c.unet).success).toBe(true);
      expect(c.unet.sample_size).toBe(32);
      expect(c.unet.in_channels).toBe(1);
      expect(c.unet.num_class_embeds).toBe(11);
      const widths = c.unet.block_out_channels;
      // Widths never shrink with depth; each a multiple of the norm groups.
      widths.forEach((w, i) => {
        expect(w % c.unet.norm_num_groups).toBe(0);
        if (i > 0) expect(w).toBeGreaterThanOrEqual(widths[i - 1] as number);
      });
      // Attention heads divide every attended width.
      c.unet.down_block_types.forEach((t, i) => {
        if (t === 'AttnDownBlock2D')
          expect((widths[i] as number) % c.unet.attention_head_dim).toBe(0);
      });
      expect(c.unet.up_block_types).toEqual(
        [...c.unet.down_block_types].reverse().map((t) => t.replace('Down', 'Up')),
      );
    }
  });

  it('reaches every axis: fewer levels, narrower widths, no attention, no mid attention, linear attention', () => {
    expect(all.some((c) => c.unet.block_out_channels.length === 2)).toBe(true);
    expect(all.some((c) => c.unet.block_out_channels[0] === 16)).toBe(true);
    expect(
      all.some(
        (c) => !c.unet.down_block_types.includes('AttnDownBlock2D') && !c.unet.add_attention,
      ),
    ).toBe(true);
    expect(all.some((c) => c.unet.linear_attention === true)).toBe(true);
    // A network without any attention has no linear twin (the kind changes nothing there).
    const plain = all.filter(
      (c) => !c.unet.down_block_types.includes('AttnDownBlock2D') && !c.unet.add_attention,
    );
    expect(plain.every((c) => c.unet.linear_attention === undefined)).toBe(true);
  });

  it('takes a space of given axes only, and refuses an unknown axis', () => {
    const widthsOnly = enumerateCandidates(teacher, {
      widthScales: [0.5, 1],
      levelsDropped: [0],
      attention: ['teacher'],
      midAttention: [true],
      attentionKinds: ['softmax'],
    });
    // Per level 16|32, 32|64, 32|64, widths non-decreasing: 2 x 2 x 2 less (x, 64, 32) = 6.
    expect(widthsOnly.map((c) => c.unet.block_out_channels.join('.')).sort()).toEqual(
      ['16.32.32', '16.32.64', '16.64.64', '32.32.32', '32.32.64', '32.64.64'].sort(),
    );
    expect(() => enumerateCandidates(teacher, { depth: [1] } as never)).toThrow(/depth/);
  });
});
