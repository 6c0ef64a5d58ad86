// The shape of what native/src/addon exports. Kept beside the loader so each binding's
// TypeScript signature sits next to the others.
//
// Errors: no binding lets a C++ exception abort the process. Every one throws (sync) or
// rejects with (async) an Error whose `code` is a NativeErrorCode. A sync binding throws
// TypeError/RangeError for an argument it refuses; an async one validates its arguments
// synchronously (so a bad option throws, it does not reject) and rejects for what fails
// while it runs. native/src/addon/errors.h maps C++ exception types to these codes.
import type { HardwareProfile } from './config/hardware.ts';
import type { UNetConfig } from './config/model.ts';

/**
 * The `code` of an Error thrown by the native addon.
 * - ANNEAL_INVALID_ARGUMENT: a bad argument, shape, range, name or count (std::invalid_argument
 *   and MLX's shape errors; TypeError/RangeError from argument checks).
 * - ANNEAL_NOT_FOUND: a file the caller named does not exist.
 * - ANNEAL_IO: a file that cannot be read as what it should be (corrupt, cut short) or written.
 * - ANNEAL_MEMORY_BUDGET: the job does not fit its memory budget (estimate or peak).
 * - ANNEAL_OUT_OF_MEMORY: an allocation failed (std::bad_alloc).
 * - ANNEAL_DIVERGED: training's loss stayed non-finite.
 * - ANNEAL_INVALID_STATE: a disposed Model, or a Trainer used while run() is pending.
 * - ANNEAL_INTERNAL: anything else (a bug, or an MLX failure with no better code).
 */
export type NativeErrorCode =
  | 'ANNEAL_INVALID_ARGUMENT'
  | 'ANNEAL_NOT_FOUND'
  | 'ANNEAL_IO'
  | 'ANNEAL_MEMORY_BUDGET'
  | 'ANNEAL_OUT_OF_MEMORY'
  | 'ANNEAL_DIVERGED'
  | 'ANNEAL_INVALID_STATE'
  | 'ANNEAL_INTERNAL';

export const NATIVE_ERROR_CODES: readonly NativeErrorCode[] = [
  'ANNEAL_INVALID_ARGUMENT',
  'ANNEAL_NOT_FOUND',
  'ANNEAL_IO',
  'ANNEAL_MEMORY_BUDGET',
  'ANNEAL_OUT_OF_MEMORY',
  'ANNEAL_DIVERGED',
  'ANNEAL_INVALID_STATE',
  'ANNEAL_INTERNAL',
];

/** What every binding throws or rejects with. */
export interface NativeError extends Error {
  code: NativeErrorCode;
}

export interface ThroughputResult {
  gflops: number;
  seconds: number;
  flops: number;
  iterations: number;
}

export interface MemoryStats {
  activeBytes: number;
  peakBytes: number;
  cacheBytes: number;
  limitBytes: number;
}

export interface MemoryBudget {
  bytes: number;
  source: string;
}

export interface JobMemorySpec {
  parameterCount: number;
  bytesPerParameter?: number;
  optimizerStatesPerParameter?: number;
  gradients?: boolean;
  ema?: boolean;
  activationBytesPerExample?: number;
  /** Examples whose activations are held at once: with accumulation, the micro-batch. */
  batchSize?: number;
  /** > 1: gradient accumulation, whose running gradient sum counts as a second copy. */
  accumulationSteps?: number;
  /** Training with rollback: the last good state and the Model's own weights are held too. */
  snapshot?: boolean;
  workspaceFraction?: number;
}

export interface MemoryEstimate {
  parameters: number;
  gradients: number;
  optimizerState: number;
  ema: number;
  /** Training: the update's second copy of weights, AdamW moments and EMA. */
  update: number;
  /** The rollback snapshot (weights, AdamW moments, EMA) and the Model's own weights. */
  snapshot: number;
  activations: number;
  workspace: number;
  total: number;
}

