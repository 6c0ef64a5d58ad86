import { z } from 'zod';

/**
 * Progressive resolution (issue 16 §2): one run trains at `resolutions`, low to high, each for
 * its stage's steps, with the same convolutional weights throughout; `steps` stays the run's
 * total. Stages are the trainer's (step ranges drawing from one resolution's data); they are
 * not the sittings of stages.jsonl.
 */
export const resolutionsSchema = z.array(z.number().int().min(8).max(512)).min(2).max(8);
export const stageStepsSchema = z.array(z.number().int().min(1).max(10_000_000)).min(2).max(8);

export interface ResolutionStage {
  resolution: number;
  /** The stage takes steps [previous stage's endStep, endStep). */
  endStep: number;
}

/**
 * The stages of a progressive run, checked: `resolutions` strictly increasing and ending at
 * `resolution` (the model's, what it samples at), each a multiple of `factor` (2^(levels-1) of
 * the U-Net); `stageSteps` one per resolution, summing to `steps`, or absent for an even split
 * (the remainder to the last stage). Throws an Error naming the field and the numbers.
 */
export function resolutionStages(spec: {
  resolution: number;
  steps: number;
  resolutions: number[];
  stageSteps?: number[];
  factor: number;
}): ResolutionStage[] {
  const { resolution, steps, resolutions, stageSteps, factor } = spec;
  const n = resolutions.length;
  if (n < 2) throw new Error(`resolutions: give two or more (got ${resolutions.join(',')})`);
  for (let i = 1; i < n; i++) {
    if ((resolutions[i] as number) <= (resolutions[i - 1] as number))
      throw new Error(
        `resolutions: must increase, low to high (${resolutions.join(',')} has ${resolutions[i]} after ${resolutions[i - 1]})`,
      );
  }
  if (resolutions[n - 1] !== resolution)
    throw new Error(
      `resolutions: the last (${resolutions[n - 1]}) must be the model's resolution (${resolution})`,
    );
  const odd = resolutions.find((r) => r % factor !== 0);
  if (odd !== undefined)
    throw new Error(
      `resolutions: ${odd} is not a multiple of ${factor}, which the U-Net's ${Math.log2(factor) + 1} levels need (2^(levels-1))`,
    );
  let per: number[];
  if (stageSteps) {
    if (stageSteps.length !== n)
      throw new Error(
        `stage_steps: ${stageSteps.length} entries for ${n} resolutions; give one per resolution`,
      );
    const total = stageSteps.reduce((a, b) => a + b, 0);
    if (total !== steps)
      throw new Error(
        `stage_steps: ${stageSteps.join(',')} sum to ${total}, but steps (the run's total) is ${steps}`,
      );
    per = stageSteps;
  } else {
    if (steps < n) throw new Error(`steps: ${steps} is fewer than one step per resolution (${n})`);
    const even = Math.floor(steps / n);
    per = resolutions.map((_, i) => (i === n - 1 ? steps - even * (n - 1) : even));
  }
  let end = 0;
  return resolutions.map((r, i) => {
    end += per[i] as number;
    return { resolution: r, endStep: end };
  });
}

/** The stage of the step being taken (0-based), as the engine's stage_of: the last past the end. */
export function stageOfStep(stages: readonly ResolutionStage[], step: number): number {
  const i = stages.findIndex((s) => step < s.endStep);
  return i < 0 ? stages.length - 1 : i;
}
