import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { encodePng, tileGrid } from '@anneal/core/png';
import {
  applyMemoryLimits,
  extractorStepsSchema,
  extractorWidthSchema,
  Model,
  resolveMemoryBudget,
  SAMPLING_DEFAULTS,
  samplerNames,
  samplerSchema,
} from '@anneal/engine';
import { z } from 'zod';
import { parseFlags, UsageError } from '../args.ts';
import { ProgressBar } from '../progress.ts';
import { spreadFlag } from '../quality/bootstrap.ts';
import { EvalEta } from '../quality/eta.ts';
import { type EvalReport, evaluateModel } from '../quality/evaluate.ts';
import { modelBucketDatasets, modelDataset } from '../quality/model-dataset.ts';
import { qualityJson, qualityTable } from '../quality/report.ts';
import type { Command } from './command.ts';
import {
  checkAdaptiveFlags,
  parseShape,
  samplingOf,
  toleranceFlags,
  withSchedule,
} from './sample.ts';

const usage = `Usage: anneal eval --model DIR --n N [options]

Measures a checkpoint's sample quality against held-out real images of the dataset it was
trained on, with a feature network trained for that dataset (cached under
ANNEAL_HOME/extractors). Every metric is printed beside its floor: the same metric between
two disjoint real sets of N images. A class-conditional model samples class i mod K for sample
i, so the real sets are drawn with the same class counts where the splits allow
(real_sets: class-stratified, or train-stratified when the held-out split is too small);
random class counts would move FD more than most differences between samplers.
Samples are drawn 64 at a time and each finished chunk is kept under ANNEAL_HOME/samples, or
--samples-dir (a folder per model weights and sampling setting), so a stopped eval (a long
reference run on a CPU) goes on where it stopped when run again, and a repeated eval scores
the same images without drawing them again (the adaptive sampler draws in one call).

Options:
  --model DIR            checkpoint folder (config.json + model.safetensors)
  --n N                  samples (and real images per set) to compare (default 1000)
  --sampler S            ${samplerNames.join(' | ')} (default ${SAMPLING_DEFAULTS.sampler}; a distilled
                         student: the sampler and sigma list it was distilled for, unless
                         --sampler, --steps or --sigma-max is given)
  --steps N              sampling steps (default ${SAMPLING_DEFAULTS.steps}; not with adaptive)
  --rtol R, --atol A     the adaptive sampler's tolerances (as \`anneal sample\`); the report
                         then gives the NFE per image (mean, min, max)
  --seed N               noise seed; also picks the real subsets (default 0)
  --guidance W           classifier-free guidance weight (default ${SAMPLING_DEFAULTS.guidance})
  --schedule S           default | uniform | karras | exponential | ays | learned | FILE.json
                         (as \`anneal sample --schedule\`; the report records it and its sigmas)
  --sigma-max S          start the sampler's schedule at sigma S instead of the model's largest
                         (as \`anneal sample --sigma-max\`; the reference sampler keeps the full range)
  --reference-sampler S  also sample with S from the same noise and report paired fidelity
  --reference-steps N    steps for the reference (default 100 when --reference-sampler is set)
  --resolution R[,R]     score at each of these resolutions (issue 16 §5): N for N x N, or
                         HxW; the model's weights sample at that size, against held-out images
                         of its dataset at that size, each beside its own floor; the JSON's
                         top-level metrics are the first resolution's and per_resolution has
                         one entry each. A multi-resolution model (--multi-resolution) is
                         scored on its aspect buckets: each shape must be one of them, its real
                         images the bucket's (default: every bucket; other models: the
                         resolution they were trained at)
  --grid FILE.png        also write the first 16 samples scored (at the first resolution) as
                         one grid PNG, to look at beside the numbers
  --spread N             also report FD over N bootstrap resamples of the samples and the
                         held-out images (the floor's over both real sets), rows drawn within
                         their class so class counts stay fixed: standard deviation and 90%
                         interval (default 0: off; about 0.3 s per resample). Repeated rows
                         still raise FD somewhat (docs/quality.md): read the width, not the centre
  --samples-dir DIR      keep the chunks under DIR instead of ANNEAL_HOME/samples (e.g. beside
                         the model, committed, so a reference run outlives the machine)
  --memorization         also check for copies of training images: nearest-neighbour distances
                         from the samples and from held-out images to the training split, and
                         the set test that decides (samples nearer sets of training images
                         than sets of held-out ones?; docs/quality.md)
  --extractor-steps N    train the extractor for N steps instead of its default
  --extractor-width N    extractor channels N, 2N, 4N (default 16; a multiple of 8)
  --json                 machine output; the last stdout line is one JSON object
  --events               also print progress as JSON lines on stdout
                         ({"event":"progress","phase","step","total"}; for the agent)
  -h, --help             show this help`;