export interface NativeAddon extends NativeClasses {
  mlxVersion: string;
  hardware: {
    /** Sync. Throws ANNEAL_INTERNAL if MLX cannot report its device. */
    probe(): HardwareProfile;
    /** Sync, pure. Throws ANNEAL_INVALID_ARGUMENT (TypeError) for a non-string sysctl text or a deviceInfo value that is neither string nor number. */
    parseApple(sysctlText: string, deviceInfo: Record<string, string | number>): HardwareProfile;
  };
  /** All sync; a bad spec or budget field throws ANNEAL_INVALID_ARGUMENT (TypeError/RangeError). */
  memory: {
    stats(): MemoryStats;
    resetPeak(): void;
    /** Throws ANNEAL_INVALID_ARGUMENT unless 0 < fraction <= 1. */
    defaultBudget(fraction?: number): MemoryBudget;
    estimate(spec: JobMemorySpec): MemoryEstimate;
    /** Throws ANNEAL_MEMORY_BUDGET naming estimate and budget when the job does not fit. */
    assertFits(spec: JobMemorySpec, budget: MemoryBudget): void;
    applyLimits(budget: MemoryBudget): void;
    /** Throws ANNEAL_MEMORY_BUDGET when MLX's peak memory has crossed the budget. */
    checkPeak(budget: MemoryBudget, step?: number): void;
  };
  /** Async; a bad option throws ANNEAL_INVALID_ARGUMENT synchronously, an engine failure rejects with its code. */
  throughput: {
    matmul(options?: { n?: number; iterations?: number }): Promise<ThroughputResult>;
    conv(options?: {
      batch?: number;
      size?: number;
      channels?: number;
      kernel?: number;
      iterations?: number;
    }): Promise<ThroughputResult>;
  };
  attention: {
    /**
     * Async: one attention operation alone, inputs drawn from `seed`
     * (engine/attention_measure.h).
     */
    run(options: NativeAttentionRunOptions): Promise<NativeAttentionRunResult>;
    /**
     * Sync: what one call holds beyond its inputs and output (engine/attention.h,
     * attention_bytes).
     */
    bytes(
      options: NativeAttentionShape &
        NativeAttentionExec & { checkpoint?: boolean; training?: boolean; dtypeBytes?: number },
    ): AttentionBytes;
    /** Sync: what a U-Net's softmax attention layers hold (engine/unet.h, unet_attention_bytes). */
    unetBytes(
      options: NativeAttentionWorkload & { unet: UNetConfig } & NativeAttentionExec,
    ): AttentionBytes;
    /**
     * Sync: fused, or sliced with the largest slice whose bytes fit `availableBytes`
     * (choose_attention); throws ANNEAL_MEMORY_BUDGET, naming the numbers, when even a slice
     * of one query does not.
     */
    choose(
      options: NativeAttentionWorkload & {
        unet: UNetConfig;
        availableBytes: number;
      },
    ): NativeAttentionExec & { bytes: AttentionBytes; fusedBytes: AttentionBytes };
  };
  ops: {
    /** Sync. Throws ANNEAL_INVALID_ARGUMENT (TypeError/RangeError) for a non-Float32Array, a shape that does not match, or inner dimensions that differ. */
    matmul(
      a: Float32Array,
      aShape: [number, number],
      b: Float32Array,
      bShape: [number, number],
    ): { data: Float32Array; shape: [number, number] };
  };
}

/** How softmax attention executes: fused, or sliced over `slice` queries at a time. */
export type NativeAttentionExec = { kind: 'fused' } | { kind: 'sliced'; slice: number };

/** The images a U-Net's attention runs on (engine AttentionWorkload). */
export interface NativeAttentionWorkload {
  batch: number;
  /** Image sides (default: the config's sample_size); multiples of 2^(levels-1). */
  height?: number;
  width?: number;
  training?: boolean;
  dtypeBytes?: number;
}

/** Bytes attention holds beyond its inputs and outputs: kept for backward, and transient. */
export interface AttentionBytes {
  kept: number;
  transient: number;
  total: number;
}

export interface NativeAttentionShape {
  batch: number;
  heads: number;
  /** N = H * W. */
  tokens: number;
  headDim: number;
}

export interface NativeAttentionRunOptions extends NativeAttentionShape {
  kind: 'fused' | 'sliced' | 'linear';
  slice?: number;
  /** Sliced: recompute each slice in backward (default true). */
  checkpoint?: boolean;
  /** Forward + backward (gradients of <O, R> for a random R). */
  backward?: boolean;
  /** Forward + backward through mx::compile, as the trainer's step runs (default false). */
  compile?: boolean;
  /** The dtype the op computes in (default float32); values come back as float32. */
  dtype?: 'float32' | 'bfloat16' | 'float16';
  /**
   * The drawn inputs are rounded to this first (default: dtype). float32 on bfloat16-rounded
   * inputs is the exact-input reference for a bfloat16 run.
   */
  inputDtype?: 'float32' | 'bfloat16' | 'float16';
  /** >= 0. */
  seed?: number;
  /** Timed runs after one warm-up (default 1); 0: one untimed run. */
  iterations?: number;
  /** Return the output and, with backward, the gradients. */
  keepValues?: boolean;
}

