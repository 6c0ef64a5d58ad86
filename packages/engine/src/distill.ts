import { AppError } from '@anneal/core/errors';
import { readShard } from '@anneal/datasets/shards';
import type { Model } from './model.ts';
import { loadNative } from './native.ts';

/**
 * The consistency-distillation discretization this engine proposes: N sigmas (default 18, as
 * on CIFAR-10 in Song et al. 2023) spaced by Karras et al.'s rho = 7 between the teacher's
 * largest and smallest sigma, decreasing, without the final 0.
 */
export function consistencySigmas(teacher: Model, n = 18, rho = 7): number[] {
  if (!Number.isInteger(n) || n < 2)
    throw new AppError('BAD_REQUEST', `the discretization needs N >= 2 sigmas, got ${n}`);
  const { sigmaMin, sigmaMax } = teacher.sigmaRange();
  const sigmas = loadNative().sampling.sigmas({
    steps: n,
    schedule: 'karras',
    sigmaMin,
    sigmaMax,
    rho,
  });
  return sigmas.slice(0, -1);
}

/**
 * The first progressive-distillation stage's grid: the teacher's DDIM schedule at `steps`
 * steps (uniform in t on a VP table, as DDIM samples), steps + 1 sigmas ending in 0. The
 * student of that stage takes steps / 2 steps on `halveGrid(grid)`.
 */
export function progressiveGrid(teacher: Model, steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 2 || steps % 2 !== 0)
    throw new AppError(
      'BAD_REQUEST',
      `a progressive stage needs an even teacher step count >= 2, got ${steps}`,
    );
  return loadNative().sampling.sigmas({ steps, schedule: 'uniform' }, teacher.config);
}

/**
 * Every second point of a grid: the student's sampling schedule after a stage, and the next
 * stage's teacher grid (sample the student with `ddim` and `sigmas: halveGrid(grid)`).
 */
export function halveGrid(grid: number[]): number[] {
  if (grid.length < 3 || grid.length % 2 === 0 || grid[grid.length - 1] !== 0)
    throw new AppError(
      'BAD_REQUEST',
      `a grid to halve holds 2N + 1 sigmas ending in 0, got ${grid.length}`,
    );
  return grid.filter((_, i) => i % 2 === 0);
}

/**
 * sigma_data for a consistency student: the standard deviation of every pixel value of the
 * shards, mapped to [-1, 1] as the trainer maps them (u8 * 2 / 255 - 1). MNIST is about 0.6.
 */
export async function measureSigmaData(shards: string[]): Promise<number> {
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  for (const path of shards) {
    const shard = await readShard(path);
    for (const u of shard.images) {
      const x = (u * 2) / 255 - 1;
      sum += x;
      sumSq += x * x;
    }
    n += shard.images.length;
  }
  if (n === 0)
    throw new AppError('BAD_REQUEST', 'no images in the shards to measure sigma_data from');
  const mean = sum / n;
  return Math.sqrt(Math.max(0, sumSq / n - mean * mean));
}
