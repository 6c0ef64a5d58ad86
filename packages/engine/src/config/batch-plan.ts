import { AppError } from '@anneal/core/errors';
import {
  type ComputeDtype,
  type TrainingMemoryEstimate,
  trainingActivationBytesPerImage,
  trainingEstimate,
  unetCost,
} from './estimate.ts';
import type { UNetConfig } from './model.ts';

/**
 * How attention is computed, as far as memory goes. `fused` (MLX's fused scaled-dot-product
 * attention) is the only kind the engine has today; the `attn` work (issue 16 §4) adds
 * `sliced`, whose working set replaces the fused scores in `activationBytesPerImage` below.
 */
export type AttentionKind = 'fused';

/**
 * Calibrated saved-for-backward bytes per image of a training step of `unet` (at its
 * sample_size) with attention kind `kind`, at `dtype` (estimated at float32: estimate.ts).
 * Attention is counted once, as the execution's own bytes (fusedTrainingAttentionBytesPerImage
 * mirrors the engine's unet_attention_bytes for fused); another kind passes its bytes as
 * trainingActivationBytesPerImage's second argument, as Trainer.create does.
 */
export function activationBytesPerImage(
  unet: UNetConfig,
  kind: AttentionKind,
  dtype: ComputeDtype,
  shape?: { height: number; width: number },
): number {
  const cost = unetCost(unet, shape);
  void dtype; // only float32 is calibrated (estimate.ts)
  switch (kind) {
    case 'fused':
      return trainingActivationBytesPerImage(cost);
    // case 'sliced': trainingActivationBytesPerImage(cost, attentionBytes(sliced) / batch).
  }
}

export interface BatchPlanRequest {
  /** The model (its own sample_size is not used: `resolution` is). */
  unet: UNetConfig;
  /** This stage's square side in pixels, or a bucket's height and width. */
  resolution: number | { height: number; width: number };
  /** The effective batch: what one optimizer step sees, whatever the micro-batch. */
  batch: number;
  budget: { bytes: number; source: string };
  dtype?: ComputeDtype;
  attention?: AttentionKind;
  /** false: the whole batch in one pass or a refusal (anneal train --no-accumulation). */
  accumulation?: boolean;
}

export interface BatchPlan {
  resolution: number | { height: number; width: number };
  attention: AttentionKind;
  /** The effective batch (the request's). */
  batch: number;
  /** Images per forward/backward pass: a divisor of `batch`. */
  microBatch: number;
  /** batch / microBatch micro-batches per step, their gradients averaged. */
  accumulationSteps: number;
  /** The estimate at microBatch, with the accumulated gradients' buffer when it applies. */
  estimate: TrainingMemoryEstimate;
}

const MiB = 1024 * 1024;
const size = (bytes: number) =>
  bytes >= 1024 * MiB
    ? `${(bytes / (1024 * MiB)).toFixed(2)} GiB`
    : `${(bytes / MiB).toFixed(1)} MiB`;

/**
 * The batch plan of one training stage or bucket (issue 16 §3): the largest micro-batch that
 * divides the effective batch and whose estimate fits the budget, and the accumulation steps
 * that keep the effective batch. Throws AppError(RESOURCE_EXHAUSTED) naming the estimate,
 * the budget and what to lower when even one image cannot fit, or (with accumulation off)
 * when the whole batch cannot. Pure (the estimate mirrors the engine's; memory.test.ts).
 */
export function planBatch(r: BatchPlanRequest): BatchPlan {
  const attention = r.attention ?? 'fused';
  const dtype = r.dtype ?? 'float32';
  const shape =
    typeof r.resolution === 'number' ? { height: r.resolution, width: r.resolution } : r.resolution;
  const factor = 2 ** (r.unet.block_out_channels.length - 1);
  if (
    ![shape.height, shape.width].every(
      (side) => Number.isInteger(side) && side >= factor && side % factor === 0,
    )
  )
    throw new AppError(
      'BAD_REQUEST',
      `${shape.height}x${shape.width}: this U-Net takes sides that are multiples of ${factor} (2^(levels-1))`,
    );
  const perImage = activationBytesPerImage(r.unet, attention, dtype, shape);
  const parameters = unetCost(r.unet).parameters;
  const estimateAt = (microBatch: number) =>
    trainingEstimate(perImage, parameters, {
      batch: microBatch,
      accumulationSteps: r.batch / microBatch,
    });
  const where = `${shape.height}x${shape.width}, ${attention} attention, ${dtype}`;
  const budget = `the budget of ${size(r.budget.bytes)} (${r.budget.source})`;
  const whole = estimateAt(r.batch);
  if (whole.total <= r.budget.bytes)
    return {
      resolution: r.resolution,
      attention,
      batch: r.batch,
      microBatch: r.batch,
      accumulationSteps: 1,
      estimate: whole,
    };
  const divisors = Array.from({ length: r.batch }, (_, i) => r.batch - i).filter(
    (d) => r.batch % d === 0,
  );
  const fits = divisors.find((d) => estimateAt(d).total <= r.budget.bytes);
  if (fits === undefined) {
    const one = estimateAt(1);
    throw new AppError(
      'RESOURCE_EXHAUSTED',
      `even one image does not fit at ${where}: estimated ${size(one.total)} (weights, gradients, AdamW, EMA and the update's copy ${size(one.parameters + one.gradients + one.optimizerState + one.ema + one.update)}, activations ${size(one.activations)}, workspace ${size(one.workspace)}) exceeds ${budget}; lower the resolution or the model size (--preset), or raise the budget (--memory-budget, ANNEAL_MEMORY_BUDGET)`,
    );
  }
  if (r.accumulation === false) {
    throw new AppError(
      'RESOURCE_EXHAUSTED',
      `batch ${r.batch} does not fit at ${where}: estimated ${size(whole.total)} (activations ${size(whole.activations)}) exceeds ${budget}; allow gradient accumulation (${r.batch / fits} micro-batches of ${fits} would fit), lower --batch, or raise the budget`,
    );
  }
  return {
    resolution: r.resolution,
    attention,
    batch: r.batch,
    microBatch: fits,
    accumulationSteps: r.batch / fits,
    estimate: estimateAt(fits),
  };
}