export interface NativeAttentionRunResult {
  /** Median wall time of one run (0 with iterations 0). */
  seconds: number;
  /** MLX's peak after a reset, over the runs. */
  peakBytes: number;
  /** Active bytes before the runs: q, k, v, R. */
  baselineBytes: number;
  /** peakBytes - baselineBytes: the operation's own peak, outputs and gradients included. */
  workingBytes: number;
  /** With keepValues: the inputs drawn from the seed, [B, heads, N, d]. */
  q?: Float32Array;
  k?: Float32Array;
  v?: Float32Array;
  output?: Float32Array;
  dq?: Float32Array;
  dk?: Float32Array;
  dv?: Float32Array;
}

export interface NativeSampleSpec {
  sampler: string;
  steps: number;
  n: number;
  /**
   * The images' sides (default the config's sample_size; multiples of 2^(levels-1)): a
   * multi-resolution model's aspect buckets. A resolution-shifted schedule shifts with them.
   */
  height?: number;
  width?: number;
  seed: number;
  classLabel?: number;
  guidance?: number;
  eta?: number;
  schedule?: string;
  /** Start the schedule here instead of the model's largest sigma (GenerateSpec's sigma_max). */
  sigmaMax?: number;
  sigmas?: number[];
  /** Images per batch (GenerateSpec::chunk, default 64): the batch the network sees. */
  chunk?: number;
  /**
   * This call's first chunk in a longer run (GenerateSpec::first_chunk): its chunks draw the
   * noise and labels of chunks firstChunk, firstChunk + 1, ... of that run.
   */
  firstChunk?: number;
  /** The U-Net's compute dtype (default float32); the sampler's arithmetic stays float32. */
  dtype?: 'float32' | 'bfloat16' | 'float16';
  /** Clamp each denoised estimate to [-1, 1] (the engine's default: true). */
  clipDenoised?: boolean;
  /** Initial unit-normal noise, n*H*W*C values (NHWC); x at sigmas[0] is noise * sigmas[0]. */
  noise?: Float32Array;
  /** Unit-normal noise a stochastic sampler injects, steps*n*H*W*C values; entry i at step i. */
  stepNoise?: Float32Array;
  /** Return the noise used (given or drawn from the seed) as `noise` and `stepNoise`. */
  returnNoise?: boolean;
  /** Return the float32 images in [-1, 1] as `values`. */
  returnValues?: boolean;
  /** The adaptive sampler's relative and absolute tolerances (> 0; engine defaults 0.05, 0.0078). */
  rtol?: number;
  atol?: number;
  /** How softmax attention executes (default fused); outputs agree to rounding. */
  attention?: NativeAttentionExec;
}

/**
 * What the reference runs leave for learning (engine/schedule_learn.h LearnReference): the
 * DP's jump costs on the reference grid (N x (N + 1), row-major) and both batches' reference
 * endpoints. The same for every sampler and NFE learned against that reference and noise.
 */
export interface NativeLearnReference {
  /** The reference's sigmas: a record is only used by a learn on the same grid. */
  grid: number[];
  cost: Float64Array;
  trainEnd: Float32Array;
  heldoutEnd: Float32Array;
}

/** Where the coordinate descent stands at the start of a coordinate (LearnCheckpoint). */
export interface NativeLearnCheckpoint {
  dpSigmas: number[];
  best: number[];
  baselineTrain: number;
  dpTrain: number;
  bestError: number;
  sweep: number;
  k: number;
  move: number;
  done: number;
  evaluations: number;
}

export interface NativeLearnScheduleProgress {
  phase: 'reference' | 'grid' | 'refine' | 'score';
  done: number;
  total: number;
  /** The best training error so far (refine), else 0. */
  error: number;
  /** Once, when the reference runs end: their record, for later learns to reuse. */
  reference?: NativeLearnReference;
  /** At the start of every coordinate of the descent: where it stands, to resume from. */
  checkpoint?: NativeLearnCheckpoint;
}

/** Errors: mean squared error per element between the sampler's endpoint and the reference's. */
export interface NativeLearnScheduleResult {
  sigmas: number[];
  /** The dynamic-programming initialization on the reference grid. */
  dpSigmas: number[];
  /** The baseline schedule. */
  initialSigmas: number[];
  baselineTrain: number;
  baselineHeldout: number;
  learnedTrain: number;
  learnedHeldout: number;
  /** The DP schedule's training error; learnedTrain never exceeds it. */
  dpTrain: number;
  /** Sampler runs on the calibration batch while learning. */
  evaluations: number;
  nfe: number;
  cancelled: boolean;
  /** A known reference record was used: no reference runs. */
  referenceReused: boolean;
  /** The descent continued from a checkpoint. */
  resumed: boolean;
  /** The schedules of `compare`, scored on the same batches: kinds first, then lists. */
  compare: Array<{ sigmas: number[]; train: number; heldout: number }>;
}

