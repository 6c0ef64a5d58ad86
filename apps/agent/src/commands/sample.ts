import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { encodePng, tileGrid } from '@anneal/core/png';
import {
  Model,
  type ModelConfig,
  resolveSchedule,
  SAMPLING_DEFAULTS,
  type SamplerName,
  samplerNames,
  samplerSchema,
} from '@anneal/engine';
import { z } from 'zod';
import { parseFlags, UsageError } from '../args.ts';
import { ProgressBar } from '../progress.ts';
import type { Command } from './command.ts';

export interface Sampling {
  sampler: SamplerName;
  steps: number;
  schedule?: string;
  sigma_max?: number;
  sigmas?: number[];
  /** The learned schedule file `schedule` resolved to, if any. */
  schedule_file?: string;
}

/**
 * `--schedule ays | learned | FILE` as explicit sigmas (the engine's own kinds stay kinds):
 * `learned` reads `dir`/schedules/<sampler>-nfe<K>.json; a file learned for another sampler or
 * NFE is refused, naming both.
 */
export function withSchedule(model: Model, dir: string, s: Sampling): Sampling {
  if (s.sigmas || !s.schedule) return s;
  const r = resolveSchedule({
    schedule: s.schedule,
    sampler: s.sampler,
    steps: s.steps,
    sigmaRange: () => model.sigmaRange(),
    dir,
    sigmaMax: s.sigma_max,
  });
  if (!r.sigmas) return s;
  if (r.file && s.sigma_max !== undefined)
    throw new UsageError(
      '--sigma-max: a learned schedule lists its own sigmas; drop one of the two',
    );
  return {
    ...s,
    sigmas: r.sigmas,
    sigma_max: undefined,
    ...(r.file ? { schedule_file: r.file } : {}),
  };
}

/**
 * What to sample with: the flags, or for a distilled student given none of the sampling
 * flags, the sampler and exact sigma list in its config.json (it was trained for that grid).
 */
export function samplingOf(
  config: ModelConfig,
  flags: {
    sampler?: SamplerName;
    steps?: number;
    schedule?: string;
    'sigma-max'?: number;
  },
): Sampling {
  const d = config.distillation;
  const chosen =
    flags.sampler !== undefined ||
    flags.steps !== undefined ||
    flags.schedule !== undefined ||
    flags['sigma-max'] !== undefined;
  if (d && !chosen)
    return { sampler: d.sampler as SamplerName, steps: d.sigmas.length - 1, sigmas: d.sigmas };
  return {
    sampler: flags.sampler ?? SAMPLING_DEFAULTS.sampler,
    steps: flags.steps ?? SAMPLING_DEFAULTS.steps,
    schedule: flags.schedule ?? SAMPLING_DEFAULTS.schedule,
    sigma_max: flags['sigma-max'],
  };
}

const usage = `Usage: anneal sample --model DIR --out FILE.png [options]

Samples images from a checkpoint and writes them as one grid PNG. The same seed gives
byte-identical output.

Options:
  --model DIR        checkpoint folder (config.json + model.safetensors)
  --out FILE.png     where to write the grid
  --sampler S        ${samplerNames.join(' | ')} (default ${SAMPLING_DEFAULTS.sampler}; a distilled
                     student: the sampler and exact sigma list it was distilled for, unless
                     --sampler, --steps, --schedule or --sigma-max is given)
  --steps N          sampling steps (default ${SAMPLING_DEFAULTS.steps})
  --n N              number of images (default 64)
  --seed N           noise seed (default ${SAMPLING_DEFAULTS.seed})
  --class K          class label for a class-conditional model (default: cycle through classes)
  --guidance W       classifier-free guidance weight (default ${SAMPLING_DEFAULTS.guidance}: no guidance; costs 2 NFE/step)
  --eta X            DDIM's eta (default ${SAMPLING_DEFAULTS.eta})
  --schedule S       default | uniform | karras | exponential | ays | learned | FILE.json
                     ays: Align Your Steps' published SD 1.5 list, its log-sigmas mapped from SD's
                     range onto this model's and interpolated log-linearly to --steps; learned:
                     DIR/schedules/<sampler>-nfe<K>.json from \`anneal schedule learn\`
  --sigma-max S      start the schedule at sigma S instead of the model's largest (karras and
                     exponential: from S down to the smallest; uniform: the largest timestep
                     whose sigma is <= S)
  --columns N        grid columns (default sqrt(n))
  --json             machine output; the last stdout line is JSON with nfe
  --events           with --json: a failure prints a JSON error line (for the agent)
  -h, --help         show this help`;

