import {
  estimateTrainingMemory,
  fusedTrainingAttentionBytesPerImage,
  Model,
  type PresetName,
  parseModelConfig,
  presetUNet,
  TRAINING_ACTIVATION_FACTOR,
  TRAINING_ATTENTION_FACTOR,
  unetCost,
} from '@anneal/engine';
import type { Log } from './stats.ts';

/**
 * The memory estimate against the peak MLX measures (issue 16 §3): training steps of each
 * preset at a few resolutions and batches, with and without gradient accumulation, on random
 * images (Model.measureStep: float32, the compiled step, the peak since before the Trainer
 * was built, warm-up included, with the rollback snapshot a state of its own: what the
 * budget check reads in a job). `fitMemoryFactors` derives the estimate's two factors from
 * the rows not held out; the ratio measured / estimated is what the batch planner's margin
 * must absorb; the estimate is `estimateTrainingMemory` (the engine's own, memory.test.ts).
 */

export interface MemoryFitCase {
  preset: PresetName;
  resolution: number;
  /** The effective batch. */
  batch: number;
  accumulationSteps: number;
  /** Left out of the fit, to check it out of sample. */
  holdout?: boolean;
}

/**
 * Activation-dominated rows (tiny and small, attention at 32 and 64 px) and parameter-dominated
 * ones (medium and base at low resolution, batch 1 to 2), small enough for a shared CPU.
 */
export const MEMORY_FIT_CASES: MemoryFitCase[] = [
  { preset: 'tiny', resolution: 16, batch: 8, accumulationSteps: 1 },
  { preset: 'tiny', resolution: 32, batch: 8, accumulationSteps: 1 },
  { preset: 'tiny', resolution: 32, batch: 16, accumulationSteps: 4, holdout: true },
  { preset: 'tiny', resolution: 64, batch: 2, accumulationSteps: 1 },
  { preset: 'small', resolution: 16, batch: 16, accumulationSteps: 1 },
  { preset: 'small', resolution: 32, batch: 8, accumulationSteps: 1 },
  { preset: 'small', resolution: 32, batch: 16, accumulationSteps: 2, holdout: true },
  { preset: 'medium', resolution: 16, batch: 1, accumulationSteps: 1 },
  { preset: 'medium', resolution: 16, batch: 2, accumulationSteps: 1 },
  { preset: 'medium', resolution: 32, batch: 1, accumulationSteps: 1, holdout: true },
  { preset: 'base', resolution: 16, batch: 1, accumulationSteps: 1 },
];

export interface MemoryFitRow extends MemoryFitCase {
  micro_batch: number;
  parameters: number;
  /**
   * The estimate's parts that do not grow with the batch: weights, gradients, AdamW, EMA, the
   * update's copy, the rollback snapshot and the Model's own weights (before workspace).
   */
  state_bytes: number;
  /** Per image, uncalibrated: the layer walk less its attention scores; fused attention. */
  walk_bytes_per_image: number;
  attention_bytes_per_image: number;
  activation_bytes: number;
  estimate_bytes: number;
  measured_peak_bytes: number;
  /** measured / estimate: above 1, the estimate is short. */
  ratio: number;
  step_seconds: number;
}

export interface MemoryFit {
  /** Least squares over the rows not held out. */
  activation_lsq: number;
  attention_lsq: number;
  /** The least-squares factors scaled to cover the worst fitted row with `margin`, rounded up. */
  activation_factor: number;
  attention_factor: number;
  margin: number;
  /** Rows the fit used and rows held out. */
  fitted: number;
  held_out: number;
}

export interface MemoryFitResult {
  rows: MemoryFitRow[];
  /** Extremes of the ratio over the rows. */
  ratio_min: number;
  ratio_max: number;
  /** The factors these rows give (estimate.ts holds the committed ones). */
  fit: MemoryFit | null;
  /** The factors the estimate used for these rows. */
  factors: { activation: number; attention: number };
}

/** Workspace share of estimate_job_memory (memory.cpp): total = (state + activations) x 1.1. */
const WORKSPACE = 1.1;

/**
 * The estimate's two factors from measured rows (reproducible: `anneal bench --only
 * memory-fit` prints and records them). Each row gives peak / 1.1 - state = a x walk x b +
 * s x attention x b (micro-batch b); (a, s) by least squares over the rows not held out,
 * then both scaled by the smallest k with every fitted row's estimate >= peak x (1 + margin),
 * rounded up to 0.05. Null with fewer than two fitted rows.
 */
