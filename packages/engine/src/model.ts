import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { type AttentionExec, chooseAttention } from './attention.ts';
import { type ComputeDtype, estimateSamplingMemory } from './config/estimate.ts';
import { type ModelConfig, type ModelConfigInput, modelConfigSchema } from './config/model.ts';
import { SAMPLING_DEFAULTS, type SamplerName, type SamplingConfig } from './config/training.ts';
import type { MemoryBudget } from './memory.ts';
import { fromNativeError, loadNative } from './native.ts';
import type {
  NativeLearnCheckpoint,
  NativeLearnReference,
  NativeLearnScheduleProgress,
  NativeLearnScheduleResult,
  NativeModel,
  NativeSampleSpec,
} from './native-types.ts';
import { resolveSchedule } from './schedules.ts';

/**
 * Sampling inputs beyond the job spec, for cross-checks against other implementations: an
 * explicit sigma list, denoised-estimate clipping, given noise, and what to return.
 */
export type SampleExtras = Pick<
  NativeSampleSpec,
  | 'sigmas'
  | 'clipDenoised'
  | 'noise'
  | 'stepNoise'
  | 'returnNoise'
  | 'returnValues'
  | 'chunk'
  | 'firstChunk'
  | 'dtype'
  | 'attention'
  | 'height'
  | 'width'
> & {
  /**
   * Without `attention`: the budget the sampler's attention must fit. Fused attention unless
   * its bytes at one forward pass's batch do not fit what the rest of sampling leaves
   * (estimateSamplingMemory), then query-sliced (chooseAttention). Neither: fused.
   */
  budget?: MemoryBudget;
};

export interface SampleResult {
  /** How softmax attention executed (outputs agree with fused to rounding). */
  attention: AttentionExec;
  /** uint8 NHWC pixels. */
  images: Uint8Array;
  /** With returnValues: float32 NHWC images in [-1, 1]. */
  values?: Float32Array;
  /** With returnNoise: the initial and per-step unit-normal noise used. */
  noise?: Float32Array;
  stepNoise?: Float32Array;
  shape: [number, number, number, number];
  /** Network evaluations per image (the adaptive sampler: the largest of nfePerImage). */
  nfe: number;
  /** Steps (the adaptive sampler: the most accepted steps of any image). */
  steps: number;
  /** The adaptive sampler: evaluations spent on each image, counting guidance. */
  nfePerImage?: Int32Array;
  /** The adaptive sampler: batched denoiser calls, and image rows handed to the network in all. */
  calls?: number;
  rowsEvaluated?: number;
  /** The adaptive sampler: step attempts rejected by its error control, summed over images. */
  rejected?: number;
  /** Values that were NaN or infinite before quantization (0 for a healthy model). */
  nonFinite: number;
}

/** Mean, least and most network evaluations per image (the adaptive sampler's spread). */
export function nfeStats(perImage: ArrayLike<number>): { mean: number; min: number; max: number } {
  const v = Array.from(perImage);
  return {
    mean: v.reduce((a, b) => a + b, 0) / Math.max(1, v.length),
    min: Math.min(...v),
    max: Math.max(...v),
  };
}

/** Inputs of Model.learnSchedule (the engine's ModelScheduleSpec). */
export interface LearnScheduleSpec {
  sampler: 'ddim' | 'euler' | 'heun' | 'dpmpp-2m';
  /** Network evaluations per image (without guidance); Heun's must be odd. */
  nfe: number;
  /** Calibration batch size, and the held-out batch's (default 64). */
  n?: number;
  seed?: number;
  heldoutSeed?: number;
  reference?: { sampler: 'heun' | 'euler' | 'ddim'; steps: number };
  class?: number;
  guidance?: number;
  /** The baseline the learner starts from and is scored against (default: sampling's default). */
  initial?: 'default' | 'uniform' | 'karras' | 'exponential';
  /** Coordinate-descent sweeps (default 6). */
  sweeps?: number;
  /** The start sigma, kept by learning (default: the model's largest), as Model.sample's sigma_max. */
  sigmaMax?: number;
  /**
   * Schedules to score beside the learned one on the same batches: kinds the engine builds
   * (uniform, karras, exponential) and explicit lists (e.g. aysSigmas); kinds come first in the
   * result's `compare`.
   */
  compare?: Array<string | number[]>;
  onProgress?: (p: NativeLearnScheduleProgress) => void;
  /** A record of the same reference runs (an earlier progress event's): not run again. */
  knownReference?: NativeLearnReference;
  /** A checkpoint of this same learn (a progress event's): the descent continues from it. */
  resume?: NativeLearnCheckpoint;
  /**
   * Aborting stops after the reference step or sampler run in progress; the result has
   * `cancelled: true`. Aborted during the reference runs, nothing has been learned: the result
   * is the baseline, unscored (errors 0, evaluations 0).
   */
  signal?: AbortSignal;
}

