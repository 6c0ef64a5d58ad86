// The attention operation alone (issue 16 §4): fused, query-sliced and linear attention at the
// tiny preset's attention shapes, forward and forward + backward, MLX's peak and wall time per
// kind, ratios against fused in the same run. The kinds alternate within each round.
import {
  applyMemoryLimits,
  attentionOpBytes,
  memoryStats,
  type NativeAttentionRunOptions,
  presetUNet,
  runAttention,
} from '@anneal/engine';
import { type Log, median } from './stats.ts';

export interface AttentionBenchOptions {
  /** Image sides; the tiny preset's attention runs at half of each (level 1). */
  resolutions: readonly number[];
  batch: number;
  rounds: number;
  /** Slices as a fraction of the tokens: N / divisor queries per slice. */
  sliceDivisors: readonly number[];
  /**
   * A run of the smallest slice with MLX's memory limit set this many times the slice's
   * counted bytes above the inputs, as a job sets the limit to its budget
   * (apply_memory_limits): MLX then waits for work in flight instead of running ahead.
   * 0: no such run.
   */
  limitOverCounted: number;
  log?: Log;
  onPartial?: (r: AttentionBenchResult) => void;
}

export interface AttentionBenchRow {
  resolution: number;
  tokens: number;
  heads: number;
  head_dim: number;
  batch: number;
  pass: 'forward' | 'forward+backward';
  kind: 'fused' | 'sliced' | 'linear';
  slice: number | null;
  /** MLX's memory limit during the run (bytes above the inputs), null: MLX's default. */
  limit_bytes: number | null;
  seconds: number[];
  seconds_median: number;
  /** MLX's peak minus the inputs (q, k, v, R), the largest over the rounds. */
  peak_bytes: number;
  /** What the engine's count (attention_bytes) says the kind holds, plus outputs/gradients. */
  model_bytes: number | null;
  peak_vs_fused: number;
  time_vs_fused: number;
}

export interface AttentionBenchResult {
  preset: string;
  rows: AttentionBenchRow[];
}

interface Arm {
  kind: 'fused' | 'sliced' | 'linear';
  slice?: number;
  limitOverCounted?: number;
}

/** The tiny preset's attention shape at a resolution: level 1, 64 channels, head dim 8. */
export function tinyAttentionShape(resolution: number) {
  const unet = presetUNet('tiny', { resolution, channels: 1 });
  const level = unet.down_block_types.indexOf('AttnDownBlock2D');
  const side = resolution / 2 ** level;
  const channels = unet.block_out_channels[level] as number;
  return {
    tokens: side * side,
    heads: channels / unet.attention_head_dim,
    headDim: unet.attention_head_dim,
  };
}

