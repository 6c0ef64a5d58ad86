import { writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { resolveAnnealHome } from '@anneal/core/home';
import { Model } from '@anneal/engine';
import { benchDiffusersAgreement } from './agreement.ts';
import { benchAttention } from './attention.ts';
import { benchCeiling, benchProfile } from './ceiling.ts';
import {
  benchComplexity,
  type ComplexityOptions,
  type ComplexityResult,
  complexitySvg,
} from './complexity.ts';
import { benchDataParallel, type DataParallelOptions } from './data-parallel.ts';
import { readDistillationRun } from './distillation.ts';
import { hasVenv, loadAverage, repoRoot, resultsDir, threadEnv, venvPython } from './env.ts';
import { benchInterop, INTEROP_CASES } from './interop.ts';
import { describeMachine } from './machine.ts';
import { benchMemoryFit, MEMORY_FIT_CASES } from './memory-fit.ts';
import type { PlanBenchResult } from './plan.ts';
import { benchProgressive, type ProgressiveOptions } from './progressive.ts';
import { type ResultFile, readResults, renderResults, toTargetSvg, writeResult } from './report.ts';
import {
  type SamplerTableOptions,
  type SamplerTableResult,
  samplerTable,
} from './sampler-table.ts';
import {
  benchSampling,
  type QualityProbe,
  samplingToTarget,
  type ToTargetOptions,
  type ToTargetResult,
} from './sampling.ts';
import {
  type ScheduleTableOptions,
  type ScheduleTableResult,
  scheduleTable,
} from './schedule-table.ts';
import { readSearchRun } from './search.ts';
import type { Log } from './stats.ts';
import { benchTraining, TRAINING_CASES, type TrainingCaseResult } from './training.ts';

export type { AgreementResult, AgreementRow } from './agreement.ts';
export {
  type ComplexityResult,
  complexitySvg,
  imageComplexity,
  MIXED_SHAPES,
  nfeAtFd,
  validateMeasure,
} from './complexity.ts';
export {
  type DataParallelResult,
  dataParallelSection,
  ringAllReduceMs,
  stepTimes,
} from './data-parallel.ts';
export {
  type DistillationResult,
  type DistillationRun,
  distillationSection,
  distillationTargets,
  readDistillationRun,
} from './distillation.ts';
export { hasVenv, referenceDir, resultsDir, venvPython } from './env.ts';
export { INTEROP_CASES, INTEROP_TOLERANCE } from './interop.ts';
export { type PlanBenchResult, type PlanBenchRow, planSummary } from './plan.ts';
export type { ProgressiveOptions, ProgressiveResult } from './progressive.ts';
export type { ResultFile } from './report.ts';
export { readResults, renderResults } from './report.ts';
export {
  type FdDifference,
  type MetricsProbe,
  type QualityMetrics,
  type SamplerTableResult,
  type SolverComparison,
  samplerTable,
  TEACHER_TABLE_ROWS,
} from './sampler-table.ts';
export {
  type QualityProbe,
  samplingToTarget,
  stepsForNfe,
  type TargetResult,
  type ToTargetOptions,
  type ToTargetResult,
} from './sampling.ts';
export {
  SCHEDULE_KINDS,
  type ScheduleRow,
  type ScheduleTableOptions,
  type ScheduleTableResult,
  scheduleTable,
} from './schedule-table.ts';
export {
  readSearchRun,
  SEARCH_TARGETS,
  type SearchBenchResult,
  type SearchRunRecord,
  searchSection,
  searchTargets,
} from './search.ts';

/**
 * Where the long tables keep their runs' chunks (`samplesDir`, else ANNEAL_HOME/samples): a
 * table stopped part way, or run again, reads the runs it finished instead of drawing them
 * again.
 */
const sampleCache = (opts: BenchOptions) => opts.samplesDir ?? join(resolveAnnealHome(), 'samples');

export const BENCHMARKS = [
  'training',
  'interop',
  'sampling',
  'ceiling',
  'to-target',
  'diffusers-agreement',
  'teacher-samplers',
  'plan',
  'complexity',
  'schedules',
  'memory-fit',
  'attention',
  'progressive',
  'distillation',
  'search',
  'data-parallel',
] as const;
/**
 * What runs without --only: to-target and teacher-samplers need a trained model and a
 * quality probe, diffusers-agreement trained models.
 */
export const DEFAULT_BENCHMARKS = ['training', 'interop', 'sampling', 'ceiling'] as const;
/** Benchmarks that need no reference environment (bench/setup.sh). */
const ENGINE_ONLY: readonly string[] = [
  'sampling',
  'to-target',
  'teacher-samplers',
  'plan',
  'complexity',
  'schedules',
  'memory-fit',
  'attention',
  'progressive',
  'distillation',
  'search',
  'data-parallel',
];
export type BenchmarkName = (typeof BENCHMARKS)[number];

/** How long the benchmarks run: `full` for RESULTS.md, `quick` for a look, `smoke` for npm test. */
export type BenchScale = 'full' | 'quick' | 'smoke';

const SCALES = {
  full: {
    cases: 2,
    profileRepeats: 5,
    rounds: 3,
    warmup: 2,
    steps: 4,
    batch: undefined,
    interop: 2,
    sampleN: 16,
    sampleSteps: 20,
    agreementSteps: [5, 10, 20],
    agreementN: 16,
    trainSteps: 100,
    repeats: 3,
    matmulN: 1024,
    matmulIters: 5,
    profileBatch: undefined,
    attention: {
      resolutions: [32, 64, 128],
      batch: 1,
      rounds: 3,
      sliceDivisors: [8, 32],
      limitOverCounted: 2,
    },
    progressiveSteps: 1200,
    progressiveEvalEvery: 100,
    progressiveSample: { sampler: 'ddim', steps: 20, n: 500 },
    dataParallel: {
      presets: ['tiny', 'small'],
      resolution: 32,
      batch: 32,
      warmup: 5,
      steps: 30,
      rounds: 2,
    },
  },
  quick: {
    cases: 2,
    profileRepeats: 3,
    rounds: 1,
    warmup: 1,
    steps: 3,
    batch: undefined,
    interop: 1,
    sampleN: 8,
    sampleSteps: 10,
    agreementSteps: [5, 10],
    agreementN: 8,
    trainSteps: 30,
    repeats: 1,
    matmulN: 1024,
    matmulIters: 3,
    profileBatch: 8,
    attention: {
      resolutions: [32, 64],
      batch: 1,
      rounds: 1,
      sliceDivisors: [8, 32],
      limitOverCounted: 2,
    },
    progressiveSteps: 200,
    progressiveEvalEvery: 50,
    progressiveSample: { sampler: 'ddim', steps: 20, n: 200 },
    dataParallel: { presets: ['tiny'], resolution: 32, batch: 32, warmup: 3, steps: 10, rounds: 1 },
  },
  // The harness end to end at toy sizes: it cannot rot, and its numbers mean nothing.
  smoke: {
    cases: 1,
    profileRepeats: 1,
    rounds: 1,
    warmup: 1,
    steps: 1,
    batch: 2,
    interop: 1,
    sampleN: 2,
    sampleSteps: 2,
    agreementSteps: [2],
    agreementN: 2,
    trainSteps: 2,
    repeats: 1,
    matmulN: 128,
    matmulIters: 1,
    profileBatch: 2,
    attention: { resolutions: [16], batch: 1, rounds: 1, sliceDivisors: [4], limitOverCounted: 0 },
    progressiveSteps: 4,
    progressiveEvalEvery: 2,
    progressiveSample: { sampler: 'ddim', steps: 2, n: 8 },
    dataParallel: { presets: ['tiny'], resolution: 8, batch: 8, warmup: 1, steps: 3, rounds: 1 },
  },
} as const;

export interface BenchOptions {
  scale: BenchScale;
  /**
   * Where teacher-samplers and schedules keep their runs' chunks instead of ANNEAL_HOME/samples:
   * a folder committed beside the model keeps an hours-long reference run across machines.
   */
  samplesDir?: string;
  only?: BenchmarkName[];
  /** OMP/OpenBLAS/MKL threads per contender (default 1: the machine is shared). */
  threads?: number;
  /** Sampling: a checkpoint instead of training a tiny model. */
  model?: string;
  /** diffusers-agreement: the checkpoints to compare (e.g. an eps and a v model). */
  agreementModels?: string[];
  /** Sampling: an FD probe (from `anneal eval`) so samplers report quality beside cost. */
  quality?: QualityProbe;
  /** to-target: the ladder, reference and target (the probe is `quality`). */
  toTarget?: Omit<ToTargetOptions, 'quality' | 'log' | 'onPartial'>;
  /** teacher-samplers: the rows, probes, reference and grid (on `model`). */
  teacherTable?: Omit<SamplerTableOptions, 'log' | 'onPartial'>;
  /** complexity: tolerances, ladder, FD probe and the measure's real-image check (on `model`). */
  complexity?: Omit<ComplexityOptions, 'log' | 'onPartial'>;
  /**
   * plan: the planner's run on `model` (it lives in the agent, beside the quality curve and
   * cost table it reads), and the options to record.
   */
  plan?: {
    options: Record<string, unknown>;
    run: (log: Log, partial: (r: PlanBenchResult) => void) => Promise<PlanBenchResult>;
  };
  /**
   * progressive: progressive vs fixed resolution (the agent prepares the data per resolution
   * and the FD probe at the final one; the scale gives the steps).
   */
  progressive?: Omit<
    ProgressiveOptions,
    'stageSteps' | 'evalEvery' | 'sample' | 'log' | 'onPartial'
  >;
  /** distillation: `anneal distill` run folders to record (nothing is run). */
  distillRuns?: string[];
  /** search: `anneal search` folders to record (nothing is run). */
  searchRuns?: string[];
  /**
   * data-parallel: how to run `anneal train` (the agent's), the rank counts and the cores
   * they share; the scale gives the presets, sizes and rounds.
   */
  dataParallel?: Pick<DataParallelOptions, 'train' | 'ranks' | 'cores' | 'scratch'>;
  /** schedules: learned vs hand-crafted schedules (on `model`, whose folder is `dir`). */
  scheduleTable?: Omit<ScheduleTableOptions, 'dir' | 'log' | 'onPartial'>;
  /**
   * Where results go (default bench/results, or bench/results/<scale> below full size) and the
   * markdown (default bench/RESULTS.md, or RESULTS.md beside the results; null: none).
   */
  resultsDir?: string;
  markdownPath?: string | null;
  /** ANNEAL_HOME for dataset shards (default: the user's). */
  home?: string;
  log?: Log;
}

export interface BenchRun {
  files: Array<{ name: BenchmarkName; path: string; result: ResultFile }>;
  markdown: string | null;
}

/**
 * RESULTS.md at `markdownPath` from every results file in `dir`, and the figures it links
 * (to-target.svg) beside it. Returns the markdown.
 */
export function writeReport(dir: string, markdownPath: string): string {
  const files = readResults(dir);
  const markdown = renderResults(files);
  writeFileSync(markdownPath, markdown);
  const complexity = files.find((f) => f.name === 'complexity');
  if (complexity)
    writeFileSync(
      join(dirname(markdownPath), 'complexity.svg'),
      complexitySvg(complexity.result as ComplexityResult),
    );
  const target = files.find((f) => f.name === 'to-target');
  if (target)
    writeFileSync(
      join(dirname(markdownPath), 'to-target.svg'),
      toTargetSvg(target.result as ToTargetResult),
    );
  return markdown;
}

/** Runs the selected benchmarks in order, writing bench/results/<name>.json after each. */
export async function runBench(opts: BenchOptions): Promise<BenchRun> {
  const scale = SCALES[opts.scale];
  const threads = opts.threads ?? 1;
  const only = new Set<BenchmarkName>(opts.only ?? DEFAULT_BENCHMARKS);
  const needsVenv = [...only].some((n) => !ENGINE_ONLY.includes(n));
  if (only.has('diffusers-agreement') && !opts.agreementModels?.length) {
    throw new AppError(
      'BAD_REQUEST',
      'diffusers-agreement needs trained checkpoints (--model DIR[,DIR]) to compare; it has no default model',
    );
  }
  if (only.has('to-target') && !(opts.model && opts.quality && opts.toTarget)) {
    throw new AppError(
      'BAD_REQUEST',
      'to-target needs a trained checkpoint (--model DIR) to measure FD on; it has no default model',
    );
  }
  if (only.has('complexity') && !(opts.model && opts.complexity)) {
    throw new AppError(
      'BAD_REQUEST',
      'complexity needs a trained checkpoint (--model DIR, a shapes model) to measure; it has no default model',
    );
  }
  if (only.has('teacher-samplers') && !(opts.model && opts.teacherTable)) {
    throw new AppError(
      'BAD_REQUEST',
      'teacher-samplers needs a trained checkpoint (--model DIR) to measure; it has no default model',
    );
  }
  if (only.has('plan') && !(opts.model && opts.plan)) {
    throw new AppError(
      'BAD_REQUEST',
      'plan needs a trained checkpoint (--model DIR) to plan for; it has no default model',
    );
  }
  if (only.has('schedules') && !(opts.model && opts.scheduleTable)) {
    throw new AppError(
      'BAD_REQUEST',
      'schedules needs a trained checkpoint (--model DIR) to measure; it has no default model',
    );
  }
  if (only.has('distillation') && !opts.distillRuns?.length) {
    throw new AppError('BAD_REQUEST', 'distillation needs the run folders to record (--runs)');
  }
  if (only.has('search') && !opts.searchRuns?.length) {
    throw new AppError('BAD_REQUEST', 'search needs the search folders to record (--runs)');
  }
  if (only.has('progressive') && !opts.progressive) {
    throw new AppError(
      'BAD_REQUEST',
      'progressive needs its data and FD probe (anneal bench --only progressive prepares them)',
    );
  }
  if (needsVenv && !hasVenv()) {
    throw new AppError(
      'PRECONDITION_FAILED',
      `${venvPython} is missing: run bench/setup.sh first (the reference environment)`,
    );
  }
  // Only full-size runs land in bench/results (committed, behind RESULTS.md); a quick or smoke
  // run writes beside them in bench/results/<scale>/ and cannot overwrite the real numbers.
  const dir =
    opts.resultsDir ?? (opts.scale === 'full' ? resultsDir : join(resultsDir, opts.scale));
  const log = opts.log ?? (() => {});
  const files: BenchRun['files'] = [];
  const cases = TRAINING_CASES.slice(0, scale.cases).map((c) => ({
    ...c,
    batch: scale.batch ?? c.batch,
  }));
  let training: TrainingCaseResult[] | null = null;

  const record = async <T>(
    name: BenchmarkName,
    options: Record<string, unknown>,
    fn: (partial: (result: T) => void) => Promise<T>,
  ) => {
    const machine = describeMachine(threads);
    const started = performance.now();
    const file = (result: T, complete: boolean): ResultFile<T> => ({
      name,
      machine,
      load_avg_end: loadAverage(),
      seconds: (performance.now() - started) / 1000,
      options: { scale: opts.scale, ...options },
      ...(complete ? {} : { partial: true }),
      result,
    });
    // A long benchmark writes what it has as it goes, marked partial, so stopping it early
    // keeps the finished part.
    const result = await fn((r) => writeResult(dir, file(r, false)));
    const done = file(result, true);
    files.push({ name, path: writeResult(dir, done), result: done });
    return result;
  };

  const trainingOptions = {
    rounds: scale.rounds,
    warmup: scale.warmup,
    steps: scale.steps,
    threads,
  };
  const runTraining = () => benchTraining({ ...trainingOptions, cases, home: opts.home, log });
  if (only.has('training')) {
    training = await record('training', trainingOptions, runTraining);
  } else if (only.has('ceiling')) {
    // The ceiling needs the step's images/s: the last training results at this scale and
    // thread count, else a fresh training run (not written as training.json).
    training = previousTraining(dir, opts.scale, threads) ?? (await runTraining());
  }
  if (only.has('interop')) {
    const cases = INTEROP_CASES.slice(0, scale.interop);
    await record('interop', { cases: cases.map((c) => c.name) }, async () => {
      log('interop: diffusers -> anneal import diffusers -> engine forward');
      const results = await benchInterop(cases);
      const bad = results.filter((r) => !r.ok);
      if (bad.length) {
        const detail = bad.map(
          (r) =>
            `${r.name}: max abs error ${r.max_abs_error}, params ${r.params_diffusers} vs ${r.params_engine}`,
        );
        throw new AppError('INTERNAL', `interop check failed: ${detail.join('; ')}`);
      }
      return results;
    });
  }
  if (only.has('sampling')) {
    const options = {
      steps: scale.sampleSteps,
      n: scale.sampleN,
      trainSteps: scale.trainSteps,
      repeats: scale.repeats,
      model: opts.model ?? null,
    };
    await record('sampling', options, () =>
      benchSampling({ ...options, model: opts.model, home: opts.home, quality: opts.quality, log }),
    );
  }
  if (only.has('to-target') && opts.model && opts.quality && opts.toTarget) {
    const { model: dir, quality, toTarget } = opts;
    const options = { model: dir, ...toTarget };
    await record('to-target', options, async (partial) => {
      return onModel(dir, async (model, about) => {
        const result = await samplingToTarget(model, {
          ...toTarget,
          quality,
          log,
          onPartial: (r) => partial({ ...about, ...r }),
        });
        return { ...about, ...result };
      });
    });
  }
  if (only.has('teacher-samplers') && opts.model && opts.teacherTable) {
    const { model: dir, teacherTable } = opts;
    const options = {
      model: repoPath(dir),
      n: teacherTable.probe.n,
      rows: teacherTable.rows,
      reference: teacherTable.reference
        ? {
            sampler: teacherTable.reference.sampler,
            steps: teacherTable.reference.steps,
            n: teacherTable.reference.probe.n,
          }
        : null,
      seed: teacherTable.seed ?? 0,
      guidance: teacherTable.guidance ?? 1,
      spread: teacherTable.probe.spread,
      grid: teacherTable.grid
        ? { ...teacherTable.grid, path: repoPath(teacherTable.grid.path) }
        : null,
    };
    await record('teacher-samplers', options, async (partial) => {
      return onModel(dir, async (model, about) => {
        const shown = (r: SamplerTableResult) => ({
          ...about,
          ...r,
          grid: r.grid ? { ...r.grid, path: repoPath(r.grid.path) } : null,
        });
        const result = await samplerTable(model, {
          ...teacherTable,
          sampleCache: sampleCache(opts),
          log,
          onPartial: (r) => partial(shown(r)),
        });
        return shown(result);
      });
    });
  }
  if (only.has('plan') && opts.model && opts.plan) {
    const { plan } = opts;
    await record('plan', { model: repoPath(opts.model), ...plan.options }, (partial) =>
      plan.run(log, partial),
    );
  }
  if (only.has('complexity') && opts.model && opts.complexity) {
    const { model: dir, complexity } = opts;
    const { quality, ...rest } = complexity;
    const options = { model: repoPath(dir), ...rest, quality: quality.describe };
    await record('complexity', options, async (partial) => {
      return onModel(dir, async (model, about) => {
        const result = await benchComplexity(model, {
          ...complexity,
          log,
          onPartial: (r) => partial({ ...about, ...r }),
        });
        return { ...about, ...result };
      });
    });
  }
  if (only.has('schedules') && opts.model && opts.scheduleTable) {
    const { model: dir, scheduleTable: table } = opts;
    const options = {
      model: repoPath(dir),
      n: table.probe.n,
      samplers: table.samplers,
      nfes: table.nfes,
      reference: table.reference,
      learn: table.learn,
      seed: table.seed ?? 0,
      spread: table.probe.spread,
    };
    await record('schedules', options, async (partial) => {
      return onModel(dir, async (model, about) => {
        const result = await scheduleTable(model, {
          ...table,
          dir,
          sampleCache: sampleCache(opts),
          log,
          onPartial: (r: ScheduleTableResult) => partial({ ...about, ...r }),
        });
        return { ...about, ...result };
      });
    });
  }
  if (only.has('attention')) {
    const options = { ...scale.attention };
    await record('attention', options, (partial) =>
      benchAttention({ ...options, log, onPartial: partial }),
    );
  }
  if (only.has('data-parallel')) {
    if (!opts.dataParallel)
      throw new AppError('BAD_REQUEST', 'data-parallel needs a way to run `anneal train`');
    const dp = { ...scale.dataParallel, presets: [...scale.dataParallel.presets] };
    const options = { ...dp, ranks: opts.dataParallel.ranks, cores: opts.dataParallel.cores };
    const run = opts.dataParallel;
    await record('data-parallel', options, (partial) =>
      benchDataParallel({ ...run, ...dp, log, onPartial: partial }),
    );
  }
  if (only.has('distillation') && opts.distillRuns?.length) {
    const runs = opts.distillRuns;
    await record('distillation', { runs: runs.map((d) => repoPath(d)) }, async () => ({
      runs: runs.map((d) => readDistillationRun(d, repoRoot)),
    }));
  }
  if (only.has('search') && opts.searchRuns?.length) {
    const runs = opts.searchRuns;
    await record('search', { runs: runs.map((d) => repoPath(d)) }, async () => ({
      runs: runs.map((d) => readSearchRun(d, repoRoot)),
    }));
  }
  if (only.has('progressive') && opts.progressive) {
    const p = opts.progressive;
    const per = Math.floor(scale.progressiveSteps / p.resolutions.length);
    const last = p.resolutions.length - 1;
    const stageSteps = p.resolutions.map((_, i) =>
      i === last ? scale.progressiveSteps - per * last : per,
    );
    const options = {
      resolutions: p.resolutions,
      stage_steps: stageSteps,
      batch: p.batch,
      eval_every: scale.progressiveEvalEvery,
      sample: scale.progressiveSample,
      target_fd: p.targetFd ?? null,
      shift: p.shift ?? true,
      seed: p.seed ?? 0,
      model: p.config,
      quality: p.quality.describe,
    };
    await record('progressive', options, (partial) =>
      benchProgressive({
        ...p,
        stageSteps,
        evalEvery: scale.progressiveEvalEvery,
        sample: { ...scale.progressiveSample },
        log,
        onPartial: partial,
      }),
    );
  }
  if (only.has('diffusers-agreement') && opts.agreementModels?.length) {
    const options = {
      models: opts.agreementModels,
      steps: [...scale.agreementSteps],
      n: scale.agreementN,
      seed: 0,
    };
    await record('diffusers-agreement', options, () =>
      benchDiffusersAgreement({ ...options, env: threadEnv(threads), log }),
    );
  }
  if (only.has('memory-fit')) {
    // Smoke: one small case; the numbers only show the harness runs.
    const cases = opts.scale === 'smoke' ? MEMORY_FIT_CASES.slice(0, 1) : MEMORY_FIT_CASES;
    const options = { cases, steps: scale.steps, warmup: scale.warmup };
    await record('memory-fit', options, (partial) =>
      benchMemoryFit({ ...options, log, onPartial: partial }),
    );
  }
  if (only.has('ceiling') && training) {
    const t = training;
    await record(
      'ceiling',
      { matmul_n: scale.matmulN, profile_batch: scale.profileBatch ?? 'as trained', threads },
      async () => {
        log('ceiling: matmul');
        const ceiling = await benchCeiling(t, {
          n: scale.matmulN,
          iterations: scale.matmulIters,
          threads,
        });
        const profile = [];
        for (const c of t)
          profile.push(
            await benchProfile(c, {
              threads,
              batch: scale.profileBatch,
              repeats: scale.profileRepeats,
              log,
            }),
          );
        return { ceiling, profile };
      },
    );
  }
  let markdown: string | null = null;
  if (opts.markdownPath !== null) {
    const fallback =
      opts.scale === 'full' ? join(repoRoot, 'bench', 'RESULTS.md') : join(dir, 'RESULTS.md');
    markdown = writeReport(dir, opts.markdownPath ?? fallback);
  }
  return { files, markdown };
}

/** A path as RESULTS.md names it: relative to the repository when inside it. */
function repoPath(dir: string): string {
  const rel = relative(repoRoot, dir);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : dir;
}

/**
 * Runs one suite on the checkpoint in `dir`, with what every model suite records about it
 * (its description and parameter count), freeing the model after.
 */
async function onModel<R>(
  dir: string,
  run: (model: Model, about: { model: string; parameters: number }) => Promise<R>,
): Promise<R> {
  const model = Model.load(dir);
  try {
    return await run(model, {
      model: describeModel(dir, model),
      parameters: model.parameterCount(),
    });
  } finally {
    model.dispose();
  }
}

function describeModel(dir: string, model: Model): string {
  const c = model.config;
  return `${repoPath(dir)}: ${c.preset ?? 'custom'} preset, ${c.parameterization} parameterization${
    c.dataset
      ? `, trained on ${c.dataset.name} ${c.dataset.resolution}x${c.dataset.resolution}`
      : ''
  }`;
}

function previousTraining(
  dir: string,
  scale: BenchScale,
  threads: number,
): TrainingCaseResult[] | null {
  const file = readResults(dir).find((f) => f.name === 'training');
  if (!file || file.options.scale !== scale || file.options.threads !== threads) return null;
  return file.result as TrainingCaseResult[];
}
