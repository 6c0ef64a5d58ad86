import { writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { resolveAnnealHome } from '@anneal/core/home';
import { Model } from '@anneal/engine';
import { benchDiffusersAgreement } from './agreement.ts';
import { benchAttention } from './attention.ts';
import { benchCeiling, benchProfile } from './ceiling.ts';
import { benchComplexity, type ComplexityResult, complexitySvg } from './complexity.ts';
import { benchDataParallel } from './data-parallel.ts';
import { readDistillationRun } from './distillation.ts';
import { loadAverage, repoRoot, resultsDir, threadEnv } from './env.ts';
import { benchInterop, INTEROP_CASES } from './interop.ts';
import { describeMachine } from './machine.ts';
import { benchMemoryFit, MEMORY_FIT_CASES } from './memory-fit.ts';
import { benchProgressive } from './progressive.ts';
import { type ResultFile, readResults, renderResults, toTargetSvg, writeResult } from './report.ts';
import { type SamplerTableResult, samplerTable } from './sampler-table.ts';
import { benchSampling, samplingToTarget, type ToTargetResult } from './sampling.ts';
import { type ScheduleTableResult, scheduleTable } from './schedule-table.ts';
import { readSearchRun } from './search.ts';
import {
  type BenchmarkName,
  type BenchOptions,
  type BenchRun,
  type BenchScale,
  checkOptions,
  DEFAULT_BENCHMARKS,
  SCALES,
} from './suites.ts';
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
export {
  type BucketQuality,
  MULTI_RESOLUTION_SPREAD_TARGET,
  type MultiResolutionResult,
  multiResolutionSection,
  ratioSpread,
} from './multi-resolution.ts';
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
export {
  BENCHMARKS,
  type BenchmarkName,
  type BenchOptions,
  type BenchRun,
  type BenchScale,
  DEFAULT_BENCHMARKS,
} from './suites.ts';

/**
 * Where the long tables keep their runs' chunks (`samplesDir`, else ANNEAL_HOME/samples): a
 * table stopped part way, or run again, reads the runs it finished instead of drawing them
 * again.
 */
const sampleCache = (opts: BenchOptions) =>
  opts.samplesDir ?? join(opts.home ?? resolveAnnealHome(), 'samples');

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
  checkOptions(only, opts);
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
          sampleCache: sampleCache(opts),
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
        // Hours per arm on a CPU: kept after every chunk, continued by the next sitting.
        stateRoot: opts.stateDir ?? join(opts.home ?? resolveAnnealHome(), 'bench', 'progressive'),
        log,
        onPartial: partial,
      }),
    );
  }
  if (only.has('multi-resolution') && opts.model && opts.multiResolution) {
    const { multiResolution: m } = opts;
    await record('multi-resolution', { model: repoPath(opts.model), ...m.options }, (partial) =>
      m.run(log, partial),
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