export async function benchAttention(o: AttentionBenchOptions): Promise<AttentionBenchResult> {
  const log = o.log ?? (() => {});
  const rows: AttentionBenchRow[] = [];
  const defaultLimit = memoryStats().limitBytes;
  try {
    for (const resolution of o.resolutions) {
      const shape = { ...tinyAttentionShape(resolution), batch: o.batch };
      const arms: Arm[] = [
        { kind: 'fused' },
        ...o.sliceDivisors.map((d) => ({
          kind: 'sliced' as const,
          slice: Math.max(1, shape.tokens / d),
        })),
        { kind: 'linear' },
      ];
      if (o.limitOverCounted > 0)
        arms.push({
          kind: 'sliced',
          slice: Math.max(1, shape.tokens / Math.max(...o.sliceDivisors)),
          limitOverCounted: o.limitOverCounted,
        });
      for (const backward of [false, true]) {
        const pass = backward ? 'forward+backward' : 'forward';
        const outputs =
          (backward ? 4 : 1) * shape.batch * shape.heads * shape.tokens * shape.headDim * 4;
        const modelBytes = (a: Arm) =>
          a.kind === 'linear'
            ? null
            : attentionOpBytes(
                shape,
                a.kind === 'sliced'
                  ? { kind: 'sliced', slice: a.slice as number }
                  : { kind: 'fused' },
                backward,
              ).total + outputs;
        const seconds: number[][] = arms.map(() => []);
        const peaks: number[] = arms.map(() => 0);
        const limits: Array<number | null> = arms.map(() => null);
        for (let round = 0; round < o.rounds; round++) {
          for (const [i, arm] of arms.entries()) {
            const run: NativeAttentionRunOptions = {
              ...shape,
              kind: arm.kind,
              ...(arm.slice ? { slice: arm.slice } : {}),
              backward,
              seed: round,
              iterations: 1,
            };
            if (arm.limitOverCounted) {
              const above = Math.round((modelBytes(arm) as number) * arm.limitOverCounted);
              const inputs = 4 * shape.batch * shape.heads * shape.tokens * shape.headDim * 4;
              limits[i] = above;
              applyMemoryLimits({
                bytes: memoryStats().activeBytes + inputs + above,
                source: 'attention bench',
              });
            }
            try {
              const r = await runAttention(run);
              seconds[i]?.push(r.seconds);
              peaks[i] = Math.max(peaks[i] as number, r.workingBytes);
            } finally {
              if (arm.limitOverCounted)
                applyMemoryLimits({ bytes: defaultLimit, source: 'MLX default' });
            }
          }
        }
        const fusedTime = median(seconds[0] as number[]);
        const fusedPeak = peaks[0] as number;
        for (const [i, arm] of arms.entries()) {
          const t = median(seconds[i] as number[]);
          const row: AttentionBenchRow = {
            resolution,
            tokens: shape.tokens,
            heads: shape.heads,
            head_dim: shape.headDim,
            batch: shape.batch,
            pass,
            kind: arm.kind,
            slice: arm.slice ?? null,
            limit_bytes: limits[i] ?? null,
            seconds: seconds[i] as number[],
            seconds_median: t,
            peak_bytes: peaks[i] as number,
            model_bytes: modelBytes(arm),
            peak_vs_fused: fusedPeak / (peaks[i] as number),
            time_vs_fused: t / fusedTime,
          };
          rows.push(row);
          log(
            `attention ${resolution}px ${pass} ${arm.kind}${arm.slice ? ` ${arm.slice}` : ''}${arm.limitOverCounted ? ' (limited)' : ''}: ${(row.peak_bytes / 2 ** 20).toFixed(1)} MiB, ${t.toFixed(3)} s`,
          );
        }
        o.onPartial?.({ preset: 'tiny', rows: [...rows] });
      }
    }
  } finally {
    applyMemoryLimits({ bytes: defaultLimit, source: 'MLX default' });
  }
  return { preset: 'tiny', rows };
}

const MIB = 2 ** 20;

/** The RESULTS.md section: one table per pass, rows by resolution and kind. */
export function attentionSection(r: AttentionBenchResult, machine: string): string {
  const kind = (x: AttentionBenchRow) =>
    x.kind === 'sliced'
      ? `sliced ${x.slice}${x.limit_bytes === null ? '' : `, MLX limit +${(x.limit_bytes / MIB).toFixed(1)} MiB`}`
      : x.kind === 'linear'
        ? 'linear (a different model)'
        : 'fused';
  const first = r.rows[0];
  const parts: string[] = [
    `On ${machine}. The ${r.preset} preset's attention (level 1: ${first ? `${first.heads} heads of ${first.head_dim}` : ''}, batch ${first?.batch ?? '-'}), alone, with inputs drawn once per round; the kinds alternate within each round. Peak: MLX's peak memory after a reset, less the inputs (q, k, v and the cotangent), the largest over the rounds; it includes the output and the gradients. Counted: the engine's attention_bytes (what a job's estimate uses) plus the output and gradients. Sliced runs are checkpointed: each slice is recomputed in backward. Without a memory limit MLX's scheduler runs up to about ten slices ahead of the computation, each holding its scores; a job sets MLX's memory limit to its budget (apply_memory_limits), and the limited row shows what that does to the smallest slice with a limit of twice its counted bytes above the inputs. Linear attention is a different model (chosen when a model is created), shown for scale. Times are medians of the rounds on a shared 2-core machine: ratios within 20% are noise here.`,
  ];
  for (const pass of ['forward', 'forward+backward'] as const) {
    const rows = r.rows
      .filter((x) => x.pass === pass)
      .map((x) => [
        `${x.resolution} px (${x.tokens} tokens)`,
        kind(x),
        (x.peak_bytes / MIB).toFixed(1),
        x.model_bytes === null ? '-' : (x.model_bytes / MIB).toFixed(1),
        x.peak_vs_fused.toFixed(2),
        (x.seconds_median * 1000).toFixed(1),
        x.time_vs_fused.toFixed(2),
      ]);
    parts.push(
      `### ${pass}\n\n${[
        '| shape | kind | peak MiB | counted MiB | fused peak / peak | ms (median) | time / fused |',
        '| --- | --- | --- | --- | --- | --- | --- |',
        ...rows.map((x) => `| ${x.join(' | ')} |`),
      ].join('\n')}`,
    );
  }
  return parts.join('\n\n');
}
