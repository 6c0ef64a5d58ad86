import type { HardwareProfile } from './hardware.ts';
import type { UNetConfig } from './model.ts';

/**
 * The memory estimate of a training job, without the native addon, so the control plane
 * can match jobs to agents. It mirrors the engine exactly: `unetCost` walks the layers in
 * the order of `visit_unet` (native/src/engine/unet.cpp), and `estimateTrainingMemory` is
 * `estimate_job_memory` (memory.cpp) applied to `trainingMemorySpec` (trainer.ts).
 * memory.test.ts checks both against the native engine.
 */

export type ComputeDtype = 'float32' | 'bfloat16' | 'float16';
const DTYPE_BYTES: Record<ComputeDtype, number> = { float32: 4, bfloat16: 2, float16: 2 };

/** Share of a machine's working set that a job may use by default (ANNEAL_MEMORY_BUDGET). */
export const DEFAULT_BUDGET_FRACTION = 0.75;

/** The engine's default budget on this hardware: a fraction of its working set. */
export function defaultBudgetBytes(hw: HardwareProfile): number {
  return Math.floor(hw.memory.workingSetBytes * DEFAULT_BUDGET_FRACTION);
}

/** Defaults from the hardware probe: bf16 where the GPU has it (Apple M2 and later), else fp32. */
export function defaultDtype(hw: HardwareProfile): ComputeDtype {
  if (hw.backend === 'metal' && hw.chip.family && hw.chip.family !== 'M1') return 'bfloat16';
  return 'float32';
}

export interface UNetCost {
  parameters: number;
  /** Float32 bytes of activations saved for backward, per image. */
  activationBytesPerImage: number;
  /**
   * Float32 bytes per image of every head's tokens^2 attention scores, over all attention
   * layers: what fused attention keeps for backward (engine attention_bytes, summed by
   * unet_attention_bytes, whose pure mirror this is: memory.test.ts), what another
   * attention kind changes. activationBytesPerImage counts one tokens^2 per layer.
   */
  attentionScoreBytesPerImage: number;
  /** Float32 bytes per image of the largest attention layer's scores, every head. */
  attentionLargestScoreBytesPerImage: number;
  /** The part of activationBytesPerImage that is attention scores: one tokens^2 per layer. */
  walkScoreBytesPerImage: number;
}

/**
 * Parameter count and saved activations of a U-Net, layer by layer as the engine builds it,
 * at its sample_size or at `shape` (a rectangular bucket: sides multiples of 2^(levels-1)).
 * Each layer's activations scale with its pixel count, which quarters at every downsampling.
 */
