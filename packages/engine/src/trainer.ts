import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import {
  type AttentionChoice,
  type AttentionExec,
  attentionBytes,
  chooseAttention,
} from './attention.ts';
import {
  type ComputeDtype,
  defaultDtype,
  TRAINING_ATTENTION_FACTOR,
  trainingActivationBytesPerImage,
  unetCost,
  WORKSPACE_FRACTION,
} from './config/estimate.ts';
import type { ModelConfig } from './config/model.ts';
import { defaultLearningRate } from './config/presets.ts';
import { defaultWarmup, TRAINING_DEFAULTS } from './config/training.ts';
import { assertJobFits, type MemoryBudget } from './memory.ts';
import { CONFIG_FILE, MODEL_FILE, Model, parseModelConfig, writeFileAtomic } from './model.ts';
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
 * - `output-distillation` (BK-SDM's output-level knowledge distillation, Kim et al. 2023): the
 *   denoising loss plus `outputWeight` (default 1) times the same loss against the teacher's
 *   denoised estimate at the same noisy input, in the student's network space. The student
 *   may be a smaller U-Net of another architecture (widths, layers, levels, attention) taking
 *   the teacher's images, labels and VP schedule, any parameterization but consistency; start
 *   it with `student.inheritFrom(teacher)` where the two share tensors. cfgDropout,
 *   lossWeighting, minSnrGamma and dtype apply as in denoising, to both terms.
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
  /**
   * The micro-batches this bucket's batch is split into (the batch planner's answer for its
   * shape, planBatch); absent, the run's accumulationSteps. It must divide the batch.
   */
  accumulationSteps?: number;
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
  /** The effective batch of one optimizer step. */
  batch: number;
  /**
   * Gradient accumulation: each step averages the gradients of this many micro-batches of
   * batch / accumulationSteps examples (it must divide batch), so activations are held for
   * one micro-batch at a time. Default 1.
   */
  accumulationSteps?: number;
  /**
   * Data-parallel over the process's distributed group (joinGroup): `batch` stays the
   * effective batch of one step, each of the R ranks takes batch / R of it (in
   * accumulationSteps micro-batches), and the step all_sums the gradients, so the ranks take
   * the steps one process would at `batch`. batch must be a multiple of R x accumulationSteps.
   */
  dataParallel?: boolean;
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
  /**
   * How the student's softmax attention executes. Absent: fused unless its bytes at this
   * batch do not fit what the rest of the job leaves of `budget`, then query-sliced with
   * checkpointing (chooseAttention); sliced changes nothing but rounding and memory.
   */
  attention?: AttentionExec;
}

/** The size of the group joinGroup formed; refuses data-parallel training without one. */
function groupSize(): number {
  const g = loadNative().distributed.group();
  if (!g)
    throw new AppError('BAD_REQUEST', 'dataParallel: this process joined no group (joinGroup)');
  return g.size;
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
  if (o.kind === 'output-distillation')
    return { kind: o.kind, teacher: o.teacher.native, outputWeight: o.outputWeight };
  return {
    kind: o.kind,
    teacher: o.teacher.native,
    sigmas: o.sigmas,
    huberC: o.huberC,
  };
}

/**
 * The memory a training job will hold, from its config alone. With a distillation teacher,
 * its float32 weights are held too (inputs of every step); its forward passes keep nothing
 * for the backward pass (their results are stop-gradient targets), so they add no saved
 * activations. The teacher's bytes are spread over the batch as activation bytes.
 * `attentionBytes`: what the attention execution in use holds over the batch
 * (`attentionBytes(...).total`, the one count of attention's bytes); fused when omitted, 0
 * for the rest of the job alone.
 */
export function trainingMemorySpec(
  model: Model,
  batch: number,
  _dtype: ComputeDtype = 'float32',
  teacher?: Model,
  /** Gradient accumulation: `batch` is then the micro-batch (its activations are held). */
  accumulationSteps = 1,
  attentionBytes?: number,
  /** A bucket's sides (default: the config's sample_size). */
  shape?: { height: number; width: number },
) {
  const cost = unetCost(model.config.unet, shape);
  const teacherBytes = teacher ? teacher.parameterCount() * 4 : 0;
  return {
    parameterCount: cost.parameters,
    bytesPerParameter: 4,
    optimizerStatesPerParameter: 2,
    gradients: true,
    ema: true,
    snapshot: true,
    activationBytesPerExample:
      trainingActivationBytesPerImage(
        cost,
        attentionBytes === undefined ? undefined : attentionBytes / batch,
      ) + Math.ceil(teacherBytes / batch),
    batchSize: batch,
    accumulationSteps,
  };
}

/**
/**
 * The memory spec of training one bucket (an image shape other than the model's own): the same
 * estimate as trainingMemorySpec (memfit's calibrated walk, attention counted once), with the
 * layer walk at the bucket's height x width (each level's activations scale with its pixels).
 */
