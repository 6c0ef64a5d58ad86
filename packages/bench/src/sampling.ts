import { join } from 'node:path';
import { materialize } from '@anneal/datasets/shards';
import {
  diffusionSamplerNames,
  Model,
  presetUNet,
  type SamplerName,
  stepsWithinNfe,
  Trainer,
} from '@anneal/engine';
import type { Log } from './stats.ts';

/**
 * Sampling (issue 4, Benchmarks 3): images/s and NFE per image for each sampler at fixed
 * steps. The issue's headline measure, NFE and wall time to reach a stated FD, needs
 * `anneal eval`'s FD; it plugs in through `quality` (a probe returning FD for a sample set):
 * without one, `fd` is null and only cost is reported.
 */

export interface QualityProbe {
  /** Extractor id and N, recorded beside every FD. */
  describe: string;
  fd(images: Uint8Array, shape: [number, number, number, number]): Promise<number>;
}

export interface SamplingOptions {
  /** A checkpoint folder; without one, a tiny model is trained on shapes first. */
  model?: string;
  steps: number;
  n: number;
  /** Training steps of the tiny model made when no checkpoint is given. */
  trainSteps: number;
  samplers?: readonly SamplerName[];
  repeats: number;
  home?: string;
  quality?: QualityProbe;
  log?: Log;
}

export interface SamplerResult {
  sampler: SamplerName;
  steps: number;
  n: number;
  nfe_per_image: number;
  seconds_median: number;
  images_per_s: number;
  seconds: number[];
  /** FD at this (sampler, steps), when a quality probe is given (anneal eval); else null. */
  fd: number | null;
}

export interface SamplingResult {
  model: string;
  parameters: number;
  resolution: number;
  samplers: SamplerResult[];
  quality: string | null;
}

async function trainTinyModel(opts: SamplingOptions): Promise<Model> {
  const data = await materialize(
    { kind: 'builtin', name: 'shapes' },
    { resolution: 16, home: opts.home },
  );
  const classes = data.manifest.classes.length;
  const model = Model.create({
    preset: 'tiny',
    unet: presetUNet('tiny', {
      resolution: 16,
      channels: data.manifest.channels,
      numClasses: classes,
    }),
  });
  const trainer = Trainer.create({
    model,
    shards: data.manifest.splits.train.shards.map((s) => join(data.dir, s.file)),
    numClasses: classes,
    batch: 16,
    totalSteps: opts.trainSteps,
    lr: 1e-3,
  });
  for await (const r of trainer.run(opts.trainSteps)) {
    if (r.step % 20 === 0)
      opts.log?.(`sampling: training the tiny model, step ${r.step}, loss ${r.loss.toFixed(4)}`);
  }
  model.dispose();
  return trainer.ema();
}

export async function benchSampling(opts: SamplingOptions): Promise<SamplingResult> {
  const model = opts.model ? Model.load(opts.model) : await trainTinyModel(opts);
  try {
    const out: SamplerResult[] = [];
    for (const sampler of opts.samplers ?? diffusionSamplerNames) {
      const seconds: number[] = [];
      let nfe = 0;
      let fd: number | null = null;
      // One untimed call first: compilation and allocator warm-up are not sampling cost.
      await model.sample({ sampler, steps: opts.steps, n: opts.n, seed: 0 });
      for (let i = 0; i < opts.repeats; i++) {
        const started = performance.now();
        const r = await model.sample({ sampler, steps: opts.steps, n: opts.n, seed: i + 1 });
        seconds.push((performance.now() - started) / 1000);
        nfe = r.nfe;
        if (opts.quality && i === 0) fd = await opts.quality.fd(r.images, r.shape);
      }
      const sorted = [...seconds].sort((a, b) => a - b);
      const med = sorted[Math.floor(sorted.length / 2)] as number;
      opts.log?.(
        `sampling: ${sampler} ${opts.steps} steps, ${(opts.n / med).toFixed(1)} images/s, NFE ${nfe}`,
      );
      out.push({
        sampler,
        steps: opts.steps,
        n: opts.n,
        nfe_per_image: nfe,
        seconds_median: med,
        images_per_s: opts.n / med,
        seconds,
        fd,
      });
    }
    const res = model.config.unet.sample_size;
    return {
      model:
        opts.model ??
        `tiny preset trained ${opts.trainSteps} steps on shapes 16x16 (made by the benchmark)`,
      parameters: model.parameterCount(),
      resolution: res,
      samplers: out,
      quality: opts.quality?.describe ?? null,
    };
  } finally {
    model.dispose();
  }
}

export interface TargetTry {
  steps: number;
  nfe_per_image: number;
  fd: number;
  seconds: number;
}

export interface TargetResult {
  sampler: SamplerName;
  target_fd: number;
  /** The fewest steps of the ladder whose FD meets the target, or null if none did. */
  steps: number | null;
  nfe_per_image: number | null;
  /** Wall time of that sampling run (all n images). */
  seconds: number | null;
  /** Every rung tried, in order. */
  tried: TargetTry[];
}