export function unetCost(c: UNetConfig, shape?: { height: number; width: number }): UNetCost {
  let parameters = 0;
  let elems = 0;
  let scores = 0;
  let largest = 0;
  let walkScores = 0;
  const conv = (inCh: number, out: number, k: number, area: number) => {
    parameters += out * k * k * inCh + out;
    elems += 2 * area * out;
  };
  const linear = (inCh: number, out: number, tokens: number) => {
    parameters += out * inCh + out;
    elems += tokens * out;
  };
  const norm = (ch: number, area: number) => {
    parameters += 2 * ch;
    elems += 3 * ch * area;
  };
  const attention = (ch: number, area: number) => {
    norm(ch, area);
    for (let i = 0; i < 4; i++) linear(ch, ch, area);
    const n = area;
    // Linear attention keeps no N x N probabilities (unet.cpp, unet_activation_bytes).
    if (c.linear_attention) {
      elems += 2 * n * ch;
      return;
    }
    elems += n * n * (ch > 0 ? 1 : 0) + 2 * n * ch;
    walkScores += n * n * (ch > 0 ? 1 : 0);
    const layer = Math.floor(ch / c.attention_head_dim) * n * n;
    scores += layer;
    largest = Math.max(largest, layer);
  };
  const resnet = (inCh: number, out: number, temb: number, area: number) => {
    norm(inCh, area);
    conv(inCh, out, 3, area);
    linear(temb, out, 1);
    norm(out, area);
    conv(out, out, 3, area);
    if (inCh !== out) conv(inCh, out, 1, area);
  };
  const channels = c.block_out_channels;
  const levels = channels.length;
  const first = channels[0] as number;
  const temb = first * 4;
  linear(first, temb, 1);
  linear(temb, temb, 1);
  if (c.num_class_embeds) parameters += c.num_class_embeds * temb;
  // Pixels at the current level.
  let area = shape ? shape.height * shape.width : c.sample_size * c.sample_size;
  conv(c.in_channels, first, 3, area);
  let outCh = first;
  for (let i = 0; i < levels; i++) {
    const inCh = outCh;
    outCh = channels[i] as number;
    for (let j = 0; j < c.layers_per_block; j++) {
      resnet(j === 0 ? inCh : outCh, outCh, temb, area);
      if (c.down_block_types[i] === 'AttnDownBlock2D') attention(outCh, area);
    }
    if (i < levels - 1) {
      conv(outCh, outCh, 3, area / 4);
      area /= 4;
    }
  }
  const mid = channels[levels - 1] as number;
  resnet(mid, mid, temb, area);
  if (c.add_attention) attention(mid, area);
  resnet(mid, mid, temb, area);
  const rev = [...channels].reverse();
  outCh = rev[0] as number;
  for (let i = 0; i < levels; i++) {
    const prev = outCh;
    outCh = rev[i] as number;
    const inCh = rev[Math.min(i + 1, levels - 1)] as number;
    const layers = c.layers_per_block + 1;
    for (let j = 0; j < layers; j++) {
      const skip = j === layers - 1 ? inCh : outCh;
      resnet((j === 0 ? prev : outCh) + skip, outCh, temb, area);
      if (c.up_block_types[i] === 'AttnUpBlock2D') attention(outCh, area);
    }
    if (i < levels - 1) {
      area *= 4;
      conv(outCh, outCh, 3, area);
    }
  }
  norm(first, area);
  conv(first, c.out_channels, 3, area);
  return {
    parameters,
    activationBytesPerImage: elems * 4,
    attentionScoreBytesPerImage: scores * 4,
    attentionLargestScoreBytesPerImage: largest * 4,
    walkScoreBytesPerImage: walkScores * 4,
  };
}

export interface TrainingMemoryEstimate {
  parameters: number;
  gradients: number;
  optimizerState: number;
  ema: number;
  update: number;
  /** The rollback snapshot (weights, AdamW moments, EMA) and the Model's own weights. */
  snapshot: number;
  activations: number;
  workspace: number;
  total: number;
}

/**
 * What fused attention holds in training for one image, float32 (engine attention_bytes,
 * summed by unet_attention_bytes): every head's tokens^2 probabilities of every layer kept
 * for backward, and the largest layer's scores and their gradient while it runs.
 */
export function fusedTrainingAttentionBytesPerImage(cost: UNetCost): number {
  return cost.attentionScoreBytesPerImage + 2 * cost.attentionLargestScoreBytesPerImage;
}

/**
 * The training estimate's calibration against MLX's measured peak (issue 16 §3; bench suite
 * `memory-fit`, bench/RESULTS.md, packages/bench/src/memory-fit.ts `fitMemoryFactors`). The
 * state (weights, gradients, AdamW, EMA, the update's second copy, the rollback snapshot and
 * the Model's own weights) is counted, not fitted. Two factors are fitted by least squares
 * over the measured rows: one per byte of the layer walk's activations less its attention
 * scores, one per byte of attention (`attentionBytes` of the execution in use: fused's kept
 * probabilities and the largest layer's transient scores). Both are then scaled up so the
 * estimate covers the worst row with a 5% margin (the fit's output, rounded up).
 * Measured float32 on the CPU backend only: every dtype is estimated at float32 bytes (a
 * bfloat16 step measured the same peak as float32, tiny 32 px batch 16: 617.6 against
 * 617.2 MB) until other dtypes are measured.
 */
export const TRAINING_ACTIVATION_FACTOR = 2.05;
export const TRAINING_ATTENTION_FACTOR = 1.2;

/**
 * Saved-for-backward bytes per image of a training step, calibrated (above):
 * `attentionBytesPerImage` is what the attention execution in use holds per image (its
 * `attentionBytes` total over the micro-batch, divided by it); fused by default.
 */
export function trainingActivationBytesPerImage(
  cost: UNetCost,
  attentionBytesPerImage = fusedTrainingAttentionBytesPerImage(cost),
): number {
  return Math.ceil(
    TRAINING_ACTIVATION_FACTOR * (cost.activationBytesPerImage - cost.walkScoreBytesPerImage) +
      TRAINING_ATTENTION_FACTOR * attentionBytesPerImage,
  );
}