const flagsSchema = z
  .object({
    model: z.string({ error: 'is required' }).min(1),
    n: z.coerce.number().int().min(10).max(10000).default(1000),
    sampler: samplerSchema.optional(),
    steps: z.coerce.number().int().min(1).max(1000).optional(),
    seed: z.coerce.number().int().min(0).max(0x7fffffff).default(0),
    guidance: z.coerce.number().min(0).max(50).default(SAMPLING_DEFAULTS.guidance),
    schedule: z.string().min(1).optional(),
    'sigma-max': z.coerce.number().positive().optional(),
    'reference-sampler': samplerSchema.optional(),
    'reference-steps': z.coerce.number().int().min(1).max(1000).optional(),
    resolution: z
      .string()
      .regex(
        /^\d+(x\d+)?(,\d+(x\d+)?)*$/,
        'must be a comma-separated list of sides (N) or shapes (HxW) in pixels, such as 16,32 or 24x44,32',
      )
      .transform((v) => v.split(',').map(parseShape))
      .refine(
        (rs) => rs.every((r) => [r.height, r.width].every((s) => s >= 8 && s <= 512)),
        'each side must be in 8..512',
      )
      .refine((rs) => new Set(rs.map(shapeName)).size === rs.length, 'lists a resolution twice')
      .optional(),
    spread: spreadFlag,
    'samples-dir': z.string().min(1).optional(),
    memorization: z.boolean().default(false),
    grid: z
      .string()
      .regex(/\.png$/i, 'must end in .png')
      .optional(),
    'extractor-steps': z.coerce.number().pipe(extractorStepsSchema).optional(),
    'extractor-width': z.coerce.number().pipe(extractorWidthSchema).optional(),
    ...toleranceFlags,
    json: z.boolean().default(false),
    events: z.boolean().default(false),
  })
  .superRefine(checkAdaptiveFlags)
  .refine((f) => f['reference-steps'] === undefined || f['reference-sampler'] !== undefined, {
    message: 'needs --reference-sampler',
    path: ['reference-steps'],
  });

const options = {
  model: { type: 'string' },
  n: { type: 'string' },
  sampler: { type: 'string' },
  steps: { type: 'string' },
  seed: { type: 'string' },
  guidance: { type: 'string' },
  schedule: { type: 'string' },
  'sigma-max': { type: 'string' },
  'reference-sampler': { type: 'string' },
  'reference-steps': { type: 'string' },
  resolution: { type: 'string' },
  spread: { type: 'string' },
  'samples-dir': { type: 'string' },
  memorization: { type: 'boolean' },
  grid: { type: 'string' },
  'extractor-steps': { type: 'string' },
  'extractor-width': { type: 'string' },
  rtol: { type: 'string' },
  atol: { type: 'string' },
  json: { type: 'boolean' },
  events: { type: 'boolean' },
} as const;

/** "H x W" as flags and reports spell it: N for a square, else HxW. */
function shapeName(s: { height: number; width: number }): string {
  return s.height === s.width ? String(s.height) : `${s.height}x${s.width}`;
}

/** Samples shown in `--grid`: the first ones, as the scored set starts. */
const GRID_SAMPLES = 16;

function writeGrid(
  out: string,
  images: Uint8Array,
  shape: readonly [number, number, number, number],
) {
  const [n, h, w, c] = shape;
  const k = Math.min(n, GRID_SAMPLES);
  const grid = tileGrid(images.subarray(0, k * h * w * c), [k, h, w, c]);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, encodePng(grid.pixels, grid.width, grid.height, grid.channels as 1 | 3 | 4));
}

/** Progress lines at most this often per phase (the last step of a phase always goes). */
const EVENT_INTERVAL_MS = 500;

const phaseLabels: Record<string, string> = {
  extractor: 'train extractor',
  sample: 'sample',
  scoring: 'score',
  reference: 'reference',
  memorization: 'nearest neighbours',
};