/**
 * Steps that spend about `nfe` network evaluations per image, never over it (samplerNfe's
 * rule: Heun's and DPM-Solver-2's 2S - 1 stay at or under `nfe`). A ladder in NFE compares
 * samplers at equal cost.
 */
export function stepsForNfe(sampler: SamplerName, nfe: number): number {
  return stepsWithinNfe(sampler, nfe);
}

export interface ToTargetOptions {
  quality: QualityProbe;
  n: number;
  /** NFE per image of each rung, climbed in increasing order until the target is met. */
  nfeLadder: readonly number[];
  samplers?: readonly SamplerName[];
  /** The run that states the target: FD(reference) x `factor`, unless `targetFd` is given. */
  reference: { sampler: SamplerName; steps: number };
  factor?: number;
  targetFd?: number;
  seed?: number;
  log?: Log;
  /** Called after the reference and after each sampler, so a long run keeps what it has. */
  onPartial?: (r: ToTargetResult) => void;
}

export interface ToTargetResult {
  n: number;
  quality: string;
  reference: TargetTry & { sampler: SamplerName };
  factor: number | null;
  target_fd: number;
  samplers: TargetResult[];
}

async function timedSample(
  model: Model,
  quality: QualityProbe,
  sampler: SamplerName,
  steps: number,
  n: number,
  seed: number,
): Promise<TargetTry> {
  const started = performance.now();
  const s = await model.sample({ sampler, steps, n, seed });
  const seconds = (performance.now() - started) / 1000;
  return { steps, nfe_per_image: s.nfe, fd: await quality.fd(s.images, s.shape), seconds };
}

/**
 * NFE and wall time to reach a stated FD (issue 4, Benchmarks 3). The target is stated first:
 * `targetFd`, or the FD of a reference run (a sampler at many steps) times `factor`. Then each
 * sampler climbs the NFE ladder and stops at the first rung whose FD meets the target. All
 * runs draw the same noise (one seed), so differences are the samplers'.
 */
export async function samplingToTarget(
  model: Model,
  opts: ToTargetOptions,
): Promise<ToTargetResult> {
  const seed = opts.seed ?? 0;
  const log = opts.log ?? (() => {});
  const ladder = [...new Set(opts.nfeLadder)].sort((a, b) => a - b);
  if (ladder.length === 0 || ladder.some((x) => !Number.isInteger(x) || x < 1))
    throw new RangeError(
      `the NFE ladder needs positive integers (got ${opts.nfeLadder.join(', ')})`,
    );
  log(`to-target: reference ${opts.reference.sampler} ${opts.reference.steps} steps, n ${opts.n}`);
  const ref = await timedSample(
    model,
    opts.quality,
    opts.reference.sampler,
    opts.reference.steps,
    opts.n,
    seed,
  );
  const factor = opts.targetFd === undefined ? (opts.factor ?? 1.1) : null;
  const target = opts.targetFd ?? ref.fd * (factor as number);
  log(
    `to-target: reference FD ${ref.fd.toFixed(3)} in ${ref.seconds.toFixed(0)} s; target FD <= ${target.toFixed(3)}`,
  );
  const result: ToTargetResult = {
    n: opts.n,
    quality: opts.quality.describe,
    reference: { sampler: opts.reference.sampler, ...ref },
    factor,
    target_fd: target,
    samplers: [],
  };
  opts.onPartial?.(result);
  for (const sampler of opts.samplers ?? diffusionSamplerNames) {
    const r: TargetResult = {
      sampler,
      target_fd: target,
      steps: null,
      nfe_per_image: null,
      seconds: null,
      tried: [],
    };
    const stepsTried = new Set<number>();
    for (const nfe of ladder) {
      const steps = stepsForNfe(sampler, nfe);
      if (stepsTried.has(steps)) continue;
      stepsTried.add(steps);
      // The reference's own (sampler, steps) from the same seed gives the same images: reuse it.
      const isReference = sampler === opts.reference.sampler && steps === opts.reference.steps;
      const t = isReference
        ? { steps, nfe_per_image: ref.nfe_per_image, fd: ref.fd, seconds: ref.seconds }
        : await timedSample(model, opts.quality, sampler, steps, opts.n, seed);
      r.tried.push(t);
      log(
        `to-target: ${sampler} ${steps} steps (NFE ${t.nfe_per_image}): FD ${t.fd.toFixed(3)}, ${t.seconds.toFixed(0)} s`,
      );
      if (t.fd <= target) {
        Object.assign(r, { steps, nfe_per_image: t.nfe_per_image, seconds: t.seconds });
        break;
      }
    }
    result.samplers.push(r);
    opts.onPartial?.(result);
  }
  return result;
}