export function bucketMemorySpec(
  model: Model,
  bucket: { height: number; width: number },
  batch: number,
  dtype: ComputeDtype = 'float32',
  teacher?: Model,
  accumulationSteps = 1,
  attentionBytes?: number,
) {
  return trainingMemorySpec(model, batch, dtype, teacher, accumulationSteps, attentionBytes, {
    height: bucket.height,
    width: bucket.width,
  });
}

/**
 * The batch bucket `bucket` trains with: its own, else the run's (the effective batch of one
 * step; its accumulation steps split it into micro-batches).
 */
export function bucketBatch(bucket: TrainingBucket, runBatch: number): number {
  return bucket.batch ?? runBatch;
}

/** The accumulation steps of `bucket`: its own, else the run's. */
export function bucketAccumulation(bucket: TrainingBucket, runSteps: number): number {
  return bucket.accumulationSteps ?? runSteps;
}

/**
 * The attention execution of a training job: given, or chosen from the budget left after the
 * rest of the estimate (`rest`: the job without attention), at float32 bytes (the estimate's
 * calibration, estimate.ts) and with the attention factor and workspace the estimate will
 * put on the chosen bytes, so what is chosen is what then fits. `shape`: a bucket's sides
 * (default the config's sample_size); `options.batch` is the micro-batch.
 */
function trainingAttention(
  options: TrainerOptions,
  rest: ReturnType<typeof trainingMemorySpec>,
  shape?: { height: number; width: number },
): AttentionChoice {
  const unet = options.model.config.unet;
  if (unet.linear_attention) {
    // A linear-attention model has no softmax attention to execute either way.
    const none = { kept: 0, transient: 0, total: 0 };
    return {
      exec: { kind: 'fused' },
      bytes: none,
      fusedBytes: none,
      summary: "linear (the model's own)",
    };
  }
  if (options.attention || !options.budget) {
    const exec = options.attention ?? { kind: 'fused' };
    const bytes = attentionBytes(unet, { batch: options.batch, ...shape, exec, training: true });
    const fusedBytes = attentionBytes(unet, { batch: options.batch, ...shape, training: true });
    const summary =
      exec.kind === 'fused' ? 'fused' : `sliced, ${exec.slice} queries per slice (as given)`;
    return { exec, bytes, fusedBytes, summary };
  }
  const left = options.budget.bytes - loadNative().memory.estimate(rest).total;
  if (left <= 0) {
    // The job does not fit even without attention: fused, so the estimate's refusal
    // (assertJobFits) names the job's numbers rather than attention's.
    const bytes = attentionBytes(unet, { batch: options.batch, ...shape, training: true });
    return { exec: { kind: 'fused' }, bytes, fusedBytes: bytes, summary: 'fused' };
  }
  return chooseAttention(unet, {
    batch: options.batch,
    ...shape,
    training: true,
    availableBytes: left / ((1 + WORKSPACE_FRACTION) * TRAINING_ATTENTION_FACTOR),
  });
}

/**
 * Trains a Model. The compiled step, AdamW, EMA, NaN rollback and exact resume live in the
 * engine; this class adds checkpoints on disk and progress as an async iterator.
 */
export class Trainer {
  readonly #native: NativeTrainer;
  readonly model: Model;
  readonly options: TrainerOptions;
  /** How the student's attention executes, and why (train output reports it). */
  readonly attention: AttentionChoice;

  private constructor(native: NativeTrainer, options: TrainerOptions, attention: AttentionChoice) {
    this.#native = native;
    this.model = options.model;
    this.options = options;
    this.attention = attention;
  }

