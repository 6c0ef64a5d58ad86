// The search space of hardware-aware U-Net search (issue 19 section 1): smaller variants of a
// teacher's diffusers UNet2DModel configuration. Every candidate is a configuration the
// engine builds and diffusers loads (unetConfigSchema), with the teacher's images, channels,
// classes and time embedding, so it can learn from the teacher as a student. Pure: no engine.
import { type UNetConfig, unetConfigSchema } from '@anneal/engine';
import { z } from 'zod';

/**
 * What may change, each axis a list of choices (the teacher's own value is always allowed).
 * Block removal, as BK-SDM removes blocks from SD's U-Net, is here what UNet2DModel can
 * express: fewer levels (the deepest dropped), fewer layers per block, no mid-block attention.
 */
export const searchSpaceSchema = z
  .object({
    /** Each level's width as a fraction of the teacher's at that level (rounded to the norm groups). */
    widthScales: z.array(z.number().gt(0).max(2)).min(1).default([0.5, 0.75, 1]),
    /** Levels dropped from the deepest end (0: the teacher's depth). */
    levelsDropped: z.array(z.number().int().min(0).max(3)).min(1).default([0, 1]),
    layersPerBlock: z.array(z.number().int().min(1).max(8)).min(1).optional(),
    /**
     * Where level attention goes: `teacher` (the teacher's levels, those that remain), `none`,
     * or `deepest` (the deepest remaining level only).
     */
    attention: z
      .array(z.enum(['teacher', 'none', 'deepest']))
      .min(1)
      .default(['teacher', 'none', 'deepest']),
    midAttention: z.array(z.boolean()).min(1).default([true, false]),
    headDims: z.array(z.number().int().positive()).min(1).optional(),
    normGroups: z.array(z.number().int().positive()).min(1).optional(),
    /** Softmax or linear attention (issue 16): linear is a different model, chosen here at creation. */
    attentionKinds: z
      .array(z.enum(['softmax', 'linear']))
      .min(1)
      .default(['softmax', 'linear']),
  })
  .strict();
export type SearchSpace = z.infer<typeof searchSpaceSchema>;
export type SearchSpaceInput = z.input<typeof searchSpaceSchema>;

export interface Candidate {
  /** Short and unique within a space: widths, layers, attention levels, mid, head, groups, kind. */
  name: string;
  unet: UNetConfig;
}

const levelAttention = (t: string) => t === 'AttnDownBlock2D';

/** The candidate's name: what differs from a U-Net of the same family, readable in a table. */
export function candidateName(u: UNetConfig): string {
  // One character per level (A: attention, .: none), M: the mid block's attention.
  const attn = u.down_block_types.map((t) => (levelAttention(t) ? 'A' : '.')).join('');
  const anyAttention = u.down_block_types.some(levelAttention) || u.add_attention;
  return [
    `w${u.block_out_channels.join('.')}`,
    `l${u.layers_per_block}`,
    `a${attn}${u.add_attention ? 'M' : ''}`,
    anyAttention ? `h${u.attention_head_dim}` : null,
    `g${u.norm_num_groups}`,
    anyAttention && u.linear_attention ? 'lin' : null,
  ]
    .filter(Boolean)
    .join('-');
}

/** Rounds a width to the nearest positive multiple of the norm groups. */
function roundTo(width: number, groups: number): number {
  return Math.max(groups, Math.round(width / groups) * groups);
}

/** Every combination of the arrays' entries, in order (the first axis varies slowest). */
function product<T>(axes: T[][]): T[][] {
  return axes.reduce<T[][]>((acc, axis) => acc.flatMap((p) => axis.map((v) => [...p, v])), [[]]);
}

/**
 * The candidates of `space` around `teacher`, deduplicated (choices that build the same
 * network, such as a head size without any attention, collapse into one) and sorted by name.
 * Widths never shrink from one level to the next deeper one, as in every diffusers U-Net.
 * The teacher's own configuration is a candidate when the space reaches it.
 */
