import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { type ComputeDtype, defaultDtype } from './config/estimate.ts';
import type { ModelConfig } from './config/model.ts';
import { defaultLearningRate } from './config/presets.ts';
import { defaultWarmup, TRAINING_DEFAULTS } from './config/training.ts';
import { assertJobFits, type MemoryBudget } from './memory.ts';
import { CONFIG_FILE, MODEL_FILE, Model, writeFileAtomic } from './model.ts';
import { fromNativeError, loadNative } from './native.ts';
import type {
  NativeStepReport,
  NativeTrainer,
  NativeTrainingObjective,
  NativeTrainingStage,
} from './native-types.ts';

export type StepReport = NativeStepReport;
export { defaultDtype };
export const TRAINER_STATE_FILE = 'trainer-state.safetensors';

/**
 * What a training step minimizes. `denoising` (the default) is training from data. The
 * distillation objectives take a frozen teacher, whose weights enter each compiled step as
 * inputs (the trainer keeps its own reference: the teacher Model may be disposed after
 * `Trainer.create`), and `model` is the student:
 * - `progressive` (Salimans & Ho 2022, Algorithm 2): `sigmas` is the teacher's grid of 2N + 1
 *   sigmas, strictly decreasing, ending in 0; the student learns one DDIM step per two of the
 *   teacher's, on every second point. The student predicts v or x0 (`Model.studentOf(teacher,
 *   {kind: 'progressive'})`, a copy); an eps teacher is fine. `weighting`: max(SNR, 1)
 *   ('truncated-snr', the default) or SNR + 1 ('snr+1', the v-loss) on the x-space error.
 * - `consistency-distillation` (Song et al. 2023, Algorithm 2, with iCT's pseudo-Huber loss and
 *   stop-gradient target): `sigmas` is the discretization, N >= 2 strictly decreasing positive
 *   sigmas ending at the student's sigma_min (`consistencySigmas(teacher)` proposes Karras
 *   rho 7, N = 18); the student is `Model.studentOf(teacher, {kind: 'consistency'})`;
 *   `huberC` defaults to 0.00054 sqrt(H W C).
 * - `consistency-training` (ECT, Geng et al. 2024; no teacher): x_t and x_r share their noise,
 *   sigma_t log-normal, the gap sigma_t - sigma_r starting as the whole way to the data
 *   (denoising) and shrinking by `q` (2) every `halvingEvery` steps (default: totalSteps / 8);
 *   the student is a consistency model fine-tuned from a teacher's weights.
 * None uses guidance: the teacher sees the example's label, dropped to the null class with
 * the training CFG dropout exactly when the student's is.
 *
 * The binding's objectives, written once (native-types.ts), with the teacher as a Model.
 */
export type TrainingObjective = NativeTrainingObjective extends infer O
  ? O extends { teacher: unknown }
    ? Omit<O, 'teacher'> & { teacher: Model }
    : O
  : never;

/**
 * One image shape's tensor shards in a run of more than one (multi-resolution buckets, or a
 * progressive curriculum's resolutions). `batch`: this bucket's batch; absent, the run's.
 */
export interface TrainingBucket {
  shards: string[];
  height: number;
  width: number;
  batch?: number;
}

export interface TrainerOptions {
  /** The model trained: for distillation, the student (initialized from the teacher). */
  model: Model;
  /**
   * Tensor shards: safetensors with `images` U8 [N,H,W,C] and `labels` I32 [N], at the
   * model's resolution. Or `buckets` (several image shapes) and optionally `stages` (absent:
   * one stage over every bucket); give shards or buckets.
   */
  shards?: string[];
  buckets?: TrainingBucket[];
  /** Steps [previous endStep, endStep) draw from `buckets` (indices into options.buckets). */
  stages?: NativeTrainingStage[];
  numClasses: number;
  batch: number;
  totalSteps: number;
  lr?: number;
  warmup?: number;
  lrSchedule?: 'cosine' | 'constant';
  /** The cosine schedule's floor. */
  minLr?: number;
  emaDecay?: number;
  gradClip?: number;
  seed?: number;
  dtype?: ComputeDtype;
  compile?: boolean;
  snapshotEvery?: number;
  maxRollbacks?: number;
  cfgDropout?: number;
  lossWeighting?: 'none' | 'min-snr';
  minSnrGamma?: number;
  /** Enforced before start (estimate) and after every step (peak). */
  budget?: MemoryBudget;
  /** Absent: denoising. */
  objective?: TrainingObjective;
}

function teacherOf(o: TrainingObjective | undefined): Model | undefined {
  return o && 'teacher' in o ? o.teacher : undefined;
}