export interface NativeSampleResult {
  images: Uint8Array;
  /** Values that were NaN or infinite before quantization to uint8 (0 for a healthy model). */
  nonFinite: number;
  shape: [number, number, number, number];
  nfe: number;
  steps: number;
  /** With returnValues: float32 NHWC images in [-1, 1]. */
  values?: Float32Array;
  /** With returnNoise: the noise used, in the layouts of NativeSampleSpec (zeros for steps that drew none). */
  noise?: Float32Array;
  stepNoise?: Float32Array;
  /**
   * The adaptive sampler: network evaluations per image (counting guidance; `nfe` is then the
   * largest), batched denoiser calls, and image rows handed to the network in all.
   */
  nfePerImage?: Int32Array;
  calls?: number;
  rowsEvaluated?: number;
  /** The adaptive sampler: step attempts its error control rejected, summed over images. */
  rejected?: number;
}

/**
 * Every method throws ANNEAL_INVALID_STATE after dispose(). Sync methods throw
 * ANNEAL_INVALID_ARGUMENT for bad arguments and shapes; the async ones (measureStep, sample)
 * throw it synchronously for a bad option and reject with the engine's code for what fails
 * while they run (e.g. an explicit sigma schedule that is not decreasing).
 */
export interface NativeModel {
  parameterCount(): number;
  parameterNames(): string[];
  /** Sync. x must hold shape's B*H*W*C values, C the model's input channels; t has B entries. */
  forward(
    x: Float32Array,
    shape: [number, number, number, number],
    t: Float32Array,
    labels?: Int32Array,
    options?: { attention?: NativeAttentionExec },
  ): Float32Array;
  /** Sync. Throws ANNEAL_IO when the path cannot be written. */
  save(path: string, metadata?: Record<string, string>): void;
  cost(): {
    parameters: number;
    forwardFlopsPerImage: number;
    activationBytesPerImage: number;
  };
  measureStep(options: {
    batch: number;
    steps: number;
    warmup?: number;
    accumulationSteps?: number;
  }): Promise<{
    stepSeconds: number;
    imagesPerSecond: number;
    peakBytes: number;
    steps: number;
  }>;
  sample(
    spec: NativeSampleSpec,
    onStep?: (p: { step: number; total: number }) => void,
  ): Promise<NativeSampleResult>;
  /** Sync: the steps + 1 sigmas sampling would use (schedule "default": the sampler's default). */
  scheduleSigmas(spec: {
    sampler: string;
    steps: number;
    schedule?: string;
    sigmaMax?: number;
    rho?: number;
    /** At these sides (default sample_size): a resolution-shifted schedule moves with them. */
    height?: number;
    width?: number;
  }): number[];
  /**
   * Async: `result` settles when learning ends (see addon/schedule_learn.h); cancel() stops it
   * after the sampler run in progress. A bad field throws synchronously.
   */
  learnSchedule(
    spec: {
      sampler: string;
      nfe: number;
      n?: number;
      seed?: number;
      heldoutSeed?: number;
      classLabel?: number;
      guidance?: number;
      clipDenoised?: boolean;
      initial?: string;
      rho?: number;
      sigmaMax?: number;
      reference?: { sampler: string; steps: number };
      sweeps?: number;
      compare?: Array<string | number[]>;
      /** A record of the same reference runs (same model, noise, reference): not run again. */
      knownReference?: NativeLearnReference;
      /** A checkpoint of this same learn: the descent continues from it. */
      resume?: NativeLearnCheckpoint;
    },
    onProgress?: (p: NativeLearnScheduleProgress) => void,
  ): { result: Promise<NativeLearnScheduleResult>; cancel(): void };
  gradientCheck(options?: { seed?: number; epsilon?: number }): {
    analytic: number;
    numeric: number;
  };
  /**
   * Sync. The same weights (shared) under another config: a copy, or a consistency student
   * around the same U-Net. A bad config field throws ANNEAL_INVALID_ARGUMENT (TypeError);
   * weights that do not fit the config's U-Net throw ANNEAL_INVALID_ARGUMENT.
   */
  derive(config: unknown): NativeModel;
  /**
   * Sync. Each of this model's tensors whose name and shape `teacher` also has takes the
   * teacher's values (BK-SDM's initialization of a pruned student); with `narrow`, also up
   * blocks by level and narrower tensors restricted to the teacher's leading channels
   * (engine/distill/inherit.h); the rest stay as they are. Counts tensors (copied whole,
   * narrowed, total) and scalar parameters (copiedParameters: from the teacher either way,
   * totalParameters) of this model. The teacher may be disposed after. Throws
   * ANNEAL_INVALID_ARGUMENT for a teacher of other in/out channels or classes, a TypeError
   * unless `teacher` is a NativeModel.
   */
  inheritFrom(
    teacher: NativeModel,
    options?: { narrow?: boolean },
  ): {
    copied: number;
    narrowed: number;
    total: number;
    copiedParameters: number;
    totalParameters: number;
  };
  /**
   * Sync. The noise levels sampling spans (VP table ends; consistency: sigma_min and the
   * table's top), at height x width when given (default sample_size): a resolution shift
   * moves the range.
   */
  sigmaRange(size?: { height?: number; width?: number }): { sigmaMin: number; sigmaMax: number };
  dispose(): void;
}

