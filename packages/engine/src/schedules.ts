import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { AppError } from '@anneal/core/errors';
import {
  aysSigmas,
  checkScheduleFits,
  type LearnedSchedule,
  learnedScheduleFile,
  learnedScheduleSchema,
  scheduleNames,
} from './config/schedule.ts';
import { type SamplerName, samplerNfe } from './config/training.ts';

/** Reads and validates a learned schedule file, naming the file and the field that is wrong. */
export function readLearnedSchedule(path: string): LearnedSchedule {
  if (!existsSync(path)) throw new AppError('NOT_FOUND', `no schedule file ${path}`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new AppError('BAD_REQUEST', `${path} is not valid JSON: ${(err as Error).message}`);
  }
  const r = learnedScheduleSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new AppError(
      'BAD_REQUEST',
      `${path}: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  return r.data;
}

/** What a `--schedule` value came to: a kind the engine builds, or explicit sigmas and where they came from. */
export interface ResolvedSchedule {
  /** The name as given (a kind or a file path). */
  name: string;
  /** Set for the engine's own kinds (default, uniform, karras, exponential). */
  kind?: string;
  /** Set for ays, learned and files. */
  sigmas?: number[];
  /** The learned schedule file read, if any. */
  file?: string;
  /** The classifier-free guidance weight the file's schedule was learned at (1: none). */
  guidance?: number;
}

const ENGINE_KINDS = new Set(['default', 'uniform', 'karras', 'exponential']);

/** A number as the engine's messages print it (C++ ostream's default, printf's %g). */
function num(v: number): string {
  if (v === 0 || !Number.isFinite(v)) return String(v);
  const exp = Number(v.toExponential(5).split('e')[1]);
  const strip = (m: string) => (m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m);
  if (exp < -4 || exp >= 6) {
    const [m = '', e = ''] = v.toExponential(5).split('e');
    const sign = e.startsWith('-') ? '-' : '+';
    return `${strip(m)}e${sign}${e.replace(/^[+-]/, '').padStart(2, '0')}`;
  }
  return strip(v.toFixed(Math.max(0, 5 - exp)));
}

/** The engine's sigma_max check (make_sigmas): sigmaMin < start <= sigmaMax, in its words. */
function checkStart(start: number, range: { sigmaMin: number; sigmaMax: number }): void {
  if (!(start > range.sigmaMin && start <= range.sigmaMax))
    throw new AppError(
      'BAD_REQUEST',
      `sigma_max ${num(start)} is outside this model's sigma range (${num(range.sigmaMin)}, ${num(range.sigmaMax)}]`,
    );
}

/**
 * Resolves a schedule choice for `sampler` at `steps`: `ays` from the model's sigma range
 * (aysSigmas), `learned` from `dir`/schedules/<sampler>-nfe<K>.json, anything else not a kind
 * as a path to such a file (relative to the working directory). A file learned for another
 * sampler or NFE is refused, naming both.
 */
export function resolveSchedule(opts: {
  schedule: string;
  sampler: SamplerName;
  steps: number;
  sigmaRange: () => { sigmaMin: number; sigmaMax: number };
  /** The model directory, for `learned`. */
  dir?: string;
  /** Start sigma for `ays` (the model's largest when absent). */
  sigmaMax?: number;
}): ResolvedSchedule {
  const { schedule, sampler, steps } = opts;
  if (ENGINE_KINDS.has(schedule)) return { name: schedule, kind: schedule };
  if (schedule === 'ays') {
    const range = opts.sigmaRange();
    const start = opts.sigmaMax ?? range.sigmaMax;
    checkStart(start, range);
    return { name: 'ays', sigmas: aysSigmas(steps, range.sigmaMin, start) };
  }
  const nfe = samplerNfe(sampler, steps);
  let file: string;
  if (schedule === 'learned') {
    if (!opts.dir)
      throw new AppError(
        'BAD_REQUEST',
        '--schedule learned needs a model directory or registry version (its schedules/ folder)',
      );
    file = join(opts.dir, learnedScheduleFile(sampler, nfe));
    if (!existsSync(file))
      throw new AppError(
        'NOT_FOUND',
        `no learned schedule for ${sampler} at ${nfe} NFE (${file}); make one with: anneal schedule learn --model ${opts.dir} --sampler ${sampler} --nfe ${nfe}`,
      );
  } else {
    file = isAbsolute(schedule) ? schedule : resolve(schedule);
    if (!schedule.endsWith('.json') && !existsSync(file))
      throw new AppError(
        'BAD_REQUEST',
        `unknown schedule "${schedule}": use ${scheduleNames.join(', ')}, or a path to a learned schedule .json`,
      );
  }
  const record = readLearnedSchedule(file);
  try {
    checkScheduleFits(record, sampler, nfe, file);
  } catch (err) {
    throw new AppError('BAD_REQUEST', (err as Error).message);
  }
  // A file learned on another model can start above this one's largest sigma. The start is
  // the model's sigma_max as the engine computed it, written back as a double: no tolerance.
  const range = opts.sigmaRange();
  const first = record.sigmas[0] ?? 0;
  if (first > range.sigmaMax)
    throw new AppError(
      'BAD_REQUEST',
      `${file}: starts at sigma ${num(first)}, above this model's largest sigma ${num(range.sigmaMax)} (sigma range (${num(range.sigmaMin)}, ${num(range.sigmaMax)}]): it was learned on another model (${record.model})`,
    );
  return {
    name: schedule,
    sigmas: record.sigmas,
    file,
    guidance: record.calibration.guidance ?? 1,
  };
}
