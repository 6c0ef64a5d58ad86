import { resolve } from 'node:path';
import {
  calibrateStepPredictor,
  DEFAULT_ADAPTIVE_TOLERANCES,
  DEFAULT_STEP_GRID,
  diffusionSamplerNames,
  Model,
  writeStepPredictor,
} from '@anneal/engine';
import { z } from 'zod';
import { parseFlags, UsageError } from '../args.ts';
import { ProgressBar } from '../progress.ts';
import type { Command } from './command.ts';

const usage = `Usage: anneal complexity fit --model DIR [options]

Fits the step-count predictor \`anneal sample --steps auto\` uses, and writes it to
DIR/step-predictor.json. On a calibration batch from the model, per image: the first
denoised estimate D(x_T; sigma_max) (one evaluation), the adaptive solver's result at the
tolerances, and a reference solution of the same noise; the target is the fewest steps of
the fixed sampler (from --grid) whose error against the reference is at most the adaptive
solver's. A ridge regression maps statistics of D(x_T) (mean, std, gradient, Laplacian) and
the class to that step count. Costs about n * (2 + adaptive NFE + reference steps + sum of
the grid) network evaluations.

Options:
  --model DIR            checkpoint folder (config.json + model.safetensors)
  --n N                  calibration images (default 64)
  --seed N               noise seed (default 0)
  --sampler S            the fixed-step sampler to predict steps for: ${diffusionSamplerNames.filter((s) => s !== 'ddpm').join(' | ')}
                         (default dpmpp-2m)
  --rtol R, --atol A     the adaptive accuracy to match (default ${DEFAULT_ADAPTIVE_TOLERANCES.rtol}, ${DEFAULT_ADAPTIVE_TOLERANCES.atol})
  --grid N,N,...         step counts tried per image (default ${DEFAULT_STEP_GRID.join(',')})
  --reference-steps N    steps of the fixed sampler for the reference solution (default 100)
  --guidance W           classifier-free guidance weight (default 1)
  --ridge X              ridge penalty on the standardized features (default 1)
  --json                 machine output; the last stdout line is JSON
  -h, --help             show this help`;

const flagsSchema = z.object({
  model: z.string({ error: 'is required' }).min(1),
  n: z.coerce.number().int().min(4).max(4096).default(64),
  seed: z.coerce.number().int().min(0).default(0),
  // Deterministic samplers only: the target compares each image with its own reference.
  sampler: z.enum(['ddim', 'euler', 'heun', 'dpmpp-2m']).default('dpmpp-2m'),
  rtol: z.coerce.number().positive('must be > 0').max(1).optional(),
  atol: z.coerce.number().positive('must be > 0').max(1).optional(),
  grid: z
    .string()
    .transform((s) => s.split(',').map((v) => Number(v.trim())))
    .pipe(
      z
        .array(z.number().int('must be whole step counts').min(1).max(1000))
        .min(2, 'needs at least 2 step counts'),
    )
    .optional(),
  'reference-steps': z.coerce.number().int().min(2).max(2000).default(100),
  guidance: z.coerce.number().min(0).max(50).default(1),
  ridge: z.coerce.number().min(0).max(1e6).default(1),
  json: z.boolean().default(false),
});

export const complexity: Command = {
  name: 'complexity',
  summary: 'fit the step-count predictor behind `anneal sample --steps auto`',
  usage,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub !== 'fit')
      throw new UsageError(sub ? `unknown subcommand "${sub}" (fit)` : 'needs a subcommand: fit');
    const flags = parseFlags(
      rest,
      {
        model: { type: 'string' },
        n: { type: 'string' },
        seed: { type: 'string' },
        sampler: { type: 'string' },
        rtol: { type: 'string' },
        atol: { type: 'string' },
        grid: { type: 'string' },
        'reference-steps': { type: 'string' },
        guidance: { type: 'string' },
        ridge: { type: 'string' },
        json: { type: 'boolean' },
      },
      flagsSchema,
    );
    const grid = flags.grid ?? DEFAULT_STEP_GRID;
    if ((grid.at(-1) ?? 0) >= flags['reference-steps'])
      throw new UsageError(
        `--reference-steps: must exceed the grid's largest step count (${grid.at(-1)})`,
      );
    const started = Date.now();
    const dir = resolve(flags.model);
    const model = Model.load(dir);
    const bar = new ProgressBar(grid.length + 3, 'calibrate');
    let fitted: Awaited<ReturnType<typeof calibrateStepPredictor>>;
    try {
      fitted = await calibrateStepPredictor(model, {
        n: flags.n,
        seed: flags.seed,
        sampler: flags.sampler,
        rtol: flags.rtol,
        atol: flags.atol,
        grid,
        referenceSteps: flags['reference-steps'],
        guidance: flags.guidance,
        ridge: flags.ridge,
        onProgress: (done, total) => {
          bar.update(done, 'samplings');
          if (!process.stderr.isTTY) io.err(`calibrate: ${done}/${total} samplings`);
        },
      });
    } finally {
      bar.done();
      model.dispose();
    }
    const path = writeStepPredictor(dir, fitted.predictor);
    const c = fitted.predictor.calibration;
    const adaptiveMean = fitted.adaptiveNfe.reduce((s, v) => s + v, 0) / flags.n;
    const summary = {
      out: path,
      sampler: fitted.predictor.sampler,
      rtol: fitted.predictor.rtol,
      atol: fitted.predictor.atol,
      n: flags.n,
      mean_steps_needed: c.meanSteps,
      /** Calibration images the grid's largest count did not bring to the adaptive error. */
      capped: c.capped ?? 0,
      mean_adaptive_nfe: adaptiveMean,
      mean_abs_error: c.meanAbsError,
      spearman: c.spearman,
      wall_s: (Date.now() - started) / 1000,
    };
    if (flags.json) io.out(JSON.stringify(summary));
    else
      io.out(
        `wrote ${path}: ${fitted.predictor.sampler} needs ${c.meanSteps.toFixed(1)} steps per image on average to match the adaptive solver (rtol ${fitted.predictor.rtol}, atol ${fitted.predictor.atol}; it spent ${adaptiveMean.toFixed(1)} NFE); leave-one-out: mean |error| ${c.meanAbsError.toFixed(2)} steps, Spearman ${c.spearman === null ? 'n/a (constant)' : c.spearman.toFixed(3)}; ${summary.wall_s.toFixed(1)} s${
          summary.capped > 0
            ? `\nwarning: ${summary.capped} of ${flags.n} calibration images did not reach the adaptive solver's error even at ${c.grid[c.grid.length - 1]} steps (the grid's largest): counted as ${c.grid[c.grid.length - 1]}, so they need more than the predictor says; widen --grid`
            : ''
        }`,
      );
    return 0;
  },
};