export function enumerateCandidates(
  teacher: UNetConfig,
  input: SearchSpaceInput = {},
): Candidate[] {
  const space = searchSpaceSchema.parse(input);
  const levels = teacher.block_out_channels.length;
  const layers = space.layersPerBlock ?? range(1, teacher.layers_per_block);
  const heads = space.headDims ?? [teacher.attention_head_dim];
  const groups = space.normGroups ?? [teacher.norm_num_groups];
  const out = new Map<string, Candidate>();
  for (const dropped of space.levelsDropped) {
    const depth = levels - dropped;
    if (depth < 1) continue;
    const scalesPerLevel = product(Array.from({ length: depth }, () => space.widthScales));
    for (const scales of scalesPerLevel) {
      for (const g of groups) {
        const widths = scales.map((s, i) =>
          roundTo(s * (teacher.block_out_channels[i] as number), g),
        );
        if (widths.some((w, i) => i > 0 && w < (widths[i - 1] as number))) continue;
        for (const [lpb, placement, mid, head, kind] of product<unknown>([
          layers,
          space.attention,
          space.midAttention,
          heads,
          space.attentionKinds,
        ]) as [number, SearchSpace['attention'][number], boolean, number, 'softmax' | 'linear'][]) {
          const attention = attentionLevels(teacher, depth, placement);
          const anyAttention = attention.some(Boolean) || mid;
          const unet = buildUNet(teacher, {
            widths,
            layersPerBlock: lpb,
            attention,
            mid,
            // Without attention the head size and kind change nothing: keep the teacher's.
            head: anyAttention ? head : teacher.attention_head_dim,
            groups: g,
            linear: anyAttention && kind === 'linear',
          });
          if (!unet) continue;
          const name = candidateName(unet);
          if (!out.has(name)) out.set(name, { name, unet });
        }
      }
    }
  }
  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function range(lo: number, hi: number): number[] {
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}

function attentionLevels(
  teacher: UNetConfig,
  depth: number,
  placement: SearchSpace['attention'][number],
): boolean[] {
  if (placement === 'none') return Array(depth).fill(false);
  if (placement === 'deepest') return Array.from({ length: depth }, (_, i) => i === depth - 1);
  return teacher.down_block_types.slice(0, depth).map(levelAttention);
}

/**
 * The UNet2DModel configuration of one choice, or null when it is not a valid one (a head
 * size that does not divide an attention level's width, a width not a multiple of the norm
 * groups). The sample size stays the teacher's: fewer levels only relax its divisibility.
 */
function buildUNet(
  teacher: UNetConfig,
  c: {
    widths: number[];
    layersPerBlock: number;
    attention: boolean[];
    mid: boolean;
    head: number;
    groups: number;
    linear: boolean;
  },
): UNetConfig | null {
  const attended = c.widths.filter((_, i) => c.attention[i]);
  if (c.mid) attended.push(c.widths[c.widths.length - 1] as number);
  if (attended.some((w) => w % c.head !== 0)) return null;
  const down = c.attention.map((a) =>
    a ? 'AttnDownBlock2D' : 'DownBlock2D',
  ) as UNetConfig['down_block_types'];
  const up = [...down]
    .reverse()
    .map((t) =>
      t === 'AttnDownBlock2D' ? 'AttnUpBlock2D' : 'UpBlock2D',
    ) as UNetConfig['up_block_types'];
  const { linear_attention: _teacherKind, ...rest } = teacher;
  const parsed = unetConfigSchema.safeParse({
    ...rest,
    block_out_channels: c.widths,
    layers_per_block: c.layersPerBlock,
    down_block_types: down,
    up_block_types: up,
    add_attention: c.mid,
    attention_head_dim: c.head,
    norm_num_groups: c.groups,
    ...(c.linear ? { linear_attention: true } : {}),
  });
  return parsed.success ? parsed.data : null;
}