export function fitMemoryFactors(rows: MemoryFitRow[], margin = 0.05): MemoryFit | null {
  const fit = rows.filter((r) => !r.holdout);
  if (fit.length < 2) return null;
  let xx = 0;
  let xy = 0;
  let yy = 0;
  let xt = 0;
  let yt = 0;
  for (const r of fit) {
    const x = r.walk_bytes_per_image * r.micro_batch;
    const y = r.attention_bytes_per_image * r.micro_batch;
    const t = r.measured_peak_bytes / WORKSPACE - r.state_bytes;
    xx += x * x;
    xy += x * y;
    yy += y * y;
    xt += x * t;
    yt += y * t;
  }
  const det = xx * yy - xy * xy;
  // Rows without attention (or all in one proportion): one factor for both.
  const [a, s] =
    Math.abs(det) > 1e-9 * xx * yy
      ? [(xt * yy - yt * xy) / det, (yt * xx - xt * xy) / det]
      : [(xt + yt) / (xx + 2 * xy + yy), (xt + yt) / (xx + 2 * xy + yy)];
  const scale = Math.max(
    ...fit.map((r) => {
      const acts = (a * r.walk_bytes_per_image + s * r.attention_bytes_per_image) * r.micro_batch;
      return ((r.measured_peak_bytes * (1 + margin)) / WORKSPACE - r.state_bytes) / acts;
    }),
  );
  const up = (v: number) => Math.ceil(Math.max(v, 0) * 20) / 20;
  return {
    activation_lsq: a,
    attention_lsq: s,
    activation_factor: up(a * scale),
    attention_factor: up(s * scale),
    margin,
    fitted: fit.length,
    held_out: rows.length - fit.length,
  };
}

export async function benchMemoryFit(opts: {
  cases?: MemoryFitCase[];
  steps: number;
  warmup: number;
  log?: Log;
  onPartial?: (r: MemoryFitResult) => void;
}): Promise<MemoryFitResult> {
  const rows: MemoryFitRow[] = [];
  const summary = (): MemoryFitResult => ({
    rows,
    ratio_min: Math.min(...rows.map((r) => r.ratio)),
    ratio_max: Math.max(...rows.map((r) => r.ratio)),
    fit: fitMemoryFactors(rows),
    factors: { activation: TRAINING_ACTIVATION_FACTOR, attention: TRAINING_ATTENTION_FACTOR },
  });
  for (const c of opts.cases ?? MEMORY_FIT_CASES) {
    const unet = presetUNet(c.preset, { resolution: c.resolution, channels: 3, numClasses: 10 });
    const micro = c.batch / c.accumulationSteps;
    const estimate = estimateTrainingMemory(unet, micro, 'float32', c.accumulationSteps);
    const cost = unetCost(unet);
    const model = Model.create(parseModelConfig({ preset: c.preset, unet }), 0);
    try {
      const measured = await model.measureStep({
        batch: c.batch,
        steps: opts.steps,
        warmup: opts.warmup,
        accumulationSteps: c.accumulationSteps,
      });
      const row: MemoryFitRow = {
        ...c,
        micro_batch: micro,
        parameters: model.parameterCount(),
        state_bytes:
          estimate.parameters +
          estimate.gradients +
          estimate.optimizerState +
          estimate.ema +
          estimate.update +
          estimate.snapshot,
        walk_bytes_per_image: cost.activationBytesPerImage - cost.walkScoreBytesPerImage,
        attention_bytes_per_image: fusedTrainingAttentionBytesPerImage(cost),
        activation_bytes: estimate.activations,
        estimate_bytes: estimate.total,
        measured_peak_bytes: measured.peakBytes,
        ratio: measured.peakBytes / estimate.total,
        step_seconds: measured.stepSeconds,
      };
      rows.push(row);
      opts.log?.(
        `memory-fit: ${c.preset} ${c.resolution}px batch ${c.batch} (${c.accumulationSteps} x ${micro}): estimate ${(estimate.total / 2 ** 20).toFixed(1)} MiB, measured ${(measured.peakBytes / 2 ** 20).toFixed(1)} MiB, ratio ${row.ratio.toFixed(3)}`,
      );
      opts.onPartial?.(summary());
      const fit = fitMemoryFactors(rows);
      if (fit)
        opts.log?.(
          `memory-fit: fit so far (${fit.fitted} rows): activation ${fit.activation_factor} (least squares ${fit.activation_lsq.toFixed(3)}), attention ${fit.attention_factor} (${fit.attention_lsq.toFixed(3)})`,
        );
    } finally {
      model.dispose();
    }
  }
  return summary();
}
