// Progressive resolution vs fixed resolution (issue 16 §2's target): the same model, data,
// batch and memory budget trained two ways, alternating in one run, FD at the final
// resolution read along the way; the result is each arm's training wall time to a stated FD.
// Both arms take hours on a CPU, so with a state folder the run is kept after every chunk
// (both trainers' exact state and the curves so far) and a later sitting continues it.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import {
  Model,
  type ModelConfigInput,
  parseModelConfig,
  type SamplerName,
  Trainer,
  type TrainingBucket,
  writeFileAtomic,
} from '@anneal/engine';
import { fmt, type ResultFile, table } from './report-format.ts';
import type { QualityProbe } from './sampling.ts';
import type { Log } from './stats.ts';

export interface ProgressiveOptions {
  /** The model at the final resolution (unet.sample_size), e.g. the tiny preset at 32. */
  config: ModelConfigInput;
  /** Training shards per resolution: the low one and the final one. */
  shards: Record<number, string[]>;
  numClasses: number;
  /** The progressive arm's resolutions, low to high, and its steps per resolution. */
  resolutions: number[];
  stageSteps: number[];
  batch: number;
  /** Steps between FD readings (of each arm's EMA, at the final resolution). */
  evalEvery: number;
  sample: { sampler: SamplerName; steps: number; n: number };
  quality: QualityProbe;
  /** Absent: 1.2 x the fixed arm's last FD (the baseline's quality near its budget's end). */
  targetFd?: number;
  /** The progressive arm's schedule shift, based at its lowest resolution (default on). */
  shift?: boolean;
  seed?: number;
  lr?: number;
  log?: Log;
  onPartial?: (r: ProgressiveResult) => void;
  /**
   * Where runs keep their state (one folder per set of options under it): after every chunk
   * both arms' trainer checkpoints and the curves so far, so a stopped run continues exactly
   * where it was. Absent: nothing is kept.
   */
  stateRoot?: string;
}

export interface ProgressivePoint {
  step: number;
  /** Training wall time so far (FD readings excluded). */
  train_s: number;
  resolution: number;
  fd: number;
  peak_bytes: number;
}

export interface ProgressiveArm {
  name: 'fixed' | 'progressive';
  resolutions: number[];
  stage_steps: number[];
  curve: ProgressivePoint[];
  /** Training wall time at the first reading at or below the target; null: never reached. */
  time_to_target_s: number | null;
  step_to_target: number | null;
}

export interface ProgressiveResult {
  quality: string;
  target_fd: number | null;
  target_source: 'stated' | 'fixed arm x 1.2';
  arms: ProgressiveArm[];
  /** progressive / fixed time to target; the issue's target is <= 0.6. */
  time_ratio: number | null;
  /**
   * The steps at which a later sitting continued the run (empty: one sitting). Training
   * times add up across sittings; each chunk's two arms always ran in the same one.
   */
  resumed_at?: number[];
}

function bucketsOf(o: ProgressiveOptions, resolutions: number[]): TrainingBucket[] {
  return resolutions.map((r) => {
    const shards = o.shards[r];
    if (!shards) throw new RangeError(`no shards at ${r} px`);
    return { shards, height: r, width: r };
  });
}

/**
 * The target (stated, else 1.2 x the fixed arm's last FD) and each arm's first reading at or
 * below it; the ratio is progressive / fixed training time to it (null unless both reach it).
 * `arms` is [fixed, progressive]; their time_to_target_s and step_to_target are set.
 */
export function summarizeProgressive(
  arms: ProgressiveArm[],
  quality: string,
  targetFd?: number,
): ProgressiveResult {
  const lastFixed = arms[0]?.curve.at(-1)?.fd;
  const target = targetFd ?? (lastFixed === undefined ? null : 1.2 * lastFixed);
  for (const a of arms) {
    const hit = target === null ? undefined : a.curve.find((p) => p.fd <= target);
    a.time_to_target_s = hit?.train_s ?? null;
    a.step_to_target = hit?.step ?? null;
  }
  const [f, p] = arms.map((a) => a.time_to_target_s);
  return {
    quality,
    target_fd: target,
    target_source: targetFd === undefined ? 'fixed arm x 1.2' : 'stated',
    arms,
    time_ratio: f && p !== null && p !== undefined ? p / f : null,
  };
}

