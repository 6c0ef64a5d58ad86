import { AppError } from '@anneal/core/errors';
import type { ComplexityOptions } from './complexity.ts';
import type { DataParallelOptions } from './data-parallel.ts';
import { hasVenv, venvPython } from './env.ts';
import type { MultiResolutionResult } from './multi-resolution.ts';
import type { PlanBenchResult } from './plan.ts';
import type { ProgressiveOptions } from './progressive.ts';
import type { ResultFile } from './report.ts';
import type { SamplerTableOptions } from './sampler-table.ts';
import type { QualityProbe, ToTargetOptions } from './sampling.ts';
import type { ScheduleTableOptions } from './schedule-table.ts';
import type { Log } from './stats.ts';

/** The benchmarks `anneal bench` runs, their sizes per scale, and what a run is given. */
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
  'multi-resolution',
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
export const ENGINE_ONLY: readonly string[] = [
  'sampling',
  'to-target',
  'teacher-samplers',
  'plan',
  'complexity',
  'schedules',
  'memory-fit',
  'attention',
  'progressive',
  'multi-resolution',
  'distillation',
  'search',
  'data-parallel',
];
export type BenchmarkName = (typeof BENCHMARKS)[number];

/** How long the benchmarks run: `full` for RESULTS.md, `quick` for a look, `smoke` for npm test. */
export type BenchScale = 'full' | 'quick' | 'smoke';

export const SCALES = {
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
  /** Where progressive keeps its runs' state instead of ANNEAL_HOME/bench/progressive. */
  stateDir?: string;
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
  /**
   * multi-resolution: a multi-resolution model scored on each of its aspect buckets (the
   * agent evaluates, as `anneal eval` does), and the options to record.
   */
  multiResolution?: {
    options: Record<string, unknown>;
    run: (log: Log, partial: (r: MultiResolutionResult) => void) => Promise<MultiResolutionResult>;
  };
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

const noDefault = (what: string) => `${what}; it has no default model`;
/** What each benchmark that is not self-contained must be given, and the refusal naming it. */
const PRECONDITIONS: Array<[BenchmarkName, (o: BenchOptions) => unknown, string]> = [
  [
    'diffusers-agreement',
    (o) => o.agreementModels?.length,
    noDefault('diffusers-agreement needs trained checkpoints (--model DIR[,DIR]) to compare'),
  ],
  [
    'to-target',
    (o) => o.model && o.quality && o.toTarget,
    noDefault('to-target needs a trained checkpoint (--model DIR) to measure FD on'),
  ],
  [
    'complexity',
    (o) => o.model && o.complexity,
    noDefault('complexity needs a trained checkpoint (--model DIR, a shapes model) to measure'),
  ],
  [
    'teacher-samplers',
    (o) => o.model && o.teacherTable,
    noDefault('teacher-samplers needs a trained checkpoint (--model DIR) to measure'),
  ],
  [
    'plan',
    (o) => o.model && o.plan,
    noDefault('plan needs a trained checkpoint (--model DIR) to plan for'),
  ],
  [
    'schedules',
    (o) => o.model && o.scheduleTable,
    noDefault('schedules needs a trained checkpoint (--model DIR) to measure'),
  ],
  [
    'distillation',
    (o) => o.distillRuns?.length,
    'distillation needs the run folders to record (--runs)',
  ],
  ['search', (o) => o.searchRuns?.length, 'search needs the search folders to record (--runs)'],
  [
    'multi-resolution',
    (o) => o.model && o.multiResolution,
    noDefault('multi-resolution needs a multi-resolution checkpoint (--model DIR) to score'),
  ],
  [
    'progressive',
    (o) => o.progressive,
    'progressive needs its data and FD probe (anneal bench --only progressive prepares them)',
  ],
];

/**
 * Refuses a run that cannot start: a selected benchmark without what it measures (a trained
 * checkpoint, run folders, data) or, for those that compare with MLX Python and diffusers,
 * without the reference environment.
 */
export function checkOptions(only: ReadonlySet<BenchmarkName>, opts: BenchOptions): void {
  for (const [name, ready, message] of PRECONDITIONS)
    if (only.has(name) && !ready(opts)) throw new AppError('BAD_REQUEST', message);
  const needsVenv = [...only].some((n) => !ENGINE_ONLY.includes(n));
  if (needsVenv && !hasVenv()) {
    throw new AppError(
      'PRECONDITION_FAILED',
      `${venvPython} is missing: run bench/setup.sh first (the reference environment)`,
    );
  }
}
