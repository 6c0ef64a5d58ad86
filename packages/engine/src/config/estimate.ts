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
}

/** Parameter count and saved activations of a U-Net, layer by layer as the engine builds it. */
export function unetCost(c: UNetConfig): UNetCost {
  let parameters = 0;
  let elems = 0;
  const conv = (inCh: number, out: number, k: number, size: number) => {
    parameters += out * k * k * inCh + out;
    elems += 2 * size * size * out;
  };
  const linear = (inCh: number, out: number, tokens: number) => {
    parameters += out * inCh + out;
    elems += tokens * out;
  };
  const norm = (ch: number, size: number) => {
    parameters += 2 * ch;
    elems += 3 * ch * size * size;
  };
  const attention = (ch: number, size: number) => {
    norm(ch, size);
    for (let i = 0; i < 4; i++) linear(ch, ch, size * size);
    const n = size * size;
    // Linear attention keeps no N x N probabilities (unet.cpp, unet_activation_bytes).
    elems += (c.linear_attention ? 0 : n * n * (ch > 0 ? 1 : 0)) + 2 * n * ch;
  };
  const resnet = (inCh: number, out: number, temb: number, size: number) => {
    norm(inCh, size);
    conv(inCh, out, 3, size);
    linear(temb, out, 1);
    norm(out, size);
    conv(out, out, 3, size);
    if (inCh !== out) conv(inCh, out, 1, size);
  };
  const channels = c.block_out_channels;
  const levels = channels.length;
  const first = channels[0] as number;
  const temb = first * 4;
  linear(first, temb, 1);
  linear(temb, temb, 1);
  if (c.num_class_embeds) parameters += c.num_class_embeds * temb;
  let size = c.sample_size;
  conv(c.in_channels, first, 3, size);
  let outCh = first;
  for (let i = 0; i < levels; i++) {
    const inCh = outCh;
    outCh = channels[i] as number;
    for (let j = 0; j < c.layers_per_block; j++) {
      resnet(j === 0 ? inCh : outCh, outCh, temb, size);
      if (c.down_block_types[i] === 'AttnDownBlock2D') attention(outCh, size);
    }
    if (i < levels - 1) {
      conv(outCh, outCh, 3, size / 2);
      size /= 2;
    }
  }
  const mid = channels[levels - 1] as number;
  resnet(mid, mid, temb, size);
  if (c.add_attention) attention(mid, size);
  resnet(mid, mid, temb, size);
  const rev = [...channels].reverse();
  outCh = rev[0] as number;
  for (let i = 0; i < levels; i++) {
    const prev = outCh;
    outCh = rev[i] as number;
    const inCh = rev[Math.min(i + 1, levels - 1)] as number;
    const layers = c.layers_per_block + 1;
    for (let j = 0; j < layers; j++) {
      const skip = j === layers - 1 ? inCh : outCh;
      resnet((j === 0 ? prev : outCh) + skip, outCh, temb, size);
      if (c.up_block_types[i] === 'AttnUpBlock2D') attention(outCh, size);
    }
    if (i < levels - 1) {
      size *= 2;
      conv(outCh, outCh, 3, size);
    }
  }
  norm(first, size);
  conv(first, c.out_channels, 3, size);
  return { parameters, activationBytesPerImage: elems * 4 };
}

export interface TrainingMemoryEstimate {
  parameters: number;
  gradients: number;
  optimizerState: number;
  ema: number;
  activations: number;
  workspace: number;
  total: number;
}

/** What training `unet` at `batch` and `dtype` needs: fp32 weights, gradients, AdamW, EMA. */
export function estimateTrainingMemory(
  unet: UNetConfig,
  batch: number,
  dtype: ComputeDtype = 'float32',
): TrainingMemoryEstimate {
  const cost = unetCost(unet);
  const weights = cost.parameters * 4;
  const activations =
    Math.ceil((cost.activationBytesPerImage * DTYPE_BYTES[dtype]) / 4) * Math.max(1, batch);
  const subtotal = weights * 5 + activations;
  const workspace = Math.floor(subtotal * 0.1);
  return {
    parameters: weights,
    gradients: weights,
    optimizerState: weights * 2,
    ema: weights,
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
  options: { n: number; guidance?: number; dtype?: ComputeDtype; chunk?: number },
): SamplingMemoryEstimate {
  const cost = unetCost(unet);
  const dtype = options.dtype ?? 'float32';
  const chunk = Math.max(1, Math.min(options.n, options.chunk ?? SAMPLING_CHUNK));
  const guided = Boolean(unet.num_class_embeds) && (options.guidance ?? 1) !== 1;
  const batch = guided ? 2 * chunk : chunk;
  const parameters = cost.parameters * 4;
  const activations = Math.ceil((cost.activationBytesPerImage * DTYPE_BYTES[dtype]) / 4) * batch;
  const outputs = options.n * unet.sample_size * unet.sample_size * unet.out_channels * 4;
  const subtotal = parameters + activations + outputs;
  const workspace = Math.floor(subtotal * 0.1);
  return { parameters, activations, outputs, workspace, total: subtotal + workspace, batch };
}