  /** Refuses a job whose estimate exceeds the budget before allocating anything. */
  static create(options: TrainerOptions): Trainer {
    const dtype = options.dtype ?? 'float32';
    if ((options.shards === undefined) === (options.buckets === undefined))
      throw new AppError('BAD_REQUEST', 'a trainer takes either shards or buckets');
    const teacher = teacherOf(options.objective);
    // Data-parallel, each rank holds its share of the batch: the memory a rank needs is that
    // of batch / ranks.
    const ranks = options.dataParallel ? groupSize() : 1;
    if (ranks > 1 && options.buckets)
      throw new AppError(
        'BAD_REQUEST',
        'data-parallel training takes one resolution (shards), not buckets or stages',
      );
    if (!Number.isInteger(options.batch / ranks))
      throw new AppError(
        'BAD_REQUEST',
        `batch ${options.batch} does not split evenly into ${ranks} ranks`,
      );
    const share = options.batch / ranks;
    let attention: AttentionChoice;
    if (options.buckets) {
      // The attention execution is one for the whole run (the native student's), so it is
      // chosen per bucket (its shape and micro-batch) and the most frugal choice is taken:
      // fused when every bucket fits fused, else the smallest slice any bucket needs. Each
      // bucket is then checked with that execution's bytes at its own shape.
      const plans = options.buckets.map((b) => {
        const batch = bucketBatch(b, options.batch);
        const k = bucketAccumulation(b, options.accumulationSteps ?? 1);
        const micro = Number.isInteger(batch / k) ? batch / k : batch;
        return { b, batch, k, micro };
      });
      // Any refusal of a bucket (its sides, its attention, its estimate) names the bucket.
      const naming = <T>(p: (typeof plans)[number], f: () => T): T => {
        try {
          return f();
        } catch (err) {
          const e = err instanceof AppError ? err : fromNativeError(err);
          const what = `the ${p.b.height}x${p.b.width} bucket (batch ${p.batch}${p.k > 1 ? ` as ${p.k} micro-batches of ${p.micro}` : ''})`;
          if (e instanceof AppError)
            throw new AppError(e.code, `${what}: ${e.message}`, { cause: err });
          throw new AppError('BAD_REQUEST', `${what}: ${e.message}`, { cause: err });
        }
      };
      const choices = plans.map((p) =>
        naming(p, () =>
          trainingAttention(
            { ...options, batch: p.micro },
            bucketMemorySpec(options.model, p.b, p.micro, dtype, teacher, p.k, 0),
            p.b,
          ),
        ),
      );
      const sliced = choices.filter((c) => c.exec.kind === 'sliced');
      attention =
        sliced.length === 0
          ? (choices[0] as AttentionChoice)
          : sliced.reduce((x, y) =>
              x.exec.kind === 'sliced' && y.exec.kind === 'sliced' && y.exec.slice < x.exec.slice
                ? y
                : x,
            );
      const budget = options.budget;
      if (budget)
        for (const p of plans) {
          if (p.micro * p.k !== p.batch) continue; // refused by the native trainer, naming both
          naming(p, () => {
            const bytes = options.model.config.unet.linear_attention
              ? 0
              : attentionBytes(options.model.config.unet, {
                  batch: p.micro,
                  height: p.b.height,
                  width: p.b.width,
                  exec: attention.exec,
                  training: true,
                }).total;
            assertJobFits(
              bucketMemorySpec(options.model, p.b, p.micro, dtype, teacher, p.k, bytes),
              budget,
            );
          });
        }
    } else {
      const k = options.accumulationSteps ?? 1;
      // A batch k does not divide is refused by the native trainer, naming both.
      const micro = Number.isInteger(share / k) ? share / k : share;
      // Attention is counted once: the job without it, then the chosen execution's bytes.
      const rest = trainingMemorySpec(options.model, micro, dtype, teacher, k, 0);
      attention = trainingAttention({ ...options, batch: micro }, rest);
      const spec = trainingMemorySpec(
        options.model,
        micro,
        dtype,
        teacher,
        k,
        attention.bytes.total,
      );
      if (options.budget && micro * k === share) assertJobFits(spec, options.budget);
    }
    try {
      const native = new (loadNative().Trainer)(options.model.native, {
        attention: attention.exec,
        batchSize: options.batch,
        dataParallel: ranks > 1,
        accumulationSteps: options.accumulationSteps ?? 1,
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
          accumulationSteps: bucketAccumulation(b, options.accumulationSteps ?? 1),
        })),
        stages: options.stages,
        numClasses: options.numClasses,
        dtype,
        objective: nativeObjective(options.objective, options.totalSteps),
      });
      return new Trainer(native, options, attention);
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

  /**
   * Splits the next steps' batch into `k` micro-batches whose gradients are averaged (a
   * stage's or bucket's `planBatch` answer). The effective batch, data order and random
   * draws stay the whole batch's. Throws AppError(BAD_REQUEST) unless k divides the batch (every
   * bucket's); it replaces the buckets' own accumulationSteps for the next steps.
   */
  setAccumulationSteps(k: number): void {
    try {
      this.#native.setAccumulationSteps(k);
    } catch (err) {
      throw fromNativeError(err);
    }
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

  /**
   * Restores weights, optimizer state, EMA, step, RNG and data order from a checkpoint dir.
   * Refuses (BAD_REQUEST) a checkpoint whose config.json has the other attention kind: softmax
   * and linear attention share their weights' names and shapes, so the state would load and
   * train a different model. How softmax attention executes (fused or sliced) is not part of
   * the state: a resume under another budget may execute it the other way, which changes the
   * trajectory only at rounding level (docs/attention.md).
   */
  resume(dir: string): void {
    const saved = join(dir, CONFIG_FILE);
    if (existsSync(saved)) {
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(saved, 'utf8'));
      } catch (err) {
        throw new AppError('BAD_REQUEST', `cannot resume from ${dir}: ${saved}: ${err}`);
      }
      const kind = (linear: boolean | undefined) => (linear ? 'linear' : 'softmax');
      const was = kind(parseModelConfig(raw, saved).unet.linear_attention);
      const is = kind(this.model.config.unet.linear_attention);
      if (was !== is)
        throw new AppError(
          'BAD_REQUEST',
          `cannot resume from ${dir}: it was trained with ${was} attention, this model has ` +
            `${is} attention (a different model with the same weight names)`,
        );
    }
    try {
      this.#native.loadState(join(dir, TRAINER_STATE_FILE));
    } catch (err) {
      throw fromNativeError(err, `cannot resume from ${dir}`);
    }
  }
}
