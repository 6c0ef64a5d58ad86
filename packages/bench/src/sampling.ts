import { join } from 'node:path';
import { materialize } from '@anneal/datasets/shards';
import { Model, presetUNet, type SamplerName, samplerNames, Trainer } from '@anneal/engine';
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
    for (const sampler of opts.samplers ?? samplerNames) {
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

export interface TargetResult {
  sampler: SamplerName;
  target_fd: number;
  /** The fewest steps in the sweep whose FD meets the target, or null if none did. */
  steps: number | null;
  nfe_per_image: number | null;
  seconds: number | null;
  /** Every (steps, FD, NFE, seconds) tried, in order. */
  tried: Array<{ steps: number; fd: number; nfe_per_image: number; seconds: number }>;
}

/**
 * NFE and wall time to reach a stated FD (issue 4, Benchmarks 3): for each sampler, the step
 * counts of `sweep` in increasing order until the probe's FD is at or below `targetFd`. Needs a
 * quality probe (`anneal eval`'s FD); the sweep stops at the first step count that meets it.
 */
export async function samplingToTarget(
  model: Model,
  opts: {
    quality: QualityProbe;
    targetFd: number;
    sweep: readonly number[];
    n: number;
    samplers?: readonly SamplerName[];
  },
): Promise<TargetResult[]> {
  const sweep = [...opts.sweep].sort((a, b) => a - b);
  const out: TargetResult[] = [];
  for (const sampler of opts.samplers ?? samplerNames) {
    const r: TargetResult = {
      sampler,
      target_fd: opts.targetFd,
      steps: null,
      nfe_per_image: null,
      seconds: null,
      tried: [],
    };
    for (const steps of sweep) {
      const started = performance.now();
      const s = await model.sample({ sampler, steps, n: opts.n, seed: 0 });
      const seconds = (performance.now() - started) / 1000;
      const fd = await opts.quality.fd(s.images, s.shape);
      r.tried.push({ steps, fd, nfe_per_image: s.nfe, seconds });
      if (fd <= opts.targetFd) {
        Object.assign(r, { steps, nfe_per_image: s.nfe, seconds });
        break;
      }
    }
    out.push(r);
  }
  return out;
}
