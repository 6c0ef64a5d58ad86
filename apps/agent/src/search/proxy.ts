// The quality proxy of hardware-aware search (issue 19 section 3): a candidate trains briefly
// as a student of the teacher, as BK-SDM trains its pruned U-Nets (initialized from the
// teacher where names and shapes match, and by default from the teacher's leading channels
// where it is narrower, as width pruning does; the data loss plus `outputWeight` times matching
// the teacher's output, the engine's output-distillation objective), and is scored by how far
// its samples land from the teacher's from the same noise, at the sampler and NFE the search
// is for. Lower is better; 0 would be the teacher itself.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  Model,
  type ModelConfig,
  parseModelConfig,
  type SamplerName,
  TRAINER_STATE_FILE,
  Trainer,
} from '@anneal/engine';
import type { SearchInherit } from '@anneal/protocol';
import type { LocalDataset } from '../dataset.ts';
import { checkpointStep } from './proxy-store.ts';
import type { Candidate } from './space.ts';

export interface ProxySettings {
  sampler: SamplerName;
  steps: number;
  /** Images the proxy compares (held-out noise, fixed by the seed). */
  n: number;
  batch: number;
  lr: number;
  emaDecay: number;
  /** BK-SDM's output-distillation weight beside the data loss. */
  outputWeight: number;
  /** How a candidate starts from the teacher: whole tensors only, or also narrowed ones. */
  inherit: SearchInherit;
  seed: number;
  /** The trainer state is saved this often, so a killed search loses at most this many steps. */
  checkpointEvery: number;
}

/** The noise seed of the proxy's images: fixed per search, apart from training's. */
const proxySeed = (s: ProxySettings) => s.seed + 7919;

/** A candidate's checkpoint config: the teacher's, with the candidate's U-Net and no preset. */
export function studentConfig(teacher: ModelConfig, candidate: Candidate): ModelConfig {
  // Another architecture: the teacher's aspect buckets (sides of its factor) are not its.
  const { preset: _preset, distillation: _distillation, buckets: _buckets, ...rest } = teacher;
  return parseModelConfig({ ...rest, unet: candidate.unet }, `candidate ${candidate.name}`);
}

/** The teacher's images at the proxy's setting, as values (what every candidate is compared with). */
/** A model's images at the proxy's setting, from the proxy's noise, as values in [-1, 1]. */
async function proxyImages(model: Model, s: ProxySettings): Promise<Float32Array> {
  const r = await model.sample({
    sampler: s.sampler,
    steps: s.steps,
    n: s.n,
    seed: proxySeed(s),
    guidance: 1,
    returnValues: true,
  });
  return r.values as Float32Array;
}

export const teacherImages = proxyImages;

export async function proxyScore(
  model: Model,
  reference: Float32Array,
  s: ProxySettings,
): Promise<number> {
  const v = await proxyImages(model, s);
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += ((v[i] as number) - (reference[i] as number)) ** 2;
  return sum / v.length;
}

/** The learning-rate warm-up of a search whose last rung trains to `maxIters`. */
export function proxyWarmup(maxIters: number): number {
  return Math.min(100, Math.floor(maxIters / 10));
}

export interface RungOptions {
  teacher: Model;
  candidate: Candidate;
  dataset: LocalDataset;
  /** The candidate's folder: its checkpoint (model, trainer state, config) between rungs. */
  dir: string;
  /** The iterations reached at the end of this rung (total, not added). */
  iters: number;
  /**
   * The last rung's iterations: the learning-rate warm-up is a share of it, the same in every
   * rung and in a winner's training beyond it.
   */
  maxIters: number;
  settings: ProxySettings;
  /**
   * A full training's learning-rate decay: past the rungs (`from`, the last rung's iterations)
   * the rate follows a cosine to 0 at `to`, as a teacher's training ends. Absent: constant.
   */
  anneal?: { from: number; to: number };
  /** Called once the checkpoint at `anneal.from` is written, before the decay begins. */
  atDecayStart?: () => void;
  /** Called after every checkpoint is written (the caller's state can be written with it). */
  onCheckpoint?: (step: number) => void;
  onStep?: (step: number, loss: number, lr: number) => void;
  /** Checked between steps: true stops the rung at the next checkpoint-consistent point. */
  stopRequested?: () => boolean;
}

