import { AppError } from '@anneal/core/errors';
import type { UNetConfig } from './config/model.ts';
import { loadNative } from './native.ts';
import type {
  AttentionBytes,
  NativeAttentionExec,
  NativeAttentionRunOptions,
  NativeAttentionRunResult,
} from './native-types.ts';

export type AttentionExec = NativeAttentionExec;
export type { AttentionBytes, NativeAttentionRunOptions, NativeAttentionRunResult };

/** Bytes per element of a compute dtype, as the attention byte counts take it. */
const DTYPE_BYTES = { float32: 4, bfloat16: 2, float16: 2 } as const;

/**
 * What a U-Net's softmax attention layers hold for `batch` images when executed as `exec`:
 * `kept` (saved for backward, summed over layers) and `transient` (the largest layer's while
 * it runs). The one place these bytes are counted is the engine (engine/unet.h,
 * unet_attention_bytes); a batch planner adds them to the rest of a job's estimate.
 */
export function attentionBytes(
  unet: UNetConfig,
  options: {
    batch: number;
    /** A bucket's sides (default: the config's sample_size). */
    height?: number;
    width?: number;
    exec?: AttentionExec;
    training?: boolean;
    dtype?: keyof typeof DTYPE_BYTES;
  },
): AttentionBytes {
  return loadNative().attention.unetBytes({
    unet,
    batch: options.batch,
    height: options.height,
    width: options.width,
    training: options.training ?? false,
    dtypeBytes: DTYPE_BYTES[options.dtype ?? 'float32'],
    ...(options.exec ?? { kind: 'fused' }),
  });
}

export interface AttentionChoice {
  exec: AttentionExec;
  /** The chosen execution's bytes, and fused's for comparison. */
  bytes: AttentionBytes;
  fusedBytes: AttentionBytes;
  /** One line for train/sample output: "fused", or "sliced (256 queries per slice: ...)". */
  summary: string;
}

/**
 * Fused attention unless its bytes at this batch do not fit `availableBytes` (the budget less
 * the rest of the job), then sliced with the largest power-of-two slice that fits (engine
 * choose_attention). Slicing changes no result beyond rounding, so the choice is automatic;
 * linear attention is a different model and never chosen here. When even a slice of one
 * query does not fit, throws AppError(RESOURCE_EXHAUSTED) naming the images, the bytes left,
 * fused's bytes and slice 1's.
 */
export function chooseAttention(
  unet: UNetConfig,
  options: {
    batch: number;
    /** A bucket's sides (default: the config's sample_size). */
    height?: number;
    width?: number;
    availableBytes: number;
    training?: boolean;
    dtype?: keyof typeof DTYPE_BYTES;
  },
): AttentionChoice {
  let r: ReturnType<ReturnType<typeof loadNative>['attention']['choose']>;
  try {
    r = loadNative().attention.choose({
      unet,
      batch: options.batch,
      height: options.height,
      width: options.width,
      training: options.training ?? false,
      availableBytes: Math.max(0, options.availableBytes),
      dtypeBytes: DTYPE_BYTES[options.dtype ?? 'float32'],
    });
  } catch (err) {
    if ((err as { code?: string }).code === 'ANNEAL_MEMORY_BUDGET') {
      throw new AppError('RESOURCE_EXHAUSTED', (err as Error).message);
    }
    throw err;
  }
  const exec: AttentionExec =
    r.kind === 'sliced' ? { kind: 'sliced', slice: r.slice } : { kind: 'fused' };
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const summary =
    exec.kind === 'fused'
      ? `fused (${mib(r.bytes.total)})`
      : `sliced, ${exec.slice} queries per slice (${mib(r.bytes.total)}; ` +
        `fused would need ${mib(r.fusedBytes.total)} of ${mib(options.availableBytes)} left)`;
  return { exec, bytes: r.bytes, fusedBytes: r.fusedBytes, summary };
}

/** One attention operation alone, for tests and the attention benchmark. */
export function runAttention(
  options: NativeAttentionRunOptions,
): Promise<NativeAttentionRunResult> {
  return loadNative().attention.run(options);
}

/** What one attention call of `shape` holds (engine attention_bytes), for the benchmark. */
export function attentionOpBytes(
  shape: { batch: number; heads: number; tokens: number; headDim: number },
  exec: AttentionExec,
  training: boolean,
): AttentionBytes {
  return loadNative().attention.bytes({ ...shape, ...exec, training });
}