/**
 * What training `unet` at `batch` needs: fp32 weights, gradients, AdamW, EMA, the update's
 * second copy, the rollback snapshot and the Model's own weights, calibrated activations
 * with fused attention. `batch` is the batch whose activations are held at once: with
 * gradient accumulation (`accumulationSteps` > 1) the micro-batch, and the gradients count
 * twice (the running sum beside the micro-batch's own), as in `estimate_job_memory`
 * (memory.cpp) applied to `trainingMemorySpec` (trainer.ts). `dtype` does not change it
 * (only float32 is calibrated, above).
 */
export function estimateTrainingMemory(
  unet: UNetConfig,
  batch: number,
  _dtype: ComputeDtype = 'float32',
  accumulationSteps = 1,
): TrainingMemoryEstimate {
  const cost = unetCost(unet);
  return trainingEstimate(trainingActivationBytesPerImage(cost), cost.parameters, {
    batch,
    accumulationSteps,
  });
}

/** estimate_job_memory's default workspace share (JobMemorySpec::workspace_fraction). */
export const WORKSPACE_FRACTION = 0.1;

/** estimate_job_memory (memory.cpp) for a training job (trainingMemorySpec: snapshot on). */
export function trainingEstimate(
  activationBytesPerImage: number,
  parameters: number,
  o: { batch: number; accumulationSteps: number },
): TrainingMemoryEstimate {
  const weights = parameters * 4;
  const gradients = o.accumulationSteps > 1 ? 2 * weights : weights;
  const update = weights * 4;
  const snapshot = weights * 5;
  const activations = activationBytesPerImage * Math.max(1, o.batch);
  const subtotal = weights * 4 + gradients + update + snapshot + activations;
  const workspace = Math.floor(subtotal * WORKSPACE_FRACTION);
  return {
    parameters: weights,
    gradients,
    optimizerState: weights * 2,
    ema: weights,
    update,
    snapshot,
    activations,
    workspace,
    total: subtotal + workspace,
  };
}

/** Images per forward pass when sampling: the engine's default chunk (GenerateSpec::chunk). */
export const SAMPLING_CHUNK = 64;

export interface SamplingMemoryEstimate {
  parameters: number;
  activations: number;
  /** The finished images, kept as float32 until the grid is written. */
  outputs: number;
  workspace: number;
  total: number;
  /** Images in one forward pass: the chunk, twice over under classifier-free guidance. */
  batch: number;
}

/**
 * What sampling (or evaluating) `n` images from `unet` needs: `estimate_job_memory`
 * (memory.cpp) with no gradients, optimizer state or EMA, at the batch of one forward pass
 * (a chunk; guidance w != 1 on a class-conditional model runs the conditional and
 * unconditional halves in one batch, generate.cpp, doubling it). Activations per image are
 * the saved-for-backward size: MLX evaluates a sampler step's graph in one go, and the peak
 * measured on the CPU backend came within 15% of it (tiny 16px, small and base 32px, with
 * and without guidance), where counting only skip connections and one block's working set
 * fell 4 to 8 times short.
 */
export function estimateSamplingMemory(
  unet: UNetConfig,
  options: {
    n: number;
    guidance?: number;
    dtype?: ComputeDtype;
    chunk?: number;
    /** The images' sides (default sample_size): activations scale with the pixel count. */
    height?: number;
    width?: number;
  },
): SamplingMemoryEstimate {
  const height = options.height ?? unet.sample_size;
  const width = options.width ?? unet.sample_size;
  // The layer walk at these sides: attention's scores grow with the square of the tokens.
  const cost = unetCost(unet, { height, width });
  const dtype = options.dtype ?? 'float32';
  const chunk = Math.max(1, Math.min(options.n, options.chunk ?? SAMPLING_CHUNK));
  const guided = Boolean(unet.num_class_embeds) && (options.guidance ?? 1) !== 1;
  const batch = guided ? 2 * chunk : chunk;
  const parameters = cost.parameters * 4;
  const activations = Math.ceil((cost.activationBytesPerImage * DTYPE_BYTES[dtype]) / 4) * batch;
  const outputs = options.n * height * width * unet.out_channels * 4;
  const subtotal = parameters + activations + outputs;
  const workspace = Math.floor(subtotal * 0.1);
  return { parameters, activations, outputs, workspace, total: subtotal + workspace, batch };
}
