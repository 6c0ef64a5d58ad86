import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '@anneal/datasets/shards';
import type { ModelConfig } from '../config/model.ts';
import { CONFIG_FILE, MODEL_FILE, parseModelConfig, writeFileAtomic } from '../model.ts';

/**
 * diffusers `UNet2DModel` -> Anneal checkpoint, in TypeScript (the Node side has no torch):
 * reads `diffusion_pytorch_model.safetensors` and `config.json` of a `save_pretrained`
 * folder (or `unet/` of a pipeline), keeps diffusers' state_dict names (the engine uses them
 * one to one, DESIGN.md section 3) and transposes conv weights from PyTorch's OIHW to MLX's
 * OHWI. The same conversion as bench/reference/convert_diffusers.py, which the parity test
 * checks against diffusers itself.
 */

const WEIGHTS_FILE = 'diffusion_pytorch_model.safetensors';

/** Keys the engine's UNet config carries over unchanged (validated by its schema). */
const CARRIED = [
  'sample_size',
  'in_channels',
  'out_channels',
  'block_out_channels',
  'layers_per_block',
  'down_block_types',
  'up_block_types',
  'norm_num_groups',
  'norm_eps',
  'add_attention',
  'num_class_embeds',
  'dropout',
  'flip_sin_to_cos',
  'freq_shift',
  'downsample_padding',
  'mid_block_scale_factor',
  'center_input_sample',
  'time_embedding_type',
  'act_fn',
  'resnet_time_scale_shift',
] as const;

/**
 * Keys the engine does not carry but accepts at these values (diffusers' defaults, which the
 * engine hard-wires). Any other value changes the architecture and is refused by name.
 */
const FIXED: Record<string, (value: unknown, raw: Record<string, unknown>) => boolean> = {
  mid_block_type: (v) => v === undefined || v === 'UNetMidBlock2D',
  downsample_type: (v) => v === undefined || v === 'conv',
  upsample_type: (v) => v === undefined || v === 'conv',
  class_embed_type: (v) => v === undefined || v === null,
  // The time embedding is 4 x block_out_channels[0] wide unless overridden.
  time_embedding_dim: (v, raw) =>
    v === undefined ||
    v === null ||
    v === 4 * ((raw.block_out_channels as number[] | undefined)?.[0] ?? Number.NaN),
  // Only used by learned time embeddings, which are refused through time_embedding_type.
  num_train_timesteps: () => true,
  // null: attention uses norm_num_groups, as the engine does.
  attn_norm_num_groups: (v, raw) => v === undefined || v === null || v === raw.norm_num_groups,
};

/** diffusers scheduler `beta_schedule` / `prediction_type` -> the engine's names. */
const BETA_SCHEDULES: Record<string, 'linear' | 'cosine'> = {
  linear: 'linear',
  squaredcos_cap_v2: 'cosine',
};
const PREDICTION_TYPES: Record<string, ModelConfig['parameterization']> = {
  epsilon: 'eps',
  v_prediction: 'v',
  sample: 'x0',
};

function readJson(path: string): Record<string, unknown> {
  try {
    const raw = JSON.parse(readFileSync(path, 'utf8'));
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
      throw new Error('not an object');
    return raw as Record<string, unknown>;
  } catch (err) {
    throw new AppError('BAD_REQUEST', `${path}: ${(err as Error).message}`);
  }
}

/** The UNet folder and the scheduler config (if any) of a model or pipeline folder. */
export function locateDiffusersUNet(dir: string): { unetDir: string; schedulerConfig?: string } {
  const candidates = [
    { unetDir: join(dir, 'unet'), scheduler: join(dir, 'scheduler', 'scheduler_config.json') },
    { unetDir: dir, scheduler: join(dir, '..', 'scheduler', 'scheduler_config.json') },
  ];
  for (const c of candidates) {
    if (existsSync(join(c.unetDir, CONFIG_FILE))) {
      return {
        unetDir: c.unetDir,
        schedulerConfig: existsSync(c.scheduler) ? c.scheduler : undefined,
      };
    }
  }
  throw new AppError(
    'NOT_FOUND',
    `${dir} holds neither config.json nor unet/config.json (expected a UNet2DModel.save_pretrained folder or a pipeline folder)`,
  );
}

/** The engine's UNet config from diffusers' config.json, refusing what it cannot run. */
export function unetConfigFromDiffusers(raw: Record<string, unknown>, source: string) {
  const className = raw._class_name ?? 'UNet2DModel';
  if (className !== 'UNet2DModel')
    throw new AppError(
      'BAD_REQUEST',
      `${source}: _class_name ${String(className)} is not UNet2DModel`,
    );
  const unet: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key.startsWith('_')) continue; // bookkeeping: _class_name, _diffusers_version, ...
    if (key === 'sample_size' && Array.isArray(value)) {
      // diffusers allows (height, width); the engine's U-Net is square.
      if (value.length !== 2 || value[0] !== value[1])
        throw new AppError(
          'BAD_REQUEST',
          `${source}: \`sample_size\` ${JSON.stringify(value)} is not square`,
        );
      unet.sample_size = value[0];
      continue;
    }
    if ((CARRIED as readonly string[]).includes(key)) {
      if (value !== null || key === 'num_class_embeds') unet[key] = value;
      continue;
    }
    const fixed = FIXED[key];
    if (key === 'attention_head_dim') continue;
    if (!fixed)
      throw new AppError('BAD_REQUEST', `${source}: key \`${key}\` is not supported by the engine`);
    if (!fixed(value, raw)) {
      throw new AppError(
        'BAD_REQUEST',
        `${source}: \`${key}\` = ${JSON.stringify(value)} is not supported by the engine`,
      );
    }
  }
  unet.attention_head_dim = headDim(raw, source);
  return unet;
}