/**
 * Trains the candidate to `iters` iterations from where its folder left it (from the
 * teacher's matching weights the first time) and returns its EMA weights' proxy model; the
 * caller disposes it. Resumes exactly: the same data order, noise and state as an
 * uninterrupted rung.
 */
export async function trainRung(o: RungOptions): Promise<{ model: Model | null; step: number }> {
  const { settings: s, anneal } = o;
  const config = studentConfig(o.teacher.config, o.candidate);
  const student = Model.create(config, s.seed);
  if (!existsSync(join(o.dir, TRAINER_STATE_FILE)))
    student.inheritFrom(o.teacher, { narrow: s.inherit === 'narrowed' });
  // Rungs stop at different iterations, so no schedule that assumes an end: constant after the
  // warm-up. A full training's decay is the cosine schedule with its "warm-up" at `from`: the
  // trainer that runs it starts at or past `from`, so the rate is the cosine's from there on.
  const trainerAt = (step: number) =>
    Trainer.create({
      model: student,
      shards: o.dataset.train,
      numClasses: o.teacher.config.dataset?.num_classes ?? 0,
      batch: s.batch,
      ...(anneal && step >= anneal.from
        ? { totalSteps: anneal.to, warmup: anneal.from, lrSchedule: 'cosine' as const, minLr: 0 }
        : {
            totalSteps: Math.max(o.iters, o.maxIters),
            warmup: proxyWarmup(o.maxIters),
            lrSchedule: 'constant' as const,
          }),
      lr: s.lr,
      emaDecay: s.emaDecay,
      gradClip: 1,
      seed: s.seed,
      dtype: 'float32',
      objective: { kind: 'output-distillation', teacher: o.teacher, outputWeight: s.outputWeight },
    });
  // The schedule is chosen from the step the folder's checkpoint is at, before the trainer
  // exists (a trainer's native state is released only when it is collected).
  const resumed = (step: number) => {
    const t = trainerAt(step);
    if (existsSync(join(o.dir, TRAINER_STATE_FILE))) t.resume(o.dir);
    return t;
  };
  try {
    const saved = checkpointStep(o.dir) ?? 0;
    let trainer = resumed(saved);
    // Weights without their step in the metadata: re-created for the step the state is at.
    if (anneal && trainer.step >= anneal.from && saved < anneal.from)
      trainer = resumed(trainer.step);
    mkdirSync(o.dir, { recursive: true });
    while (trainer.step < o.iters) {
      // A chunk never crosses into the decay: the trainer is swapped at `from`, from its checkpoint.
      const bound = anneal && trainer.step < anneal.from ? Math.min(o.iters, anneal.from) : o.iters;
      const chunk = Math.min(s.checkpointEvery, bound - trainer.step);
      for await (const r of trainer.run(chunk)) {
        o.onStep?.(r.step, r.loss, r.lr);
        if (o.stopRequested?.()) break;
      }
      trainer.saveCheckpoint(o.dir, config);
      o.onCheckpoint?.(trainer.step);
      if (o.stopRequested?.()) return { model: null, step: trainer.step };
      if (anneal && trainer.step === anneal.from && trainer.step < o.iters) {
        o.atDecayStart?.();
        trainer = resumed(trainer.step);
      }
    }
    // The folder's checkpoint holds the EMA weights (written here if no step was taken):
    // loaded from there, the model has a folder, so its evaluation keeps its samples and
    // resumes (evaluateModel's resumable).
    if (checkpointStep(o.dir) !== trainer.step) trainer.saveCheckpoint(o.dir, config);
    return { model: Model.load(o.dir), step: trainer.step };
  } finally {
    student.dispose();
  }
}