export interface NativeStepReport {
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
  lrScale: number;
  rolledBack: boolean;
  restoredTo: number;
  peakBytes: number;
  activeBytes: number;
  seconds: number;
  /** The stage this step belonged to (0 for a run of one stage). */
  stage: number;
  /** The bucket its batch came from (index into options.buckets; 0 with options.shards). */
  bucket: number;
  /** Its batch's image shape and size. */
  height: number;
  width: number;
  batch: number;
}

/**
 * One image shape's shards; batchSize defaults to the trainer's batchSize, accumulationSteps
 * (the micro-batches that batch is split into whenever a step draws from this bucket) to the
 * trainer's accumulationSteps.
 */
export interface NativeTrainingBucket {
  shards: string[];
  batchSize?: number;
  accumulationSteps?: number;
}

/** Steps [previous endStep, endStep) draw from `buckets` (indices into options.buckets). */
export interface NativeTrainingStage {
  endStep: number;
  buckets: number[];
}

export interface NativeGroupInfo {
  rank: number;
  size: number;
  backend: string;
}

export interface NativeTrainerOptions {
  /** How the student's softmax attention executes (default fused); sliced is checkpointed. */
  attention?: NativeAttentionExec;
  /** The effective batch of one optimizer step. */
  batchSize: number;
  /** Micro-batches per step whose gradients are averaged; divides batchSize. Default 1. */
  accumulationSteps?: number;
  /**
   * Train data-parallel on the group distributed.init joined: each rank takes its rows of every
   * batch, the step all_sums the gradients. batchSize must be a multiple of ranks x
   * accumulationSteps (RangeError); TypeError before distributed.init.
   */
  dataParallel?: boolean;
  totalSteps: number;
  lr?: number;
  minLr?: number;
  warmupSteps?: number;
  /** cosine (default): decays to minLr over totalSteps; constant: lr after the warmup. */
  lrSchedule?: 'cosine' | 'constant';
  gradClip?: number;
  emaDecay?: number;
  weightDecay?: number;
  seed?: number;
  compile?: boolean;
  snapshotEvery?: number;
  maxRollbacks?: number;
  budgetBytes?: number;
  budgetSource?: string;
  /**
   * One resolution, the model's: `shards`. More than one image shape: `buckets` (sides
   * divisible by 2^(levels-1), any channels the model has) and optionally `stages` (absent: one
   * stage over every bucket). Each step's batch comes from one bucket of its stage, drawn by
   * (seed, step) in proportion to the buckets' sizes. Exactly one of shards and buckets.
   */
  shards?: string[];
  buckets?: NativeTrainingBucket[];
  stages?: NativeTrainingStage[];
  numClasses?: number;
  dtype?: 'float32' | 'bfloat16' | 'float16';
  cfgDropout?: number;
  /** none (default): plain network-space MSE; min-snr: x0-space weight min(SNR, minSnrGamma). */
  lossWeighting?: 'none' | 'min-snr';
  minSnrGamma?: number;
  /**
   * What the step minimizes (absent: denoising). The trainer holds references to the teacher's
   * weights (shared, not copied: MLX arrays are immutable; they enter each compiled step as
   * inputs), so the teacher Model may be disposed after.
   * Throws ANNEAL_INVALID_ARGUMENT (naming the problem) for an empty, even-length (progressive),
   * unsorted or out-of-range grid, an eps or consistency student (progressive), a
   * non-consistency student (consistency), a consistency student (output-distillation), a
   * negative or non-finite outputWeight, a consistency teacher, a teacher on another VP
   * schedule, or a teacher whose images, channels or classes differ from the student's.
   */
  objective?: NativeTrainingObjective;
}