/** What is kept after each chunk, beside the arms' checkpoints in the slot it names. */
interface SavedProgress {
  key: string;
  slot: 'a' | 'b';
  done: number;
  resumed_at: number[];
  arms: Array<{ result: ProgressiveArm; train_s: number; peak: number; resolution: number }>;
}

/** Everything that decides the run: a kept state is continued only under the same options. */
function runKey(o: ProgressiveOptions, config: ReturnType<typeof parseModelConfig>): string {
  return JSON.stringify({
    version: 1,
    config,
    shards: o.shards,
    numClasses: o.numClasses,
    resolutions: o.resolutions,
    stageSteps: o.stageSteps,
    batch: o.batch,
    evalEvery: o.evalEvery,
    sample: o.sample,
    quality: o.quality.describe,
    shift: o.shift ?? true,
    seed: o.seed ?? 0,
    lr: o.lr ?? null,
  });
}

function readProgress(dir: string, key: string): SavedProgress | null {
  const path = join(dir, 'progress.json');
  if (!existsSync(path)) return null;
  let saved: SavedProgress;
  try {
    saved = JSON.parse(readFileSync(path, 'utf8')) as SavedProgress;
  } catch (err) {
    throw new AppError('CONFLICT', `${path} is not readable JSON (${err}); remove ${dir}`);
  }
  if (saved.key !== key)
    throw new AppError('CONFLICT', `${dir} holds another run's state (its key differs); remove it`);
  return saved;
}

export async function benchProgressive(o: ProgressiveOptions): Promise<ProgressiveResult> {
  const log = o.log ?? (() => {});
  const final = o.resolutions.at(-1) as number;
  const total = o.stageSteps.reduce((a, b) => a + b, 0);
  const base = parseModelConfig(o.config);
  const key = runKey(o, base);
  const stateDir = o.stateRoot
    ? join(o.stateRoot, createHash('sha256').update(key).digest('hex').slice(0, 24))
    : null;
  const saved = stateDir ? readProgress(stateDir, key) : null;
  const arms = [
    { name: 'fixed' as const, resolutions: [final], stageSteps: [total] },
    { name: 'progressive' as const, resolutions: o.resolutions, stageSteps: o.stageSteps },
  ].map((arm) => {
    const shifted = arm.name === 'progressive' && (o.shift ?? true);
    const config = shifted
      ? { ...base, schedule: { ...base.schedule, shift_base: o.resolutions[0] } }
      : base;
    const model = Model.create(config, o.seed ?? 0);
    let end = 0;
    const trainer = Trainer.create({
      model,
      buckets: bucketsOf(o, arm.resolutions),
      stages: arm.stageSteps.map((s, i) => {
        end += s;
        return { endStep: end, buckets: [i] };
      }),
      numClasses: o.numClasses,
      batch: o.batch,
      totalSteps: total,
      lr: o.lr,
      seed: o.seed ?? 0,
    });
    const result: ProgressiveArm = {
      name: arm.name,
      resolutions: arm.resolutions,
      stage_steps: arm.stageSteps,
      curve: [],
      time_to_target_s: null,
      step_to_target: null,
    };
    return {
      model,
      config,
      trainer,
      result,
      trainS: 0,
      peak: 0,
      resolution: arm.resolutions[0] ?? final,
    };
  });
  let done = 0;
  let slot: 'a' | 'b' | null = null;
  const resumedAt: number[] = [];
  if (saved && stateDir) {
    for (const [i, a] of arms.entries()) {
      const kept = saved.arms[i];
      if (kept?.result.name !== a.result.name)
        throw new AppError(
          'CONFLICT',
          `${stateDir}: progress.json's arm ${i} is not ${a.result.name}; remove the folder`,
        );
      const dir = join(stateDir, `slot-${saved.slot}`, a.result.name);
      a.trainer.resume(dir);
      if (a.trainer.step !== saved.done)
        throw new AppError(
          'CONFLICT',
          `${dir} holds step ${a.trainer.step}, progress.json says ${saved.done}; remove ${stateDir}`,
        );
      a.result = kept.result;
      a.trainS = kept.train_s;
      a.peak = kept.peak;
      a.resolution = kept.resolution;
    }
    done = saved.done;
    slot = saved.slot;
    resumedAt.push(...saved.resumed_at);
    if (done < total) resumedAt.push(done);
    log(
      done < total
        ? `progressive: continuing at step ${done} of ${total} from ${stateDir}`
        : `progressive: this run finished in an earlier sitting; its curves are read back from ${stateDir} (remove the folder to measure again)`,
    );
  }
  const summarize = () => ({
    ...summarizeProgressive(
      arms.map((a) => a.result),
      o.quality.describe,
      o.targetFd,
    ),
    resumed_at: resumedAt,
  });
  // Both arms' checkpoints into the free slot, then progress.json naming it: a kill at any
  // moment leaves the last whole chunk.
  const keep = () => {
    if (!stateDir) return;
    const next = slot === 'a' ? 'b' : 'a';
    for (const a of arms) {
      const dir = join(stateDir, `slot-${next}`, a.result.name);
      mkdirSync(dir, { recursive: true });
      a.trainer.saveCheckpoint(dir, a.config);
    }
    const progress: SavedProgress = {
      key,
      slot: next,
      done,
      resumed_at: resumedAt,
      arms: arms.map((a) => ({
        result: a.result,
        train_s: a.trainS,
        peak: a.peak,
        resolution: a.resolution,
      })),
    };
    writeFileAtomic(join(stateDir, 'progress.json'), `${JSON.stringify(progress)}\n`);
    slot = next;
  };
  try {
    while (done < total) {
      const chunk = Math.min(o.evalEvery, total - done);
      // Alternate which arm goes first, so neither always runs on a warmer or quieter machine.
      const order = (done / o.evalEvery) % 2 === 0 ? arms : [...arms].reverse();
      for (const a of order) {
        const t0 = performance.now();
        for await (const r of a.trainer.run(chunk)) {
          a.peak = Math.max(a.peak, r.peakBytes);
          a.resolution = r.height;
        }
        a.trainS += (performance.now() - t0) / 1000;
        const ema = a.trainer.ema();
        try {
          const s = await ema.sample({ ...o.sample, seed: o.seed ?? 0 });
          const fd = await o.quality.fd(s.images, s.shape as [number, number, number, number]);
          a.result.curve.push({
            step: a.trainer.step,
            train_s: a.trainS,
            resolution: a.resolution,
            fd,
            peak_bytes: a.peak,
          });
          log(
            `progressive: ${a.result.name} step ${a.trainer.step} (${a.resolution} px), ${a.trainS.toFixed(1)} s, FD ${fd.toFixed(3)}`,
          );
        } finally {
          ema.dispose();
        }
      }
      done += chunk;
      keep();
      o.onPartial?.(summarize());
    }
    return summarize();
  } finally {
    for (const a of arms) a.model.dispose();
  }
}