const flagsSchema = z.object({
  model: z.string({ error: 'is required' }).min(1),
  out: z.string({ error: 'is required' }).regex(/\.png$/i, 'must end in .png'),
  sampler: samplerSchema.optional(),
  steps: z.coerce.number().int().min(1).max(1000).optional(),
  n: z.coerce.number().int().min(1).max(10000).default(64),
  seed: z.coerce.number().int().min(0).default(SAMPLING_DEFAULTS.seed),
  class: z.coerce.number().int().min(0).optional(),
  guidance: z.coerce.number().min(0).max(50).default(SAMPLING_DEFAULTS.guidance),
  eta: z.coerce.number().min(0).max(1).default(SAMPLING_DEFAULTS.eta),
  schedule: z.string().min(1).optional(),
  'sigma-max': z.coerce.number().positive().optional(),
  columns: z.coerce.number().int().min(1).optional(),
  json: z.boolean().default(false),
  events: z.boolean().default(false),
});

export const sample: Command = {
  name: 'sample',
  summary: 'sample images from a trained model into a grid PNG',
  usage,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        model: { type: 'string' },
        out: { type: 'string' },
        sampler: { type: 'string' },
        steps: { type: 'string' },
        n: { type: 'string' },
        seed: { type: 'string' },
        class: { type: 'string' },
        guidance: { type: 'string' },
        eta: { type: 'string' },
        schedule: { type: 'string' },
        'sigma-max': { type: 'string' },
        columns: { type: 'string' },
        json: { type: 'boolean' },
        events: { type: 'boolean' },
      },
      flagsSchema,
    );
    const started = Date.now();
    const dir = resolve(flags.model);
    const model = Model.load(dir);
    let sampling: Sampling;
    try {
      sampling = withSchedule(model, dir, samplingOf(model.config, flags));
    } catch (err) {
      model.dispose();
      throw err;
    }
    const bar = new ProgressBar(1, 'sample');
    let result: Awaited<ReturnType<Model['sample']>>;
    try {
      result = await model.sample({ ...flags, ...sampling }, (step, total) => {
        const pct = Math.round((step / total) * 100);
        bar.update(pct / 100, `${step}/${total} steps`);
      });
    } catch (err) {
      // The engine checks the start sigma against the model's range when it builds the schedule.
      if (flags['sigma-max'] !== undefined && /^sigma_max /.test((err as Error).message))
        throw new UsageError(`--sigma-max: ${(err as Error).message}`);
      throw err;
    } finally {
      bar.done();
      model.dispose();
    }
    const grid = tileGrid(result.images, result.shape, { columns: flags.columns });
    const out = resolve(flags.out);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, encodePng(grid.pixels, grid.width, grid.height, grid.channels as 1 | 3 | 4));
    const summary = {
      out,
      n: flags.n,
      sampler: sampling.sampler,
      steps: result.steps,
      ...(sampling.schedule ? { schedule: sampling.schedule } : {}),
      ...(sampling.schedule_file ? { schedule_file: sampling.schedule_file } : {}),
      ...(sampling.sigmas ? { sigmas: sampling.sigmas } : {}),
      nfe: result.nfe,
      wall_s: (Date.now() - started) / 1000,
    };
    if (flags.json) io.out(JSON.stringify(summary));
    else
      io.out(
        `wrote ${flags.n} samples (${sampling.sampler}${sampling.sigmas ? (sampling.schedule_file ? ` on ${sampling.schedule_file}` : sampling.schedule === 'ays' ? ' on AYS' : ' on the distilled sigmas') : ''}, ${result.steps} steps, ${result.nfe} NFE) to ${out} in ${summary.wall_s.toFixed(1)} s`,
      );
    return 0;
  },
};