export type NativeTrainingObjective =
  | { kind: 'denoising' }
  | {
      kind: 'progressive';
      teacher: NativeModel;
      /** 2N + 1 sigmas, strictly decreasing, ending in 0; the student takes N steps. */
      sigmas: number[];
      weighting?: 'truncated-snr' | 'snr+1';
    }
  | {
      kind: 'consistency-distillation';
      teacher: NativeModel;
      /** N >= 2 sigmas, strictly decreasing and positive, the last the student's sigma_min. */
      sigmas: number[];
      /** Pseudo-Huber c; absent or 0: 0.00054 sqrt(H W C). */
      huberC?: number;
    }
  | {
      kind: 'consistency-training';
      /**
       * The gap shrinks by q every halvingEvery steps (defaults 1000 and 2); a q^a at the last
       * step whose gap sigma_min / q^a underflows float32 is refused.
       */
      halvingEvery?: number;
      q?: number;
      /** ECT's log-normal over sigma (defaults -1.1 and 2.0). */
      pMean?: number;
      pStd?: number;
      huberC?: number;
    }
  | {
      /**
       * The denoising loss plus outputWeight (default 1, finite, >= 0) times the same loss
       * against the teacher's denoised estimate in the student's network space (BK-SDM's
       * output-level distillation). The student may have any U-Net taking the teacher's images,
       * labels and VP schedule; cfgDropout, lossWeighting, minSnrGamma and dtype apply to both
       * terms.
       */
      kind: 'output-distillation';
      teacher: NativeModel;
      outputWeight?: number;
    };

/**
 * saveState/loadState/ema/model throw ANNEAL_INVALID_STATE while run() is pending.
 * loadState throws ANNEAL_NOT_FOUND for a missing file, ANNEAL_IO for one that is not a
 * trainer state file or whose metadata is out of range (a negative step or epoch, a data
 * position outside 0..dataset size, naming the field), ANNEAL_INVALID_ARGUMENT for a state
 * of another run (seed, shapes, buckets or stages, naming both runs' buckets and stages);
 * saveState throws ANNEAL_IO when the path cannot be written.
 */
export interface NativeTrainer {
  readonly step: number;
  /** Where the next batch starts in the data order; permutationsBuilt counts epoch shuffles computed (one per epoch reached). */
  readonly dataOrder: {
    epoch: number;
    position: number;
    permutationsBuilt: number;
    /** The stage of the next step. */
    stage: number;
    /** Every bucket's cursor (bucket 0's is epoch/position). */
    buckets: { epoch: number; position: number }[];
  };
  /** Async. Throws ANNEAL_INVALID_ARGUMENT for a negative or non-numeric count; rejects with ANNEAL_DIVERGED or ANNEAL_MEMORY_BUDGET. */
  run(
    steps: number,
    onStep?: (r: NativeStepReport) => void,
  ): Promise<{ step: number; cancelled: boolean }>;
  cancel(): void;
  saveState(path: string): void;
  loadState(path: string): void;
  /** Sync: the next steps split the batch into k micro-batches; RangeError unless k divides it. */
  setAccumulationSteps(k: number): void;
  ema(): NativeModel;
  model(): NativeModel;
}

export interface NativeExtractorConfig {
  kind: 'classifier' | 'autoencoder';
  resolution: number;
  inChannels: number;
  channels: number[];
  featureDim: number;
  groups: number;
  numClasses: number;
}

export interface NativeExtractorTraining {
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  gradClip: number;
  noise: number;
  seed: number;
}

export interface NativeExtractorReport {
  /** null for autoencoders. */
  heldoutAccuracy: number | null;
  heldoutLoss: number;
  heldoutCount: number;
  steps: number;
}

export interface NativeExtracted {
  features: Float32Array;
  logits: Float32Array;
  n: number;
  dim: number;
  classes: number;
}

export interface GaussianTeacherOptions {
  config: { parameterization: string; schedule?: Record<string, unknown> };
  dim: number;
  mean: Float32Array;
  /** Columns are the eigenvectors, row-major [dim, dim]. */
  eigvecs: Float32Array;
  eigvals: Float32Array;
  n: number;
  /** [n, dim] points at the first sigma. */
  x: Float32Array;
}

