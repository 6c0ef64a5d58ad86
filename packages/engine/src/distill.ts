import { AppError } from '@anneal/core/errors';
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
