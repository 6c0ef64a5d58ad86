// `anneal bench --only multi-resolution`: a multi-resolution model scored on each of its aspect
// buckets as `anneal eval` scores it (the bucket's held-out images, its own extractor and
// floor), recorded with how the model was trained; @anneal/bench renders it beside the issue's
// target (FD/floor ratios within 1.5x of each other).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BucketQuality, MultiResolutionResult } from '@anneal/bench';
import { AppError } from '@anneal/core/errors';
import { Model, type SamplerName } from '@anneal/engine';
import { evaluateModel } from './evaluate.ts';
import { modelBucketDatasets } from './model-dataset.ts';

export interface MultiResolutionBenchOptions {
  dir: string;
  /** The model as RESULTS.md names it. */
  name: string;
  /** Samples and real images per bucket (default: the smallest bucket's held-out count, at most 1000). */
  n?: number;
  sampler: SamplerName;
  steps: number;
  seed: number;
  spread: number;
  samplesDir?: string;
  extractor?: { steps?: number; width?: number };
}

/** What training.json and stages.jsonl say of the run (null where they are missing). */
function trainingOf(dir: string): Omit<MultiResolutionResult['training'], 'dataset'> {
  const read = (file: string) => {
    try {
      return JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
    } catch {
      return null;
    }
  };
  const t = read('training.json');
  const stages = join(dir, 'stages.jsonl');
  const wall = existsSync(stages)
    ? readFileSync(stages, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .reduce((s, l) => s + Number((JSON.parse(l) as { wall_s?: number }).wall_s ?? 0), 0)
    : null;
  return {
    steps: typeof t?.steps === 'number' ? t.steps : null,
    batch: typeof t?.batch === 'number' ? t.batch : null,
    preset: typeof t?.preset === 'string' ? t.preset : null,
    wall_s: wall,
  };
}

export async function multiResolutionBench(
  o: MultiResolutionBenchOptions,
  log: (line: string) => void,
  partial: (r: MultiResolutionResult) => void,
): Promise<MultiResolutionResult> {
  const dir = resolve(o.dir);
  const model = Model.load(dir);
  try {
    if (!model.config.buckets)
      throw new AppError(
        'BAD_REQUEST',
        `multi-resolution: ${o.dir} has no aspect buckets (config.json "buckets"); train one with \`anneal train --multi-resolution\``,
      );
    const datasets = await modelBucketDatasets(model.config, `${dir}/config.json`);
    const counts = new Map<string, { train: number; heldout: number }>();
    for (const [name, d] of datasets)
      counts.set(name, { train: d.trainCount, heldout: d.heldoutCount ?? 0 });
    const fewest = Math.min(...[...counts.values()].map((c) => Math.min(c.train, c.heldout)));
    if (fewest < 10)
      throw new AppError(
        'BAD_REQUEST',
        `multi-resolution: ${[...counts].map(([name, c]) => `${name} has ${c.train} training and ${c.heldout} held-out images`).join(', ')}; every bucket needs at least 10 of each to be scored`,
      );
    const n = o.n ?? Math.min(1000, fewest);
    if (n > fewest)
      throw new AppError(
        'BAD_REQUEST',
        `multi-resolution: --n ${n} exceeds the smallest bucket's real images (${fewest}); every bucket is scored at the same n`,
      );
    const result: MultiResolutionResult = {
      model: o.name,
      training: { ...trainingOf(dir), dataset: model.config.dataset?.name ?? '-' },
      sampler: o.sampler,
      steps: o.steps,
      buckets: [],
    };
    for (const [name, dataset] of datasets) {
      log(`multi-resolution: ${name}, n ${n}`);
      // From the first sampling step: the extractor's training and the real images' features
      // come before it.
      let started: number | null = null;
      let sampled = 0;
      const report = await evaluateModel({
        model,
        dataset,
        n,
        sampling: { sampler: o.sampler, steps: o.steps },
        seed: o.seed,
        guidance: 1,
        spread: o.spread,
        resumable: true,
        samplesDir: o.samplesDir,
        extractor: o.extractor,
        onProgress: (phase, done, total) => {
          if (phase !== 'sample') return;
          started ??= performance.now();
          if (done === total) sampled = (performance.now() - started) / 1000;
        },
      });
      const c = counts.get(name) as { train: number; heldout: number };
      const bucket: BucketQuality = {
        height: dataset.resolution,
        width: dataset.width ?? dataset.resolution,
        train_images: c.train,
        heldout_images: c.heldout,
        n,
        fd: report.metrics.fd,
        fd_std: report.fdSpread?.model.std ?? null,
        floor_fd: report.floor.fd,
        floor_std: report.fdSpread?.floor.std ?? null,
        ratio: report.metrics.fd / report.floor.fd,
        accuracy: report.accuracy ?? null,
        extractor: report.extractor.id,
        real_sets: report.realSets,
        sample_s: sampled,
      };
      result.buckets.push(bucket);
      log(
        `multi-resolution: ${name}: FD ${bucket.fd.toFixed(3)}, floor ${bucket.floor_fd.toFixed(3)}, ratio ${bucket.ratio.toFixed(2)}`,
      );
      partial(result);
    }
    return result;
  } finally {
    model.dispose();
  }
}