export const MODEL_FILE = 'model.safetensors';
export const CONFIG_FILE = 'config.json';

/** Parses a checkpoint's config.json, naming the field that is wrong. */
export function parseModelConfig(raw: unknown, source = 'config'): ModelConfig {
  const r = modelConfigSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new AppError(
      'BAD_REQUEST',
      `${source}: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  return r.data;
}

/** Writes a file under a temporary name, then renames it into place. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/**
 * A U-Net with its configuration. Holds native memory: dispose it (or `await using`) when done;
 * use after disposal throws.
 */
export class Model {
  #native: NativeModel | null;
  readonly config: ModelConfig;
  /** The directory it was loaded from (where `learned` schedules are looked up). */
  readonly dir: string | undefined;

  private constructor(native: NativeModel, config: ModelConfig, dir?: string) {
    this.#native = native;
    this.config = config;
    this.dir = dir;
  }

  /** Random initialization (torch's defaults) from a seed. */
  static create(config: ModelConfigInput, seed = 0): Model {
    const parsed = parseModelConfig(config);
    return new Model(new (loadNative().Model)(parsed, { seed }), parsed);
  }

  /** Loads `dir/config.json` and `dir/model.safetensors`, checking names and shapes agree. */
  static load(dir: string): Model {
    const configPath = join(dir, CONFIG_FILE);
    const weights = join(dir, MODEL_FILE);
    if (!existsSync(configPath))
      throw new AppError('NOT_FOUND', `no ${CONFIG_FILE} in ${dir}; is it an Anneal checkpoint?`);
    if (!existsSync(weights)) throw new AppError('NOT_FOUND', `no ${MODEL_FILE} in ${dir}`);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(configPath, 'utf8'));
    } catch (err) {
      throw new AppError(
        'BAD_REQUEST',
        `${configPath} is not valid JSON: ${(err as Error).message}`,
      );
    }
    const config = parseModelConfig(raw, configPath);
    try {
      return new Model(new (loadNative().Model)(config, { weights }), config, dir);
    } catch (err) {
      throw fromNativeError(err, weights);
    }
  }

  /**
   * The same weights at another square resolution: the U-Net is convolutional and its
   * attention layers take any token count, so only sample_size (and the dataset's recorded
   * resolution) change. Throws AppError(BAD_REQUEST) when `resolution` is not a multiple of
   * the U-Net's downsampling factor 2^(levels-1).
   */
  atResolution(resolution: number): Model {
    const factor = 2 ** (this.config.unet.block_out_channels.length - 1);
    if (!Number.isInteger(resolution) || resolution < factor || resolution % factor !== 0)
      throw new AppError(
        'BAD_REQUEST',
        `resolution ${resolution}: this U-Net takes sides that are multiples of ${factor} (2^(levels-1))`,
      );
    const config = parseModelConfig(
      {
        ...this.config,
        unet: { ...this.config.unet, sample_size: resolution },
        ...(this.config.dataset ? { dataset: { ...this.config.dataset, resolution } } : {}),
      },
      `the model at ${resolution}x${resolution}`,
    );
    try {
      return new Model(this.native.derive(config), config);
    } catch (err) {
      throw fromNativeError(err, `the model at ${resolution}x${resolution}`);
    }
  }

  /** A copy: the same weights and config (a progressive-distillation student starts as one). */
  clone(): Model {
    return new Model(this.native.derive(this.config), this.config);
  }

  /**
   * A distillation student built from this teacher's weights. `consistency`: a consistency
   * model whose f wraps this model's own parameterization and timestep input (so the student
   * starts out seeing what the teacher was trained on), with the boundary at `sigmaMin`
   * (default: the teacher table's smallest sigma); at init f(x, sigma) is the teacher's DDIM
   * jump from sigma to sigmaMin.
   * `progressive`: the teacher's weights predicting v or x0 (`parameterization`, default the
   * teacher's own when it is v or x0, else v). A v, x0 or EDM teacher gives a copy (an EDM
   * teacher's weights cannot be read as v or x0: asking for that is refused); an eps teacher
   * is converted, not copied: progressive distillation breaks down with eps students (Salimans
   * & Ho 2022, section 4), so the student reads the same network as v, which agrees with eps at
   * low noise (v = alpha eps - sigma alpha x0) and learns the rest in the first stage.
   */
  static studentOf(
    teacher: Model,
    spec:
      | { kind: 'progressive'; parameterization?: 'v' | 'x0' }
      | { kind: 'consistency'; sigmaMin?: number },
  ): Model {
    // A student learns from the teacher's outputs at its square, not from its aspect buckets.
    if (teacher.config.buckets) {
      const { buckets: _, ...config } = teacher.config;
      const square = new Model(teacher.native.derive(config), config);
      try {
        return Model.studentOf(square, spec);
      } finally {
        square.dispose();
      }
    }
    if (spec.kind === 'progressive') {
      const own = teacher.config.parameterization;
      if (own === 'consistency')
        throw new AppError('BAD_REQUEST', 'a consistency model cannot be a progressive teacher');
      if (own === 'edm') {
        // An EDM network's output means F in D = c_skip x + c_out F with EDM's scalings and
        // log-sigma input: read as a VP v or x0 network it would be another function entirely.
        if (spec.parameterization)
          throw new AppError(
            'BAD_REQUEST',
            `an EDM teacher's network cannot be read as ${spec.parameterization}: its student is an EDM copy (omit parameterization)`,
          );
        return teacher.clone();
      }
      const parameterization = spec.parameterization ?? (own === 'x0' || own === 'v' ? own : 'v');
      if (parameterization === own) return teacher.clone();
      const config = parseModelConfig(
        { ...teacher.config, parameterization },
        'progressive student',
      );
      return new Model(teacher.native.derive(config), config);
    }
    const inner = teacher.config.parameterization;
    if (inner !== 'eps' && inner !== 'v' && inner !== 'x0')
      throw new AppError(
        'BAD_REQUEST',
        `a consistency student wraps a VP teacher (eps, v or x0); this teacher is ${inner}`,
      );
    const config = parseModelConfig(
      {
        ...teacher.config,
        parameterization: 'consistency',
        consistency: {
          inner,
          sigma_min: spec.sigmaMin ?? teacher.sigmaRange().sigmaMin,
        },
      },
      'consistency student',
    );
    try {
      return new Model(teacher.native.derive(config), config);
    } catch (err) {
      throw fromNativeError(err, 'consistency student');
    }
  }

  /**
   * Weight inheritance (how BK-SDM initializes a student pruned from its teacher): each of
   * this model's tensors whose name and shape `teacher` also has takes the teacher's values;
   * the rest keep their initialization. With diffusers' names, a student with fewer layers per
   * block inherits the layers it kept whose shapes did not change.
   *
   * `narrow` also initializes what pruning changed (native/src/engine/distill/inherit.h): a
   * student with fewer levels takes its up blocks from the teacher's at the same level, and a
   * narrower tensor takes the teacher's restricted to its leading channels on each axis (one
   * channel set per feature map, whole heads, each part of an up block's [input, skip], the
   * nearest time-embedding frequencies), as width pruning keeps a subset of channels.
   * Returns how many tensors were copied whole and narrowed, of how many, and how many scalar
   * parameters of this model came from the teacher, of how many. The teacher may be disposed
   * after. Throws AppError(BAD_REQUEST) for a teacher of other in/out channels or classes.
   */
  inheritFrom(
    teacher: Model,
    options: { narrow?: boolean } = {},
  ): {
    copied: number;
    narrowed: number;
    total: number;
    copiedParameters: number;
    totalParameters: number;
  } {
    try {
      return this.native.inheritFrom(teacher.native, options);
    } catch (err) {
      throw fromNativeError(err, 'inheritFrom');
    }
  }

  /**
   * The steps + 1 sigmas sampling uses for `sampler` at `steps` on schedule kind `schedule`
   * (default: the sampler's default on this model), from `sigmaMax` (default: the largest).
   */
  scheduleSigmas(spec: {
    sampler: SamplerName;
    steps: number;
    schedule?: 'default' | 'uniform' | 'karras' | 'exponential';
    sigmaMax?: number;
    height?: number;
    width?: number;
  }): number[] {
    try {
      return this.native.scheduleSigmas(spec);
    } catch (err) {
      throw fromNativeError(err, 'scheduleSigmas');
    }
  }

  /**
   * The noise levels sampling spans: a VP table's ends, or a consistency model's boundary and
   * top; at height x width when given (a resolution-shifted schedule moves with the size).
   */
  sigmaRange(size: { height?: number; width?: number } = {}): {
    sigmaMin: number;
    sigmaMax: number;
  } {
    return this.native.sigmaRange(size);
  }

  /** @internal Wraps a native model produced by the trainer. */
  static fromNative(native: NativeModel, config: ModelConfig): Model {
    return new Model(native, config);
  }

  get native(): NativeModel {
    if (!this.#native) throw new AppError('PRECONDITION_FAILED', 'this Model has been disposed');
    return this.#native;
  }

  parameterCount(): number {
    return this.native.parameterCount();
  }

  /** Parameters, forward FLOPs and saved activation bytes per image, without training. */
  cost() {
    return this.native.cost();
  }

  /**
   * Measured training cost on random data: median step latency, images/s and peak memory
   * of `steps` compiled steps at `batch` (after `warmup`). The weights are not changed.
   */
  measureStep(options: {
    batch: number;
    steps?: number;
    warmup?: number;
    accumulationSteps?: number;
  }) {
    return this.native.measureStep({
      batch: options.batch,
      steps: options.steps ?? 3,
      warmup: options.warmup ?? 2,
      accumulationSteps: options.accumulationSteps ?? 1,
    });
  }

  /** Writes config.json and model.safetensors into `dir` (created if needed). */
  save(dir: string, extra: Partial<ModelConfig> = {}): void {
    mkdirSync(dir, { recursive: true });
    this.native.save(join(dir, MODEL_FILE));
    writeFileAtomic(
      join(dir, CONFIG_FILE),
      `${JSON.stringify({ ...this.config, ...extra }, null, 2)}\n`,
    );
  }

  /**
   * Samples images; `onStep` sees (step, total) across all chunks. `schedule` also takes `ays`,
   * `learned` (this model's directory's schedules/<sampler>-nfe<K>.json) or a path to a learned
   * schedule file (see resolveSchedule); explicit `sigmas` win over it.
   */
  async sample(
    spec: Omit<Partial<SamplingConfig>, 'schedule'> & {
      n: number;
      schedule?: string;
    } & SampleExtras,
    onStep?: (step: number, total: number) => void,
  ): Promise<SampleResult> {
    const sampler = spec.sampler ?? SAMPLING_DEFAULTS.sampler;
    const steps = spec.steps ?? SAMPLING_DEFAULTS.steps;
    let schedule = spec.schedule ?? SAMPLING_DEFAULTS.schedule;
    let sigmas = spec.sigmas;
    let sigmaMax = spec.sigma_max;
    const size = { height: spec.height, width: spec.width };
    const factor = 2 ** (this.config.unet.block_out_channels.length - 1);
    if (
      [size.height, size.width].some(
        (s) => s !== undefined && (!Number.isInteger(s) || s < factor || s % factor !== 0),
      )
    )
      throw new AppError(
        'BAD_REQUEST',
        `${size.height ?? this.config.unet.sample_size}x${size.width ?? this.config.unet.sample_size}: this U-Net takes sides that are multiples of ${factor} (2^(levels-1))`,
      );
    if (!sigmas) {
      const resolved = resolveSchedule({
        schedule,
        sampler,
        steps,
        sigmaRange: () => this.sigmaRange(size),
        dir: this.dir,
        sigmaMax,
      });
      if (resolved.sigmas) {
        sigmas = resolved.sigmas;
        schedule = 'default';
        sigmaMax = undefined;
      }
    }
    const attention = spec.attention ?? this.samplingAttention(spec) ?? { kind: 'fused' };
    const r = await this.native.sample(
      {
        attention,
        sampler,
        steps,
        n: spec.n,
        height: spec.height,
        width: spec.width,
        seed: spec.seed ?? SAMPLING_DEFAULTS.seed,
        classLabel: spec.class ?? -1,
        guidance: spec.guidance ?? SAMPLING_DEFAULTS.guidance,
        eta: spec.eta ?? SAMPLING_DEFAULTS.eta,
        schedule,
        sigmaMax,
        sigmas,
        clipDenoised: spec.clipDenoised,
        chunk: spec.chunk,
        firstChunk: spec.firstChunk,
        dtype: spec.dtype,
        noise: spec.noise,
        stepNoise: spec.stepNoise,
        returnNoise: spec.returnNoise,
        returnValues: spec.returnValues,
        rtol: spec.rtol,
        atol: spec.atol,
      },
      onStep ? (p) => onStep(p.step, p.total) : undefined,
    );
    return { ...r, attention };
  }

  /** The attention execution that fits `spec.budget` when sampling (undefined without one). */
  samplingAttention(spec: {
    n: number;
    guidance?: number;
    dtype?: ComputeDtype;
    chunk?: number;
    budget?: MemoryBudget;
    height?: number;
    width?: number;
  }): AttentionExec | undefined {
    if (!spec.budget) return undefined;
    const rest = estimateSamplingMemory(this.config.unet, spec);
    return chooseAttention(this.config.unet, {
      batch: rest.batch,
      height: spec.height,
      width: spec.width,
      availableBytes: spec.budget.bytes - rest.total,
      dtype: spec.dtype,
    }).exec;
  }

  /**
   * Learns the sigma schedule for `sampler` at `nfe` that best reproduces a high-NFE reference
   * trajectory (Heun at 100 steps by default) from the same calibration noise, scored on a
   * held-out batch too (engine/schedule_learn.cpp describes the method). Rejects a stochastic
   * sampler, nfe < 1, an even Heun nfe and consistency models with a BAD_REQUEST naming it.
   */
  async learnSchedule(spec: LearnScheduleSpec): Promise<NativeLearnScheduleResult> {
    let handle: ReturnType<NativeModel['learnSchedule']>;
    try {
      handle = this.native.learnSchedule(
        {
          sampler: spec.sampler,
          nfe: spec.nfe,
          n: spec.n ?? 64,
          seed: spec.seed ?? 0,
          heldoutSeed: spec.heldoutSeed ?? 1,
          classLabel: spec.class ?? -1,
          guidance: spec.guidance ?? 1,
          initial: spec.initial ?? 'default',
          reference: spec.reference ?? { sampler: 'heun', steps: 100 },
          sweeps: spec.sweeps,
          sigmaMax: spec.sigmaMax,
          compare: spec.compare,
          knownReference: spec.knownReference,
          resume: spec.resume,
        },
        spec.onProgress,
      );
    } catch (err) {
      throw fromNativeError(err, 'learnSchedule');
    }
    const onAbort = () => handle.cancel();
    if (spec.signal?.aborted) handle.cancel();
    spec.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await handle.result;
    } catch (err) {
      throw fromNativeError(err, 'learnSchedule');
    } finally {
      spec.signal?.removeEventListener('abort', onAbort);
    }
  }

  dispose(): void {
    this.#native?.dispose();
    this.#native = null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}