/**
 * diffusers' `attention_head_dim: null` means one head per attention block (head dim = its
 * channels). The engine takes one head dim for all blocks, so null maps to it only when every
 * attention block (the attention levels and the mid block) has the same width.
 */
function headDim(raw: Record<string, unknown>, source: string): number | undefined {
  const v = raw.attention_head_dim;
  if (v === undefined) return undefined;
  if (typeof v === 'number') return v;
  if (v !== null)
    throw new AppError(
      'BAD_REQUEST',
      `${source}: \`attention_head_dim\` ${JSON.stringify(v)} must be a number or null`,
    );
  const channels = (raw.block_out_channels ?? []) as number[];
  const down = (raw.down_block_types ?? []) as string[];
  const widths = new Set<number>();
  down.forEach((t, i) => {
    if (t === 'AttnDownBlock2D' && channels[i] !== undefined) widths.add(channels[i]);
  });
  const last = channels[channels.length - 1];
  if (raw.add_attention !== false && last !== undefined) widths.add(last);
  if (widths.size !== 1) {
    throw new AppError(
      'BAD_REQUEST',
      `${source}: \`attention_head_dim\` null (one head per block) with attention at widths ${[...widths].join(', ')}; the engine needs one head dim`,
    );
  }
  return [...widths][0];
}

function scheduleFromScheduler(path: string | undefined) {
  if (!path) return { parameterization: 'eps' as const, schedule: undefined };
  const raw = readJson(path);
  const beta = (raw.beta_schedule as string | undefined) ?? 'linear';
  const kind = BETA_SCHEDULES[beta];
  if (!kind)
    throw new AppError(
      'BAD_REQUEST',
      `${path}: \`beta_schedule\` ${beta} is not supported (linear, squaredcos_cap_v2)`,
    );
  const prediction = (raw.prediction_type as string | undefined) ?? 'epsilon';
  const parameterization = PREDICTION_TYPES[prediction];
  if (!parameterization)
    throw new AppError(
      'BAD_REQUEST',
      `${path}: \`prediction_type\` ${prediction} is not supported (epsilon, v_prediction, sample)`,
    );
  return {
    parameterization,
    schedule: {
      kind,
      timesteps: (raw.num_train_timesteps as number | undefined) ?? 1000,
      beta_start: (raw.beta_start as number | undefined) ?? 1e-4,
      beta_end: (raw.beta_end as number | undefined) ?? 0.02,
    },
  };
}

/** float32 data of a tensor (diffusers saves f32, sometimes f16/bf16). */
function toFloat32(name: string, t: Tensor): Float32Array {
  const n = t.shape.reduce((a, d) => a * d, 1);
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Float32Array(n);
  if (t.dtype === 'F32') for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  else if (t.dtype === 'BF16') {
    // bfloat16 is the top half of a float32.
    const bits = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < n; i++) {
      bits.setUint32(0, view.getUint16(i * 2, true) << 16, true);
      out[i] = bits.getFloat32(0, true);
    }
  } else if (t.dtype === 'F16')
    for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  else throw new AppError('BAD_REQUEST', `tensor ${name}: dtype ${t.dtype} is not a float type`);
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** PyTorch's conv layout (O, I, kH, kW) -> MLX's (O, kH, kW, I). */
export function oihwToOhwi(data: Float32Array, shape: readonly number[]): Float32Array {
  const [o = 0, i = 0, h = 0, w = 0] = shape;
  const out = new Float32Array(data.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          out[((a * h + y) * w + x) * i + b] = data[((a * i + b) * h + y) * w + x] ?? 0;
  return out;
}

export interface ImportResult {
  out: string;
  config: ModelConfig;
  tensors: number;
  parameters: number;
}

/** Converts a diffusers UNet2DModel folder (or pipeline folder) into an Anneal checkpoint. */
export function importDiffusersUNet(dir: string, out: string): ImportResult {
  const { unetDir, schedulerConfig } = locateDiffusersUNet(dir);
  const configPath = join(unetDir, CONFIG_FILE);
  const unet = unetConfigFromDiffusers(readJson(configPath), configPath);
  const { parameterization, schedule } = scheduleFromScheduler(schedulerConfig);
  const config = parseModelConfig(
    { unet, parameterization, ...(schedule ? { schedule } : {}) },
    configPath,
  );
  const weightsPath = join(unetDir, WEIGHTS_FILE);
  if (!existsSync(weightsPath)) {
    throw new AppError(
      'NOT_FOUND',
      `no ${WEIGHTS_FILE} in ${unetDir} (save with safe_serialization=True; .bin weights are not read)`,
    );
  }
  let decoded: ReturnType<typeof decodeSafetensors>;
  try {
    decoded = decodeSafetensors(readFileSync(weightsPath));
  } catch (err) {
    throw new AppError('BAD_REQUEST', `${weightsPath}: ${(err as Error).message}`);
  }
  const tensors: Array<[string, Tensor]> = [];
  let parameters = 0;
  for (const [name, t] of decoded.tensors) {
    let data = toFloat32(name, t);
    if (t.shape.length === 4) data = oihwToOhwi(data, t.shape);
    const shape = t.shape.length === 4 ? [t.shape[0], t.shape[2], t.shape[3], t.shape[1]] : t.shape;
    parameters += data.length;
    tensors.push([
      name,
      { dtype: 'F32', shape: shape as number[], data: new Uint8Array(data.buffer) },
    ]);
  }
  mkdirSync(out, { recursive: true });
  writeFileAtomic(join(out, MODEL_FILE), encodeSafetensors(tensors, { source: 'diffusers' }));
  writeFileAtomic(join(out, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
  return { out, config, tensors: tensors.length, parameters };
}
