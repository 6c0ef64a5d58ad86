// The learned-schedule record (config/schedule.ts's learnedScheduleSchema) built from what
// Model.learnSchedule returned: one builder for `anneal schedule learn` and the schedules
// bench, so the two write the same file for the same run.
import { type LearnedSchedule, learnedScheduleSchema, stepsForNfe } from './config/schedule.ts';
import { samplerNfe } from './config/training.ts';
import type { LearnScheduleSpec } from './model.ts';
import type { NativeLearnScheduleResult } from './native-types.ts';

export const LEARNED_METHOD =
  'GITS-style dynamic programming over the reference grid, then coordinate descent over log-sigmas on the end-to-end error';

/**
 * The record for `result`, learned with `spec` (its seeds, reference and baseline as passed to
 * Model.learnSchedule, with the same defaults); `compared` names the entries of spec.compare in
 * result.compare's order. Validated: throws naming the field when the result does not fit.
 */
export function learnedRecord(
  spec: LearnScheduleSpec & { n: number; seed: number; heldoutSeed: number },
  result: NativeLearnScheduleResult,
  compared: readonly string[],
  model: string,
  createdAt: Date = new Date(),
): LearnedSchedule {
  const steps = stepsForNfe(spec.sampler, spec.nfe);
  return learnedScheduleSchema.parse({
    sampler: spec.sampler,
    nfe: samplerNfe(spec.sampler, steps),
    steps,
    sigmas: result.sigmas,
    method: LEARNED_METHOD,
    calibration: {
      n: spec.n,
      seed: spec.seed,
      heldout_seed: spec.heldoutSeed,
      ...(spec.class !== undefined ? { class: spec.class } : {}),
      ...(spec.guidance !== undefined && spec.guidance !== 1 ? { guidance: spec.guidance } : {}),
      reference: spec.reference ?? { sampler: 'heun', steps: 100 },
    },
    scores: {
      baseline: {
        schedule: spec.initial ?? 'default',
        sigmas: result.initialSigmas,
        train_error: result.baselineTrain,
        heldout_error: result.baselineHeldout,
      },
      learned: { train_error: result.learnedTrain, heldout_error: result.learnedHeldout },
      hand_crafted: result.compare.map((c, i) => ({
        schedule: compared[i] ?? `compare-${i}`,
        sigmas: c.sigmas,
        train_error: c.train,
        heldout_error: c.heldout,
      })),
    },
    model,
    created_at: createdAt.toISOString(),
  });
}