function nativeObjective(
  o: TrainingObjective | undefined,
  totalSteps: number,
): NativeTrainingObjective | undefined {
  if (!o || o.kind === 'denoising') return undefined;
  if (o.kind === 'consistency-training')
    return { ...o, halvingEvery: o.halvingEvery ?? Math.max(1, Math.ceil(totalSteps / 8)) };
  if (o.kind === 'progressive')
    return { kind: o.kind, teacher: o.teacher.native, sigmas: o.sigmas, weighting: o.weighting };
  return {
    kind: o.kind,
    teacher: o.teacher.native,
    sigmas: o.sigmas,
    huberC: o.huberC,
  };
}

const BYTES: Record<ComputeDtype, number> = { float32: 4, bfloat16: 2, float16: 2 };

/**
 * The memory a training job will hold, from its config alone. With a distillation teacher,
 * its float32 weights are held too (inputs of every step); its forward passes keep nothing
 * for the backward pass (their results are stop-gradient targets), so they add no saved
 * activations. The teacher's bytes are spread over the batch as activation bytes.
 */
export function trainingMemorySpec(
  model: Model,
  batch: number,
  dtype: ComputeDtype = 'float32',
  teacher?: Model,
) {
  const cost = model.cost();
  const teacherBytes = teacher ? teacher.parameterCount() * 4 : 0;
  return {
    parameterCount: cost.parameters,
    bytesPerParameter: 4,
    optimizerStatesPerParameter: 2,
    gradients: true,
    ema: true,
    activationBytesPerExample:
      Math.ceil((cost.activationBytesPerImage * BYTES[dtype]) / 4) +
      Math.ceil(teacherBytes / batch),
    batchSize: batch,
  };
}

/**
 * The memory spec of training one bucket (an image shape other than the model's own): the
 * model's activation bytes per image, measured at sample_size S, scaled to h x w pixels. They
 * are a sum of terms linear in the pixel count (convolutions, norms) and quadratic in it
 * (attention scores), so with r = h w / S^2 the bytes lie between r and r^2 times the
 * measured ones: max(r, r^2) times them is an upper bound either side of S.
 */
export function bucketMemorySpec(
  model: Model,
  bucket: { height: number; width: number },
  batch: number,
  dtype: ComputeDtype = 'float32',
  teacher?: Model,
) {
  const spec = trainingMemorySpec(model, batch, dtype, teacher);
  const S = model.config.unet.sample_size;
  const r = (bucket.height * bucket.width) / (S * S);
  return {
    ...spec,
    activationBytesPerExample: Math.ceil(spec.activationBytesPerExample * Math.max(r, r * r)),
  };
}

/**
 * The batch bucket `bucket` trains with: its own, else the run's. The one place a batch
 * planner's per-resolution answer (largest batch that fits, with accumulation keeping the
 * effective batch) enters a multi-resolution or progressive run.
 */
export function bucketBatch(bucket: TrainingBucket, runBatch: number): number {
  return bucket.batch ?? runBatch;
}

/** The largest power-of-two batch (<= max) whose estimate fits the budget. */
export function defaultBatch(
  model: Model,
  budget: MemoryBudget,
  dtype: ComputeDtype,
  max = 64,
): number {
  const native = loadNative();
  for (let b = max; b >= 1; b = Math.floor(b / 2)) {
    if (native.memory.estimate(trainingMemorySpec(model, b, dtype)).total <= budget.bytes) return b;
  }
  throw new AppError(
    'RESOURCE_EXHAUSTED',
    `even batch 1 of this model exceeds the memory budget (${budget.source})`,
  );
}

/**
 * Trains a Model. The compiled step, AdamW, EMA, NaN rollback and exact resume live in the
 * engine; this class adds checkpoints on disk and progress as an async iterator.
 */
export class Trainer {
  readonly #native: NativeTrainer;
  readonly model: Model;
  readonly options: TrainerOptions;

  private constructor(native: NativeTrainer, options: TrainerOptions) {
    this.#native = native;
    this.model = options.model;
    this.options = options;
  }