export const evaluate: Command = {
  name: 'eval',
  summary: 'measure sample quality (FD, KID, precision/recall, paired fidelity) with floors',
  usage,
  async run(argv, io) {
    const flags = parseFlags(argv, options, flagsSchema);
    const started = Date.now();
    // MLX's limit set to the budget (ANNEAL_MEMORY_BUDGET, else the default share), as train
    // sets it: the sampler's attention choice (evaluateModel) counts sliced attention's bytes
    // as the least it needs, which holds only when the limit makes MLX's scheduler wait
    // instead of running slices ahead (docs/attention.md).
    applyMemoryLimits(resolveMemoryBudget());
    const dir = resolve(flags.model);
    const model = Model.load(dir);
    const request = { guidance: flags.guidance, warn: (l: string) => io.err(l) };
    const base = samplingOf(model.config, flags);
    // Resolved at the model's square first: a missing or mismatched schedule fails before
    // anything is sampled. Each shape resolves its own (ays and learned lists move with the
    // resolution shift); the report's sampling is the first shape's.
    let sampling: ReturnType<typeof samplingOf>;
    try {
      sampling = withSchedule(model, dir, base, request);
    } catch (err) {
      model.dispose();
      throw err;
    }
    // One resolution's evaluation: samples of `at` against `dataset`'s held-out images.
    const evaluateAt = async (
      at: Model,
      dataset: Awaited<ReturnType<typeof modelDataset>>,
      sampling: ReturnType<typeof samplingOf>,
    ): Promise<EvalReport> => {
      let bar: ProgressBar | undefined;
      let phase = '';
      let lastEvent = 0;
      // The job's time left across its phases, for the agent's progress line.
      const eta = new EvalEta({
        sampleSteps: sampling.steps,
        sampleSampler: sampling.sampler,
        reference: flags['reference-sampler']
          ? { sampler: flags['reference-sampler'], steps: flags['reference-steps'] ?? 100 }
          : null,
        memorization: flags.memorization,
      });
      try {
        return await evaluateModel({
          model: at,
          dataset,
          n: flags.n,
          sampling: {
            sampler: sampling.sampler,
            steps: sampling.steps,
            schedule: sampling.schedule,
            sigmaMax: sampling.sigma_max,
            sigmas: sampling.sigmas,
            rtol: sampling.rtol,
            atol: sampling.atol,
          },
          reference: flags['reference-sampler']
            ? { sampler: flags['reference-sampler'], steps: flags['reference-steps'] ?? 100 }
            : undefined,
          seed: flags.seed,
          guidance: flags.guidance,
          memorization: flags.memorization,
          spread: flags.spread,
          resumable: true,
          samplesDir: flags['samples-dir'] ? resolve(flags['samples-dir']) : undefined,
          extractor: { steps: flags['extractor-steps'], width: flags['extractor-width'] },
          onSamples: (images, shape) => {
            if (flags.grid && reports.length === 0) writeGrid(resolve(flags.grid), images, shape);
          },
          onProgress: (p, done, total) => {
            if (p !== phase) {
              bar?.done();
              bar = new ProgressBar(total, phaseLabels[p] ?? p);
              phase = p;
            }
            bar?.update(done);
            const left = eta.progress(p, done, total);
            const now = Date.now();
            if (flags.events && (done === total || now - lastEvent >= EVENT_INTERVAL_MS)) {
              lastEvent = now;
              io.out(
                JSON.stringify({
                  event: 'progress',
                  phase: p,
                  step: done,
                  total,
                  ...(left ? { eta_s: left.seconds, eta_lower_bound: left.lowerBound } : {}),
                }),
              );
            }
          },
        });
      } catch (err) {
        if (err instanceof RangeError && /exceeds the real splits/.test(err.message))
          throw new UsageError(`--n: ${err.message}`);
        // The engine checks the start sigma against the model's range when it builds the schedule.
        if (flags['sigma-max'] !== undefined && /^sigma_max /.test((err as Error).message))
          throw new UsageError(`--sigma-max: ${(err as Error).message}`);
        if (err instanceof AppError || err instanceof UsageError) throw err;
        // Not known to be the input's fault: a job's next attempt may succeed.
        throw new AppError('INTERNAL', (err as Error).message, { cause: err });
      } finally {
        bar?.done();
      }
    };
    type Shape = { height: number; width: number };
    const size = model.config.unet.sample_size;
    const reports: Array<{ shape: Shape; report: EvalReport }> = [];
    try {
      // A multi-resolution model: its aspect buckets, each with its own real images.
      const buckets = model.config.buckets
        ? await modelBucketDatasets(model.config, `${dir}/config.json`)
        : null;
      const shapes: Shape[] = flags.resolution ??
        model.config.buckets?.shapes ?? [{ height: size, width: size }];
      // Every bucket's real images before any is scored: the floor needs n of each split.
      for (const shape of shapes) {
        const d = buckets?.get(`${shape.height}x${shape.width}`);
        if (d && (flags.n > d.trainCount || flags.n > (d.heldoutCount ?? flags.n)))
          throw new UsageError(
            `--n: n = ${flags.n} exceeds the ${shapeName(shape)} bucket's real images (held-out ${d.heldoutCount}, train ${d.trainCount}); the floor needs n real images of each`,
          );
      }
      for (const shape of shapes) {
        const name = `${shape.height}x${shape.width}`;
        if (buckets && !buckets.has(name))
          throw new UsageError(
            `--resolution: ${shapeName(shape)} is not one of this model's aspect buckets (${[...buckets.keys()].join(', ')}); its real images come from them`,
          );
        if (!buckets && shape.height !== shape.width)
          throw new UsageError(
            `--resolution: ${name}: held-out images of other aspects than square exist only for a multi-resolution model (trained with --multi-resolution); this one trained on squares`,
          );
        // A bucket samples at its sides with the model's own weights and schedule; a square
        // of another size through a model derived at that size.
        let at: Model;
        try {
          at = buckets || shape.height === size ? model : model.atResolution(shape.height);
        } catch (err) {
          throw new UsageError(`--resolution: ${(err as Error).message}`);
        }
        try {
          if (shapes.length > 1) io.err(`at ${name}:`);
          const dataset =
            buckets?.get(name) ??
            (await modelDataset(model.config, `${dir}/config.json`, undefined, shape.height));
          const shaped =
            shape.height === size && shape.width === size
              ? sampling
              : withSchedule(model, dir, base, request, shape);
          if (reports.length === 0) sampling = shaped;
          reports.push({ shape, report: await evaluateAt(at, dataset, shaped) });
        } finally {
          if (at !== model) at.dispose();
        }
      }
    } finally {
      model.dispose();
    }
    const wall = (Date.now() - started) / 1000;
    const first = reports[0] as (typeof reports)[number];
    const head = {
      sampler: sampling.sampler,
      // The adaptive sampler picks its own steps: the most any image took, not the unused --steps.
      steps:
        sampling.sampler === 'adaptive'
          ? Math.max(...reports.map((r) => r.report.steps))
          : sampling.steps,
      // The adaptive sampler picks its own sigmas: no schedule was used.
      ...(sampling.schedule && sampling.sampler !== 'adaptive'
        ? { schedule: sampling.schedule }
        : {}),
      ...(sampling.schedule_file ? { schedule_file: sampling.schedule_file } : {}),
      ...(sampling.sigmas ? { sigmas: sampling.sigmas } : {}),
      ...(flags['sigma-max'] !== undefined ? { sigma_max: flags['sigma-max'] } : {}),
      ...(sampling.sampler === 'adaptive' ? { rtol: sampling.rtol, atol: sampling.atol } : {}),
      seed: flags.seed,
      wall_s: wall,
    };
    if (flags.json) {
      const perResolution =
        flags.resolution || model.config.buckets
          ? {
              resolution: first.shape.height,
              ...(first.shape.width !== first.shape.height ? { width: first.shape.width } : {}),
              per_resolution: reports.map(({ shape, report }) => {
                const q = qualityJson(report, head);
                return {
                  resolution: shape.height,
                  ...(shape.width !== shape.height ? { width: shape.width } : {}),
                  n: q.n,
                  fd: q.fd,
                  floor_fd: q.floor_fd,
                  kid: q.kid,
                  floor_kid: q.floor_kid,
                  precision: q.precision,
                  floor_precision: q.floor_precision,
                  recall: q.recall,
                  floor_recall: q.floor_recall,
                  ...(q.fd_spread ? { fd_spread: q.fd_spread } : {}),
                  ...(q.floor_fd_spread ? { floor_fd_spread: q.floor_fd_spread } : {}),
                  ...(report.accuracy
                    ? { accuracy: report.accuracy.samples, floor_accuracy: report.accuracy.floor }
                    : {}),
                };
              }),
            }
          : {};
      io.out(JSON.stringify({ ...qualityJson(first.report, head), ...perResolution }));
    } else
      io.out(
        reports
          .map(({ shape, report }) =>
            reports.length > 1
              ? `at ${shape.height}x${shape.width}:\n${qualityTable(report, head)}`
              : qualityTable(report, head),
          )
          .join('\n\n'),
      );
    return 0;
  },
};
