// Learned vs hand-crafted sampling schedules (issue 13 §1): for each sampler and NFE, every
// schedule (uniform-t, Karras rho 7, log-linear, Align Your Steps transferred, learned) samples
// the same n initial noises; each row has the full quality report beside its floor, and the
// paired error to a 200-NFE reference trajectory (Heun at 100 steps) from the same noise: the
// mean squared pixel difference, with its spread over images.
import { existsSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import {
  aysSigmas,
  LEARNING_STATE_DIR,
  learnedRecord,
  learnedScheduleFile,
  learnScheduleResumable,
  loadNative,
  type Model,
  readLearnedSchedule,
  type SamplerName,
  samplerNfe,
  writeFileAtomic,
} from '@anneal/engine';
import { type MetricsProbe, type QualityMetrics, sampleRun } from './sampler-table.ts';
import { stepsForNfe } from './sampling.ts';
import type { Log } from './stats.ts';

export const SCHEDULE_KINDS = ['uniform', 'karras', 'exponential', 'ays', 'learned'] as const;
export type ScheduleKind = (typeof SCHEDULE_KINDS)[number];

export interface ScheduleRow extends QualityMetrics {
  sampler: SamplerName;
  nfe_per_image: number;
  steps: number;
  schedule: ScheduleKind;
  sigmas: number[];
  /** Mean over images of each image's mean squared pixel difference ([-1, 1]) to the reference. */
  paired_mse: number;
  /** Standard deviation over images of that per-image error. */
  paired_mse_std: number;
  seconds: number;
}

export interface ScheduleTableOptions {
  /** The model's folder: learned schedules are read from (and, when missing, written to) DIR/schedules. */
  dir: string;
  probe: MetricsProbe;
  samplers: ReadonlyArray<'ddim' | 'euler' | 'heun' | 'dpmpp-2m'>;
  nfes: readonly number[];
  /** The paired reference, from the same noise (default Heun at 100 steps, 199 NFE). */
  reference: { sampler: SamplerName; steps: number };
  /** How a missing learned schedule is learned (as `anneal schedule learn`). */
  learn: {
    n: number;
    seed: number;
    heldoutSeed: number;
    reference: { sampler: 'heun' | 'euler' | 'ddim'; steps: number };
    sweeps: number;
  };
  seed?: number;
  /** Where runs keep their chunks, so a stopped table resumes (SamplerTableOptions.sampleCache). */
  sampleCache?: string;
  log?: Log;
  onPartial?: (r: ScheduleTableResult) => void;
}

export interface ScheduleTableResult {
  n: number;
  quality: string;
  seed: number;
  floor: QualityMetrics;
  /** The paired reference run, with its own quality on the same ruler (the FD the schedules approach). */
  reference: { sampler: SamplerName; steps: number; nfe_per_image: number } & QualityMetrics;
  rows: ScheduleRow[];
  /** Where each learned schedule came from: an existing file or one learned for this run. */
  learned: Array<{
    sampler: SamplerName;
    nfe: number;
    file: string;
    learned_now: boolean;
    /** The calibration seed: when it is the table's seed, its first images were fitted to. */
    calibration_seed: number;
  }>;
}

/** The mean of per-image paired errors and their standard deviation over images. */
function pairedError(errs: Float64Array) {
  const n = errs.length;
  const mean = errs.reduce((x, y) => x + y, 0) / n;
  const variance = errs.reduce((x, y) => x + (y - mean) ** 2, 0) / Math.max(1, n - 1);
  return { mean, std: Math.sqrt(variance) };
}

function requestedLabels(model: Model, n: number): Int32Array | null {
  const k = model.config.dataset?.num_classes ?? 0;
  return k > 0 ? Int32Array.from({ length: n }, (_, i) => i % k) : null;
}

async function learnedSigmas(
  model: Model,
  opts: ScheduleTableOptions,
  sampler: 'ddim' | 'euler' | 'heun' | 'dpmpp-2m',
  steps: number,
  log: Log,
) {
  const nfe = samplerNfe(sampler, steps);
  const file = join(opts.dir, learnedScheduleFile(sampler, nfe));
  if (existsSync(file)) {
    const r = readLearnedSchedule(file);
    // A file from another model (another start sigma) or learned against another reference
    // is not the schedule this table measures: refused, naming the difference.
    const { sigmaMax } = model.sigmaRange();
    const ref = r.calibration.reference;
    const want = opts.learn.reference;
    // Both are the engine's sigma_max in double, up to float32 rounding of the model's table.
    if (Math.abs((r.sigmas[0] ?? 0) - sigmaMax) > 1e-6 * sigmaMax)
      throw new AppError(
        'BAD_REQUEST',
        `${file}: starts at sigma ${r.sigmas[0]}, not this model's largest sigma ${sigmaMax}; remove it to learn one for this model`,
      );
    if (ref.sampler !== want.sampler || ref.steps !== want.steps)
      throw new AppError(
        'BAD_REQUEST',
        `${file}: learned against reference ${ref.sampler}:${ref.steps}, not this run's ${want.sampler}:${want.steps}; remove it or pass --reference ${ref.sampler}:${ref.steps}`,
      );
    return { sigmas: r.sigmas, file, now: false, seed: r.calibration.seed };
  }
  log(`schedules: learning ${sampler} at ${nfe} NFE (n ${opts.learn.n})`);
  const { sigmaMin, sigmaMax } = model.sigmaRange();
  const compared = ['uniform', 'karras', 'exponential', 'ays'];
  const spec = {
    sampler,
    nfe,
    ...opts.learn,
    compare: ['uniform', 'karras', 'exponential', aysSigmas(steps, sigmaMin, sigmaMax)],
  };
  // The reference runs' record and the descent's checkpoints live beside the schedules, so
  // every learn of the table draws the references once and a stopped one resumes.
  const r = await learnScheduleResumable(
    model,
    {
      ...spec,
      onProgress: (p) => {
        if (p.checkpoint?.k === 1)
          log(
            `schedules: ${sampler} ${nfe} NFE: sweep ${p.checkpoint.sweep + 1} of ${spec.sweeps}, training error ${p.checkpoint.bestError.toExponential(3)}`,
          );
      },
    },
    join(opts.dir, LEARNING_STATE_DIR),
  );
  if (r.referenceReused || r.resumed)
    log(
      `schedules: ${sampler} ${nfe} NFE: ${r.resumed ? 'resumed from its checkpoint, ' : ''}reference runs read from ${r.referenceFile}`,
    );
  const record = learnedRecord(spec, r, compared, opts.dir);
  mkdirSync(join(opts.dir, 'schedules'), { recursive: true });
  writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
  return { sigmas: record.sigmas, file, now: true, seed: opts.learn.seed };
}

export async function scheduleTable(
  model: Model,
  opts: ScheduleTableOptions,
): Promise<ScheduleTableResult> {
  const seed = opts.seed ?? 0;
  const log = opts.log ?? (() => {});
  const { probe } = opts;
  const n = probe.n;
  const labels = requestedLabels(model, n);
  log(`schedules: reference ${opts.reference.sampler} ${opts.reference.steps} steps, n ${n}`);
  const ref = await sampleRun(
    model,
    { sampler: opts.reference.sampler, steps: opts.reference.steps, n, seed },
    opts.sampleCache,
    true,
    log,
  );
  const result: ScheduleTableResult = {
    n,
    quality: probe.describe,
    seed,
    floor: probe.floor,
    reference: {
      ...opts.reference,
      nfe_per_image: ref.nfe,
      ...(await probe.measure(ref.images, ref.shape, labels)),
    },
    rows: [],
    learned: [],
  };
  if (!ref.values) throw new Error('the reference run returned no float values');
  // Each row's chunks keep their images' errors to the reference, not their own float values.
  const pairedTo = { id: 'dir' in ref ? basename(ref.dir) : 'reference', values: ref.values };
  const { sigmaMin, sigmaMax } = model.sigmaRange();
  for (const sampler of opts.samplers) {
    for (const nfe of opts.nfes) {
      const steps = stepsForNfe(sampler, nfe);
      for (const schedule of SCHEDULE_KINDS) {
        let sigmas: number[] | undefined;
        if (schedule === 'ays') sigmas = aysSigmas(steps, sigmaMin, sigmaMax);
        if (schedule === 'learned') {
          const l = await learnedSigmas(model, opts, sampler, steps, log);
          result.learned.push({
            sampler,
            nfe: samplerNfe(sampler, steps),
            file: l.file,
            learned_now: l.now,
            calibration_seed: l.seed,
          });
          if (l.seed === seed)
            log(
              `schedules: ${l.file} was calibrated on seed ${seed}, the seed this table samples: its first images were fitted to`,
            );
          sigmas = l.sigmas;
        }
        const s = await sampleRun(
          model,
          { sampler, steps, n, seed, ...(sigmas ? { sigmas } : { schedule }) },
          opts.sampleCache,
          false,
          log,
          pairedTo,
        );
        const seconds = s.seconds;
        const metrics = await probe.measure(s.images, s.shape, labels);
        if (!s.pairedMse) throw new Error(`${sampler} ${schedule}: no paired errors returned`);
        const paired = pairedError(s.pairedMse);
        result.rows.push({
          sampler,
          nfe_per_image: s.nfe,
          steps,
          schedule,
          sigmas:
            sigmas ??
            loadNative().sampling.sigmas({ steps, schedule, sigmaMin, sigmaMax }, model.config),
          paired_mse: paired.mean,
          paired_mse_std: paired.std,
          seconds,
          ...metrics,
        });
        log(
          `schedules: ${sampler} ${s.nfe} NFE ${schedule}: FD ${metrics.fd.toFixed(3)}, paired MSE ${paired.mean.toExponential(3)}`,
        );
        opts.onPartial?.(result);
      }
    }
  }
  return result;
}