  /** Refuses a job whose estimate exceeds the budget before allocating anything. */
  static create(options: TrainerOptions): Trainer {
    const dtype = options.dtype ?? 'float32';
    if ((options.shards === undefined) === (options.buckets === undefined))
      throw new AppError('BAD_REQUEST', 'a trainer takes either shards or buckets');
    if (options.budget) {
      const teacher = teacherOf(options.objective);
      if (options.buckets)
        for (const b of options.buckets) {
          const batch = bucketBatch(b, options.batch);
          try {
            assertJobFits(
              bucketMemorySpec(options.model, b, batch, dtype, teacher),
              options.budget,
            );
          } catch (err) {
            if (!(err instanceof AppError)) throw err;
            throw new AppError(
              err.code,
              `the ${b.height}x${b.width} bucket (batch ${batch}): ${err.message}`,
              { cause: err },
            );
          }
        }
      else
        assertJobFits(
          trainingMemorySpec(options.model, options.batch, dtype, teacher),
          options.budget,
        );
    }
    try {
      const native = new (loadNative().Trainer)(options.model.native, {
        batchSize: options.batch,
        totalSteps: options.totalSteps,
        lr: options.lr ?? defaultLearningRate(options.model.config.preset),
        warmupSteps: options.warmup ?? defaultWarmup(options.totalSteps),
        lrSchedule: options.lrSchedule ?? TRAINING_DEFAULTS.lrSchedule,
        minLr: options.minLr ?? TRAINING_DEFAULTS.minLr,
        emaDecay: options.emaDecay ?? TRAINING_DEFAULTS.emaDecay,
        gradClip: options.gradClip ?? TRAINING_DEFAULTS.gradClip,
        seed: options.seed ?? TRAINING_DEFAULTS.seed,
        compile: options.compile ?? true,
        snapshotEvery: options.snapshotEvery ?? 50,
        maxRollbacks: options.maxRollbacks ?? 3,
        cfgDropout: options.cfgDropout ?? TRAINING_DEFAULTS.cfgDropout,
        lossWeighting: options.lossWeighting ?? TRAINING_DEFAULTS.lossWeighting,
        minSnrGamma: options.minSnrGamma ?? TRAINING_DEFAULTS.minSnrGamma,
        budgetBytes: options.budget?.bytes ?? 0,
        budgetSource: options.budget?.source ?? '',
        shards: options.shards,
        buckets: options.buckets?.map((b) => ({
          shards: b.shards,
          batchSize: bucketBatch(b, options.batch),
        })),
        stages: options.stages,
        numClasses: options.numClasses,
        dtype,
        objective: nativeObjective(options.objective, options.totalSteps),
      });
      return new Trainer(native, options);
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  get step(): number {
    return this.#native.step;
  }

  /**
   * Runs `steps` more steps, yielding one report per step. Resolves with the step reached;
   * throws AppError(RESOURCE_EXHAUSTED) on a memory budget breach and AppError(BAD_REQUEST,
   * naming lr and grad_clip) when training diverges past its rollbacks; the native error
   * (code ANNEAL_MEMORY_BUDGET, ANNEAL_DIVERGED) is its `cause`.
   */
  async *run(steps: number): AsyncGenerator<StepReport, { step: number; cancelled: boolean }> {
    const queue: StepReport[] = [];
    let wake: (() => void) | null = null;
    let done: { step: number; cancelled: boolean } | null = null;
    let failure: unknown = null;
    const settled = this.#native
      .run(steps, (r) => {
        queue.push(r);
        wake?.();
      })
      .then(
        (r) => {
          done = r;
          wake?.();
        },
        (err) => {
          failure = err;
          wake?.();
        },
      );
    try {
      while (true) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (failure) throw fromNativeError(failure);
        if (done) return done;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
      }
    } finally {
      // A consumer that stops early (break, throw) must not leave native steps running:
      // stop after the current step and wait, so the trainer is idle again when we return.
      if (!done && !failure) {
        this.#native.cancel();
        await settled;
      }
    }
  }

  cancel(): void {
    this.#native.cancel();
  }

  /** The raw (not averaged) weights as a Model. */
  raw(): Model {
    return Model.fromNative(this.#native.model(), this.model.config);
  }

  /** The EMA weights as a Model (what checkpoints and sampling use). */
  ema(): Model {
    return Model.fromNative(this.#native.ema(), this.model.config);
  }

  /**
   * model.safetensors (EMA), trainer-state.safetensors (exact resume) and config.json. For a
   * distillation trainer too: model.safetensors is the student's EMA (with the EMA warmup a
   * short stage's average follows the weights closely; pass a smaller emaDecay for stages of
   * a few hundred steps), config.json the student's config; the teacher is not saved, and
   * `resume` needs a trainer created with the same teacher and objective.
   */
  saveCheckpoint(dir: string, config: ModelConfig): void {
    const ema = this.#native.ema();
    try {
      ema.save(join(dir, MODEL_FILE), { step: String(this.step) });
    } finally {
      ema.dispose();
    }
    this.#native.saveState(join(dir, TRAINER_STATE_FILE));
    writeFileAtomic(join(dir, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
  }

  /** Restores weights, optimizer state, EMA, step, RNG and data order from a checkpoint dir. */
  resume(dir: string): void {
    try {
      this.#native.loadState(join(dir, TRAINER_STATE_FILE));
    } catch (err) {
      throw fromNativeError(err, `cannot resume from ${dir}`);
    }
  }
}
