import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { type PresetName, presetUNet } from '@anneal/engine';
import {
  referenceDir,
  runJsonChild,
  runTsChild,
  systemOpenblas,
  threadEnv,
  venvPython,
} from './env.ts';
import { type Log, median } from './stats.ts';

/**
 * Training throughput at matched U-Net configurations (issue 4, Benchmarks 1): the engine
 * (through the TS Trainer, real shards), the same U-Net in MLX Python (the floor for the
 * binding's overhead) and diffusers' UNet2DModel on PyTorch (what a user would pick
 * instead). Each contender is a fresh process; contenders alternate A B C A B C ... so load
 * drifts on the shared machine hit all of them alike; medians are over every timed step of
 * every round.
 */

export interface TrainingCase {
  name: string;
  preset: PresetName;
  dataset: 'shapes' | 'mnist';
  resolution: number;
  channels: number;
  classes: number;
  batch: number;
}

/** Each preset at its natural resolution (docs/presets.md): tiny on shapes, small on MNIST. */
export const TRAINING_CASES: TrainingCase[] = [
  {
    name: 'tiny-16',
    preset: 'tiny',
    dataset: 'shapes',
    resolution: 16,
    channels: 3,
    classes: 5,
    batch: 32,
  },
  {
    name: 'small-32',
    preset: 'small',
    dataset: 'mnist',
    resolution: 32,
    channels: 1,
    classes: 10,
    batch: 32,
  },
];

export interface TrainingOptions {
  rounds: number;
  warmup: number;
  steps: number;
  threads: number;
  /** Cases by name (default: all); `batch` overrides each case's batch (smoke runs). */
  cases?: TrainingCase[];
  contenders?: Contender[];
  home?: string;
  log?: Log;
}

export type Contender = 'anneal-engine' | 'mlx-python' | 'diffusers-torch';
export const CONTENDERS: Contender[] = ['anneal-engine', 'mlx-python', 'diffusers-torch'];

export interface ContenderSummary {
  impl: Contender;
  params: number;
  step_ms_median: number;
  images_per_s: number;
  /** Each round's median: the spread says how much the machine's load moved the numbers. */
  round_medians_ms: number[];
  peak_memory_bytes: number;
  peak_memory_source: string;
  blas: string[];
  device: string;
  versions: Record<string, string>;
  final_loss: number;
  load_avg_1m: number[];
  /** images/s of the engine divided by this contender's (> 1: the engine is faster). */
  engine_speedup: number | null;
}

export interface TrainingCaseResult {
  case: TrainingCase;
  unet: Record<string, unknown>;
  contenders: ContenderSummary[];
  /** Each process's JSON line, in run order. */
  runs: Array<Record<string, unknown>>;
}

function contenderRun(
  impl: Contender,
  spec: Record<string, unknown>,
  c: TrainingCase,
  opts: TrainingOptions,
) {
  const env = threadEnv(opts.threads);
  if (impl === 'anneal-engine') {
    return runTsChild(
      impl,
      'engine-step.ts',
      [JSON.stringify({ ...spec, dataset: c.dataset, home: opts.home })],
      { env },
    );
  }
  // The reference scripts take the resolution as `resolution` and pass sample_size themselves.
  const { sample_size: _, ...unet } = spec.unet as Record<string, unknown>;
  const config = JSON.stringify({ ...spec, unet, resolution: c.resolution });
  if (impl === 'mlx-python') {
    const blas = systemOpenblas();
    return runJsonChild(impl, venvPython, [join(referenceDir, 'train_step_mlx.py'), config], {
      env: blas ? { ...env, LD_PRELOAD: blas } : env,
    });
  }
  return runJsonChild(impl, venvPython, [join(referenceDir, 'train_step_torch.py'), config], {
    env,
  });
}

export async function benchTraining(opts: TrainingOptions): Promise<TrainingCaseResult[]> {
  const out: TrainingCaseResult[] = [];
  const contenders = opts.contenders ?? CONTENDERS;
  for (const c of opts.cases ?? TRAINING_CASES) {
    const unet = presetUNet(c.preset, {
      resolution: c.resolution,
      channels: c.channels,
      numClasses: c.classes,
    });
    const spec = {
      unet,
      batch: c.batch,
      warmup: opts.warmup,
      steps: opts.steps,
      seed: 0,
      lr: 1e-4,
    };
    const runs: Array<Record<string, unknown>> = [];
    for (let round = 0; round < opts.rounds; round++) {
      for (const impl of contenders) {
        opts.log?.(`training ${c.name}: round ${round + 1}/${opts.rounds}, ${impl}`);
        const { line } = await contenderRun(impl, spec, c, opts);
        runs.push({ ...line, round });
      }
    }
    out.push({ case: c, unet, contenders: summarize(c, contenders, runs), runs });
  }
  return out;
}

export function summarize(
  c: TrainingCase,
  contenders: Contender[],
  runs: Array<Record<string, unknown>>,
): ContenderSummary[] {
  const summaries = contenders.map((impl): ContenderSummary => {
    const mine = runs.filter((r) => r.impl === impl);
    const steps = mine.flatMap((r) => r.step_ms as number[]);
    const med = median(steps);
    const first = mine[0] ?? {};
    return {
      impl,
      params: first.params as number,
      step_ms_median: med,
      images_per_s: (c.batch * 1000) / med,
      round_medians_ms: mine.map((r) => median(r.step_ms as number[])),
      peak_memory_bytes: Math.max(...mine.map((r) => r.peak_memory_bytes as number)),
      peak_memory_source: String(first.peak_memory_source ?? ''),
      blas: (first.blas as string[]) ?? [],
      device: String(first.device ?? ''),
      versions: (first.versions as Record<string, string>) ?? {},
      final_loss: first.final_loss as number,
      load_avg_1m: mine.map((r) => r.load_avg_1m as number),
      engine_speedup: null,
    };
  });
  // The comparison is only fair at the same architecture: refuse to report ratios otherwise.
  const counts = new Set(summaries.map((s) => s.params));
  if (counts.size !== 1) {
    const detail = summaries.map((s) => `${s.impl} ${s.params}`).join(', ');
    throw new AppError(
      'INTERNAL',
      `training ${c.name}: parameter counts differ (${detail}); the configs are not matched`,
    );
  }
  const engine = summaries.find((s) => s.impl === 'anneal-engine');
  for (const s of summaries)
    s.engine_speedup = engine ? engine.images_per_s / s.images_per_s : null;
  return summaries;
}