export function progressiveSection(f: ResultFile<ProgressiveResult>): string {
  const r = f.result;
  const rows = r.arms.map((a) => [
    a.name,
    a.resolutions.join(' -> '),
    a.stage_steps.join(' + '),
    fmt(a.curve.at(-1)?.fd, 3),
    a.step_to_target === null ? 'not reached' : String(a.step_to_target),
    fmt(a.time_to_target_s, 1),
    fmt(a.curve.at(-1)?.train_s, 1),
  ]);
  const curve = r.arms.flatMap((a) =>
    a.curve.map((p) => [a.name, p.step, p.resolution, fmt(p.train_s, 1), fmt(p.fd, 3)]),
  );
  return [
    `FD at the final resolution on ${r.quality}. Target FD ${fmt(r.target_fd, 3)} (${r.target_source}); progressive / fixed wall time to it: ${fmt(r.time_ratio, 2)} (the issue's target: <= 0.6). Training time only; the arms alternate chunk by chunk${
      r.resumed_at?.length
        ? `; run in ${r.resumed_at.length + 1} sittings (continued at step ${r.resumed_at.join(', ')}), each chunk's two arms in the same sitting`
        : ''
    }.`,
    '',
    table(
      [
        'arm',
        'resolutions',
        'steps',
        'final FD',
        'step at target',
        'train s at target',
        'train s total',
      ],
      rows,
    ),
    '',
    table(['arm', 'step', 'resolution', 'train s', 'FD'], curve),
  ].join('\n');
}
