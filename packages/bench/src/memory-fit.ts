import {
  estimateTrainingMemory,
  Model,
  type PresetName,
  parseModelConfig,
  presetUNet,
} from '@anneal/engine';
import type { Log } from './stats.ts';

/**
 * The memory estimate against the peak MLX measures (issue 16 §3): training steps of each
 * preset at a few resolutions and batches, with and without gradient accumulation, on random
 * images (Model.measureStep: float32, the compiled step, warm-up steps first, peak reset
 * before the timed ones). The ratio measured / estimated is what the batch planner's margin
 * must absorb; the estimate is `estimateTrainingMemory` (the engine's own, memory.test.ts).
 */

export interface MemoryFitCase {
  preset: PresetName;
  resolution: number;
  /** The effective batch. */
  batch: number;
  accumulationSteps: number;
}

export const MEMORY_FIT_CASES: MemoryFitCase[] = [
  { preset: 'tiny', resolution: 16, batch: 8, accumulationSteps: 1 },
  { preset: 'tiny', resolution: 16, batch: 32, accumulationSteps: 1 },
  { preset: 'tiny', resolution: 32, batch: 8, accumulationSteps: 1 },
  { preset: 'tiny', resolution: 32, batch: 32, accumulationSteps: 1 },
  { preset: 'tiny', resolution: 32, batch: 32, accumulationSteps: 4 },
  { preset: 'tiny', resolution: 64, batch: 8, accumulationSteps: 1 },
  { preset: 'tiny', resolution: 64, batch: 16, accumulationSteps: 4 },
  { preset: 'small', resolution: 16, batch: 16, accumulationSteps: 1 },
  { preset: 'small', resolution: 32, batch: 8, accumulationSteps: 1 },
  { preset: 'small', resolution: 32, batch: 16, accumulationSteps: 1 },
  { preset: 'small', resolution: 32, batch: 16, accumulationSteps: 4 },
];

export interface MemoryFitRow extends MemoryFitCase {
  micro_batch: number;
  parameters: number;
  /** The estimate's parts that do not grow with the batch: weights, gradients, AdamW, EMA. */
  state_bytes: number;
  activation_bytes: number;
  estimate_bytes: number;
  measured_peak_bytes: number;
  /** measured / estimate: above 1, the estimate is short. */
  ratio: number;
  step_seconds: number;
}

export interface MemoryFitResult {
  rows: MemoryFitRow[];
  /** Extremes of the ratio over the rows. */
  ratio_min: number;
  ratio_max: number;
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
  });
  for (const c of opts.cases ?? MEMORY_FIT_CASES) {
    const unet = presetUNet(c.preset, { resolution: c.resolution, channels: 3, numClasses: 10 });
    const micro = c.batch / c.accumulationSteps;
    const estimate = estimateTrainingMemory(unet, micro, 'float32', c.accumulationSteps);
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
          estimate.update,
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
    } finally {
      model.dispose();
    }
  }
  return summary();
}