export interface NativeClasses {
  extractor: {
    /**
     * Async: trains on data.train, evaluates on data.heldout, writes data.out. A bad config,
     * training option or out path throws ANNEAL_INVALID_ARGUMENT synchronously; a missing or
     * unreadable shard rejects with ANNEAL_NOT_FOUND / ANNEAL_IO, divergence with ANNEAL_DIVERGED.
     */
    train(
      config: NativeExtractorConfig,
      training: NativeExtractorTraining,
      data: { train: string[]; heldout: string[]; out: string },
      onProgress?: (p: { step: number; total: number; loss: number }) => void,
    ): Promise<NativeExtractorReport>;
    /**
     * Async: features (and logits for classifiers) of uint8 NHWC images. Bad arguments throw
     * ANNEAL_INVALID_ARGUMENT synchronously; missing or unreadable weights reject with
     * ANNEAL_NOT_FOUND / ANNEAL_IO, weights of another config with ANNEAL_INVALID_ARGUMENT.
     */
    features(
      config: NativeExtractorConfig,
      weights: string,
      images: Uint8Array,
      shape: [number, number, number, number],
    ): Promise<NativeExtracted>;
  };
  /**
   * Sync. A bad config throws ANNEAL_INVALID_ARGUMENT (TypeError naming the field); weights
   * that are missing throw ANNEAL_NOT_FOUND, unreadable ANNEAL_IO, of another config
   * ANNEAL_INVALID_ARGUMENT.
   */
  Model: new (
    config: unknown,
    options?: { seed?: number; weights?: string },
  ) => NativeModel;
  /**
   * Sync (loads the shards). A bad option throws ANNEAL_INVALID_ARGUMENT; a missing shard
   * ANNEAL_NOT_FOUND, an unreadable one ANNEAL_IO, shards that do not fit the model or hold
   * fewer images than one batch ANNEAL_INVALID_ARGUMENT.
   */
  Trainer: new (
    model: NativeModel,
    options: NativeTrainerOptions,
  ) => NativeTrainer;
  /**
   * MLX's distributed layer. `init` joins the process's group (for ring: MLX_RANK and
   * MLX_HOSTFILE in the environment), blocking until every rank has connected; an unknown
   * backend throws ANNEAL_INVALID_ARGUMENT, a group that cannot form ANNEAL_INTERNAL.
   */
  distributed: {
    available(backend: string): boolean;
    init(options: { backend?: string }): NativeGroupInfo;
    group(): NativeGroupInfo | null;
    /** Element-wise sum over the ranks; every rank must call it (ANNEAL_INVALID_STATE: no group). */
    allSum(values: Float32Array): Float32Array;
  };
  /**
   * The denoiser wrapper without a network, for checking each parameterization. All sync;
   * `config` is a model config (parameterization, sigma_data, sigma_min, schedule); arrays
   * are [B, H, W, C] of `shape`, sigma is [B]. Bad arguments throw ANNEAL_INVALID_ARGUMENT.
   */
  denoiser: {
    /** c_skip, c_out, c_in and c_noise per sigma. */
    scalings(
      config: unknown,
      sigma: Float32Array,
    ): { cSkip: Float32Array; cOut: Float32Array; cIn: Float32Array; cNoise: Float32Array };
    /** The network-space target (x0 - c_skip x) / c_out; throws ANNEAL_INVALID_ARGUMENT for consistency models. */
    target(
      config: unknown,
      xNoisy: Float32Array,
      x0: Float32Array,
      sigma: Float32Array,
      shape: [number, number, number, number],
    ): Float32Array;
    /**
     * The per-example weight on the network-space MSE under min-SNR loss weighting (x0-space
     * weight min(1/sigma^2, gamma)); throws ANNEAL_INVALID_ARGUMENT for edm and consistency.
     */
    minSnrWeight(config: unknown, sigma: Float32Array, gamma: number): Float32Array;
    /** D(x; sigma) around a network that returns networkOutput, and what that network was given. */
    denoise(
      config: unknown,
      x: Float32Array,
      sigma: Float32Array,
      networkOutput: Float32Array,
      shape: [number, number, number, number],
    ): { denoised: Float32Array; networkInput: Float32Array; cNoise: Float32Array };
  };
  /**
   * The distillation objectives' teacher computations on the closed-form denoiser of Gaussian
   * data (entering as `config`'s eps/v/x0 network output through the Denoiser wrapper). Both
   * sync; x is [n, dim]; a bad field or sigmas out of order throw ANNEAL_INVALID_ARGUMENT.
   */
  distill: {
    /** Two teacher DDIM steps sigmaT -> sigmaMid -> sigmaS, and the student's x-target (x_s - r x) / (1 - r). */
    progressiveTarget(
      options: GaussianTeacherOptions & {
        sigmaT: number;
        sigmaMid: number;
        sigmaS: number;
      },
    ): { xS: Float32Array; target: Float32Array };
    /** The teacher's Heun step sigma -> sigmaNext > 0 (consistency distillation's x^_{n+1}). */
    teacherHeunStep(
      options: GaussianTeacherOptions & { sigma: number; sigmaNext: number },
    ): Float32Array;
    /**
     * One evaluation of the progressive objective's loss, term by term (its loss is
     * mean(weight * perExample)), with the Gaussian teacher and, as student, the same Gaussian's
     * denoiser around `studentMean`; `x` is the data x0. Per example: the student step index i,
     * sigma_t = grid[2i], the noise z (x_t = x0 + sigma_t z), the x-target, the weight and the
     * mean squared x-space error. A grid that is not 2N + 1 decreasing sigmas ending in 0 throws
     * ANNEAL_INVALID_ARGUMENT.
     */
    progressiveLoss(
      options: GaussianTeacherOptions & {
        studentMean: Float32Array;
        grid: number[];
        weighting?: 'truncated-snr' | 'snr+1';
        seed?: number;
      },
    ): {
      index: Int32Array;
      sigmaT: Float32Array;
      noise: Float32Array;
      target: Float32Array;
      weight: Float32Array;
      perExample: Float32Array;
      loss: number;
    };
    /**
     * One evaluation of the consistency-distillation loss, term by term (its loss is
     * mean(weight * perExample)), with the Gaussian teacher and, as student, the consistency
     * function (boundary sigmaMin) around the same Gaussian's denoiser centred on
     * `studentMean`; `x` is the data x0. Per example: the pair index j, sigmaHi = sigmas[j],
     * sigmaLo = sigmas[j + 1], the noise, the teacher's Heun step xLo, target f(xLo, sigmaLo),
     * online f(x0 + sigmaHi z, sigmaHi), weight 1 / (sigmaHi - sigmaLo) and the pseudo-Huber
     * distance (c = huberC, default 0.01). Bad sigmas throw ANNEAL_INVALID_ARGUMENT.
     */
    consistencyLoss(
      options: GaussianTeacherOptions & {
        studentMean: Float32Array;
        sigmas: number[];
        sigmaMin: number;
        huberC?: number;
        seed?: number;
      },
    ): {
      index: Int32Array;
      sigmaHi: Float32Array;
      sigmaLo: Float32Array;
      noise: Float32Array;
      xLo: Float32Array;
      target: Float32Array;
      online: Float32Array;
      weight: Float32Array;
      perExample: Float32Array;
      loss: number;
    };
    /**
     * Consistency training's sigma_r and gap sigma_t - sigma_r at a 1-based step (ECT,
     * a = floor((step - 1) / halvingEvery) + 1), with ECT's n(s) = 1 + 8 sigmoid(-s). Throws
     * ANNEAL_INVALID_ARGUMENT for an empty sigmaT, a sigma_t <= sigmaMin, step < 1 or q <= 1.
     */
    ectPair(options: {
      sigmaT: number[];
      step: number;
      sigmaMin: number;
      q?: number;
      halvingEvery?: number;
    }): { sigmaR: Float32Array; gap: Float32Array };
  };
  /** Both sync; a bad option, name or range (sigmaMin >= sigmaMax, NaN) throws ANNEAL_INVALID_ARGUMENT. */
  sampling: {
    sigmas(
      options: {
        steps: number;
        schedule: string;
        sigmaMin?: number;
        sigmaMax?: number;
        rho?: number;
        sigmas?: number[];
      },
      config?: unknown,
    ): number[];
    gaussian(options: {
      dim: number;
      mean: Float32Array;
      eigvecs: Float32Array;
      eigvals: Float32Array;
      sampler: string;
      steps: number;
      n: number;
      seed?: number;
      eta?: number;
      sigmaMax?: number;
      sigmaMin?: number;
      /**
       * A model config's {parameterization, schedule}: the closed form then enters as that VP
       * parameterization's network output (eps, v or x0) through the Denoiser wrapper and its
       * sigma -> timestep map, on the sigmas the model's sampling would use (sigmaMax/Min are
       * ignored).
       */
      config?: { parameterization: string; schedule?: Record<string, unknown> };
      /** With `config`: the schedule kind (default | uniform | karras | exponential). */
      schedule?: string;
      /** As the sample spec's sigmaMax: the schedule starts here. */
      startSigma?: number;
      /** The adaptive sampler's tolerances and first step (in lambda = -log sigma). */
      rtol?: number;
      atol?: number;
      hInit?: number;
      /** Row i's data is N(mean, U diag(eigvals * eigvalScale[i]) U^T) (not with config). */
      eigvalScale?: Float32Array;
    }): {
      samples: Float32Array;
      exact: Float32Array;
      /** The adaptive sampler: the most evaluations any row took. */
      nfe: number;
      sigmaMax: number;
      /** The adaptive sampler: evaluations per row, batched denoiser calls, and the rows the denoiser saw. */
      nfePerImage?: Int32Array;
      calls?: number;
      rowsEvaluated?: number;
      /** The adaptive sampler: rejected step attempts, summed over rows. */
      rejected?: number;
    };
    /** Sync: schedule learning on the closed-form Gaussian denoiser (addon/schedule_learn.h). */
    learnGaussian(options: {
      dim: number;
      mean: Float32Array;
      eigvecs: Float32Array;
      eigvals: Float32Array;
      sampler: string;
      /** The initial (baseline) schedule, ending in 0. */
      sigmas: number[];
      n: number;
      seed?: number;
      heldoutSeed?: number;
      sigmaMin?: number;
      reference?: { sampler: string; steps: number };
      sweeps?: number;
    }): NativeLearnScheduleResult;
  };
}
