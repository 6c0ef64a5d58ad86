import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type BenchmarkName,
  MIXED_SHAPES,
  type MultiResolutionResult,
  runBench,
  TEACHER_TABLE_ROWS,
} from '@anneal/bench';
import { type learnableSamplerNames, Model, presetUNet } from '@anneal/engine';
import { parseFlags, UsageError } from '../args.ts';
import { type LocalDataset, prepareDatasetRef } from '../dataset.ts';
import { planBench } from '../plan/bench.ts';
import { multiResolutionBench } from '../quality/multi-resolution-bench.ts';
import {
  type Flags,
  flagsSchema,
  flagTypes,
  learnReference,
  recordedRuns,
  usage,
} from './bench-flags.ts';
import { datasetRuler, fdProbe, metricsProbe } from './bench-rulers.ts';
import type { Command } from './command.ts';

const ANNEAL_BIN = fileURLToPath(new URL('../../bin/anneal.js', import.meta.url));

/**
 * The data-parallel benchmark's runs: this install's `anneal train` as a child (its ranks
 * are processes of their own), each in a scratch folder removed when the benchmark ends.
 */
function dataParallelRunner() {
  const scratch = mkdtempSync(join(tmpdir(), 'anneal-bench-ranks-'));
  process.once('exit', () => rmSync(scratch, { recursive: true, force: true }));
  let n = 0;
  return {
    ranks: [1, 2],
    cores: availableParallelism(),
    scratch: () => join(scratch, `run-${++n}`),
    train: (args: string[], env: NodeJS.ProcessEnv) =>
      new Promise<string[]>((done, fail) => {
        const child = spawn(process.execPath, [ANNEAL_BIN, 'train', ...args], {
          env: { ...process.env, ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d));
        child.stderr.on('data', (d: Buffer) => (err = (err + d).slice(-4000)));
        child.on('close', (code) =>
          code === 0
            ? done(out.split('\n').filter(Boolean))
            : fail(new Error(`anneal train ${args.join(' ')} exited with ${code}: ${err}`)),
        );
      }),
  };
}

/**
 * The complexity measure's check on real images: the model's shapes dataset at its resolution
 * with every dial mixed (so each dial varies, whatever the model was trained on); null for a
 * model not trained on shapes (no dials to check against).
 */
function shapesValidation(dir: string, n: number) {
  const model = Model.load(dir);
  const info = model.config.dataset;
  model.dispose();
  const ref = info?.ref;
  if (!info || !ref || ref.kind !== 'builtin' || ref.name !== 'shapes') return null;
  return { resolution: info.resolution, options: { ...ref.options, ...MIXED_SHAPES }, n };
}

/** The multi-resolution suite: the model's buckets scored as `anneal eval` scores them. */
function multiResolutionRun(flags: Flags, dir: string) {
  const options = {
    n: flags.n ?? null,
    sampler: 'dpmpp-2m' as const,
    steps: flags.smoke ? 2 : 20,
    seed: flags.seed,
    spread: flags.spread,
  };
  return {
    options,
    run: (log: (line: string) => void, partial: (r: MultiResolutionResult) => void) =>
      multiResolutionBench(
        {
          ...options,
          n: flags.n,
          dir,
          name: flags.model ?? dir,
          samplesDir: flags['samples-dir'] ? resolve(flags['samples-dir']) : undefined,
          extractor: { steps: flags['extractor-steps'], width: flags['extractor-width'] },
        },
        log,
        partial,
      ),
  };
}

/**
 * The progressive suite's data (shapes with every complexity dial mixed, at each resolution)
 * and its FD probe at the final resolution: that dataset's extractor, n held-out images.
 */
async function progressiveData(flags: Flags, log: (line: string) => void) {
  const resolutions = flags.resolutions ?? [16, 32];
  const final = resolutions.at(-1) as number;
  const ref = JSON.stringify({ kind: 'builtin', name: 'shapes', options: MIXED_SHAPES });
  const shards: Record<number, string[]> = {};
  let dataset: LocalDataset | undefined;
  for (const r of resolutions) {
    const d = await prepareDatasetRef(ref, r);
    shards[r] = d.train;
    if (r === final) dataset = d;
  }
  if (!dataset) throw new UsageError('--resolutions: no final resolution');
  const n = flags.n ?? (flags.smoke ? 10 : flags.quick ? 200 : 500);
  // The suite's models are conditional on the dataset's classes when it has any.
  const classes = dataset.classes.length || null;
  const { ruler } = await datasetRuler(flags, dataset, classes, n, 'progressive', log);
  return {
    config: {
      preset: flags.preset,
      unet: presetUNet(flags.preset, {
        resolution: final,
        channels: dataset.channels,
        numClasses: dataset.classes.length || undefined,
      }),
      parameterization: 'v' as const,
    },
    shards,
    numClasses: dataset.classes.length,
    resolutions,
    batch: flags.batch,
    targetFd: flags['target-fd'],
    seed: flags.seed,
    quality: {
      describe: `extractor ${ruler.extractor.id} on shapes (mixed dials) at ${final} px, n = ${n}; real-vs-real floor FD ${ruler.floor.fd.toFixed(3)}`,
      fd: async (images: Uint8Array, shape: [number, number, number, number]) =>
        (await ruler.measure(images, shape)).metrics.fd,
    },
  };
}

export const bench: Command = {
  name: 'bench',
  summary: 'benchmark training, sampling and interop against MLX Python and diffusers',
  usage,
  async run(argv, io) {
    const flags = parseFlags(argv, flagTypes, flagsSchema);
    const log = (line: string) => io.err(line);
    const agreement = flags.only?.includes('diffusers-agreement');
    // Only diffusers-agreement takes a comma-separated list of checkpoints.
    const models = agreement ? flags.model?.split(',').map((m) => resolve(m)) : undefined;
    const model = flags.model ? (models?.[0] ?? resolve(flags.model)) : undefined;
    const toTarget = flags.only?.includes('to-target');
    const teacherSamplers = flags.only?.includes('teacher-samplers');
    const complexity = flags.only?.includes('complexity');
    const schedules = flags.only?.includes('schedules');
    const run = await runBench({
      scale: flags.smoke ? 'smoke' : flags.quick ? 'quick' : 'full',
      only: flags.only as BenchmarkName[] | undefined,
      threads: flags.threads,
      model,
      agreementModels: models,
      resultsDir: flags.results ? resolve(flags.results) : undefined,
      samplesDir: flags['samples-dir'] ? resolve(flags['samples-dir']) : undefined,
      stateDir: flags['state-dir'] ? resolve(flags['state-dir']) : undefined,
      markdownPath: flags.results ? resolve(flags.results, 'RESULTS.md') : undefined,
      quality: toTarget && model ? await fdProbe(flags, model, log) : undefined,
      toTarget: toTarget
        ? {
            n: flags.n ?? 1000,
            reference: flags.reference ?? { sampler: 'dpmpp-2m', steps: 50 },
            factor: flags.factor,
            targetFd: flags['target-fd'],
            nfeLadder: flags.ladder ?? [5, 10, 20, 50, 100, 250],
            samplers: flags.samplers,
            seed: flags.seed,
          }
        : undefined,
      teacherTable:
        teacherSamplers && model
          ? {
              probe: await metricsProbe(flags, model, flags.n ?? 500, log),
              rows: TEACHER_TABLE_ROWS,
              reference: {
                ...(flags.reference ?? { sampler: 'heun', steps: 100 }),
                probe: await metricsProbe(flags, model, flags['reference-n'], log),
              },
              seed: flags.seed,
              guidance: flags.guidance,
              grid: flags.grid ? { nfe: 10, count: 16, path: resolve(flags.grid) } : undefined,
            }
          : undefined,
      plan:
        flags.only?.includes('plan') && model
          ? {
              options: { statistic: flags.statistic, repeats: flags.repeats },
              run: (log, partial) =>
                planBench(
                  {
                    dir: model,
                    statistic: flags.statistic,
                    repeats: flags.repeats,
                    curve: {
                      n: flags.n ?? 200,
                      seed: flags.seed,
                      series: (flags.samplers ?? ['dpmpp-2m', 'ddim', 'heun']).map((sampler) => ({
                        sampler,
                        schedule: 'default',
                      })),
                      nfe: flags.ladder ?? [5, 10, 20],
                      extractor: {
                        steps: flags['extractor-steps'],
                        width: flags['extractor-width'],
                      },
                    },
                  },
                  log,
                  partial,
                ),
            }
          : undefined,
      complexity:
        complexity && model
          ? {
              n: flags.n ?? 500,
              seed: flags.seed,
              guidance: flags.guidance,
              rtols: flags.rtols ?? [0.2, 0.1, 0.05, 0.02],
              nfeLadder: flags.ladder ?? [5, 10, 15, 20, 30, 50],
              fixedSamplers: flags.samplers ?? ['dpm-solver-2', 'dpmpp-2m'],
              quality: await metricsProbe(flags, model, flags.n ?? 500, log, 'complexity'),
              validation: shapesValidation(model, flags.n ?? 500),
            }
          : undefined,
      scheduleTable:
        schedules && model
          ? {
              probe: await metricsProbe(flags, model, flags.n ?? 1000, log),
              samplers: (flags.samplers ?? ['dpmpp-2m', 'euler']) as Array<
                (typeof learnableSamplerNames)[number]
              >,
              nfes: flags.nfes ?? [5, 10, 20],
              reference: flags.reference ?? { sampler: 'heun', steps: 100 },
              learn: {
                n: flags['learn-n'],
                // Not the seed the table samples from: the calibration noise stays out of the FD rows.
                seed: flags.seed + 1000,
                heldoutSeed: flags.seed + 1001,
                reference: learnReference(flags.reference),
                sweeps: 6,
              },
              seed: flags.seed,
            }
          : undefined,
      progressive: flags.only?.includes('progressive')
        ? await progressiveData(flags, log)
        : undefined,
      multiResolution:
        flags.only?.includes('multi-resolution') && model
          ? multiResolutionRun(flags, model)
          : undefined,
      ...recordedRuns(flags),
      dataParallel: flags.only?.includes('data-parallel') ? dataParallelRunner() : undefined,
      log,
    });
    if (flags.json) {
      io.out(
        JSON.stringify({
          results: Object.fromEntries(
            run.files.map((f) => [f.name, { path: f.path, ...f.result }]),
          ),
        }),
      );
      return 0;
    }
    for (const f of run.files) io.out(`wrote ${f.path}`);
    if (run.markdown) io.out(`\n${run.markdown}`);
    return 0;
  },
};
