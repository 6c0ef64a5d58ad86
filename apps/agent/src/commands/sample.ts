import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { encodePng, tileGrid } from '@anneal/core/png';
import {
  applyMemoryLimits,
  DEFAULT_ADAPTIVE_TOLERANCES,
  Model,
  type ModelConfig,
  memoryStats,
  nfeStats,
  predictRequestSteps,
  probeHardware,
  readStepPredictor,
  resolveMemoryBudget,
  resolveSchedule,
  SAMPLING_DEFAULTS,
  type SamplerName,
  samplerNames,
  samplerSchema,
} from '@anneal/engine';
import { z } from 'zod';
import { parseFlags, UsageError } from '../args.ts';
import { profileKey } from '../plan/costs.ts';
import { scheduleResolverFor } from '../plan/curve.ts';
import { PLAN_FILE, planSampling, readPlan } from '../plan/execute.ts';
import { weightsMismatch, weightsSha256 } from '../plan/weights.ts';
import { ProgressBar } from '../progress.ts';
import type { Command } from './command.ts';

/**
 * The model's saved plan for `--plan`, refusing flags that would contradict it and a plan of
 * other weights; a plan chosen on another machine is used with a warning (its sampling is the
 * same, only its predicted latency is not this machine's).
 */
function savedPlan(dir: string, argv: string[], warn: (line: string) => void) {
  const clash = [
    ...['--sampler', '--steps', '--schedule', '--sigma-max', '--guidance', '--eta'],
    ...['--rtol', '--atol'],
  ].filter((f) => argv.some((a) => a === f || a.startsWith(`${f}=`)));
  if (clash.length)
    throw new UsageError(`--plan: the plan sets the sampling; drop ${clash.join(', ')}`);
  const plan = readPlan(dir);
  if (!plan)
    throw new UsageError(
      `--plan: no ${PLAN_FILE} in ${dir}; choose one with \`anneal plan --model ${dir} ... --save\``,
    );
  const stale = weightsMismatch(`${dir}/${PLAN_FILE}`, plan.weights, weightsSha256(dir));
  if (stale)
    throw new AppError(
      'PRECONDITION_FAILED',
      `--plan: ${stale}; choose it again with \`anneal plan --model ${dir} ... --save\``,
    );
  const here = profileKey(probeHardware());
  if (plan.profileKey !== here)
    warn(
      `anneal sample: --plan: ${dir}/${PLAN_FILE} was chosen on another machine (${plan.profileKey}; this is ${here}): its predicted latency is not this machine's; choose one here with \`anneal plan --model ${dir} ... --save\``,
    );
  return plan;
}

export interface Sampling {
  sampler: SamplerName;
  steps: number;
  schedule?: string;
  sigma_max?: number;
  sigmas?: number[];
  /** The learned schedule file `schedule` resolved to, if any. */
  schedule_file?: string;
  /** The adaptive sampler's tolerances. */
  rtol?: number;
  atol?: number;
}

/**
 * `--schedule ays | learned | FILE` as explicit sigmas (the engine's own kinds stay kinds):
 * `learned` reads `dir`/schedules/<sampler>-nfe<K>.json; a file learned for another sampler or
 * NFE is refused, naming both. At other sides than the model's square (`size`), `ays` spans
 * the range there, and a learned list, made at the square, moves with the resolution shift:
 * each sigma is scaled as the shifted table scales the same timestep (said in a warning).
 */
export function withSchedule(
  model: Model,
  dir: string,
  s: Sampling,
  /** The request's guidance, and where to warn when a learned file was fitted at another. */
  request?: { guidance: number; warn: (line: string) => void },
  size?: { height: number; width: number },
): Sampling {
  if (s.sigmas || !s.schedule) return s;
  const r = resolveSchedule({
    schedule: s.schedule,
    sampler: s.sampler,
    steps: s.steps,
    sigmaRange: () => model.sigmaRange(size),
    dir,
    sigmaMax: s.sigma_max,
  });
  if (!r.sigmas) return s;
  // The shift between the square the file was learned at and these sides (1 without one).
  const shift = r.file && size ? model.sigmaRange(size).sigmaMax / model.sigmaRange().sigmaMax : 1;
  if (shift !== 1) {
    r.sigmas = r.sigmas.map((x) => x * shift);
    request?.warn(
      `warning: ${r.file} was learned at ${model.config.unet.sample_size}x${model.config.unet.sample_size}; at ${size?.height}x${size?.width} its sigmas are scaled by the resolution shift (x${shift.toFixed(4)})`,
    );
  }
  if (r.file && s.sigma_max !== undefined)
    throw new UsageError(
      '--sigma-max: a learned schedule lists its own sigmas; drop one of the two',
    );
  if (r.file && request && r.guidance !== undefined && r.guidance !== request.guidance)
    request.warn(
      `warning: ${r.file} was learned at guidance ${r.guidance}, this request uses ${request.guidance}: the trajectories differ, so the schedule may no longer be the best one`,
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
    rtol?: number;
    atol?: number;
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
    ...(flags.sampler === 'adaptive' ? { rtol: flags.rtol, atol: flags.atol } : {}),
  };
}

/** The adaptive sampler's tolerance flags, for sample and eval. */
export const toleranceFlags = {
  rtol: z.coerce.number().positive('must be > 0').max(1).optional(),
  atol: z.coerce.number().positive('must be > 0').max(1).optional(),
};

/**
 * The flags the adaptive sampler takes and refuses: tolerances only with it; no step count
 * or schedule (it picks its own steps per image).
 */
export function checkAdaptiveFlags(
  f: {
    sampler?: string;
    steps?: unknown;
    schedule?: unknown;
    'sigma-max'?: number;
    rtol?: number;
    atol?: number;
  },
  ctx: z.RefinementCtx,
): void {
  const adaptive = f.sampler === 'adaptive';
  for (const k of ['rtol', 'atol'] as const)
    if (f[k] !== undefined && !adaptive)
      ctx.addIssue({ code: 'custom', path: [k], message: 'needs --sampler adaptive' });
  if (f.steps === 'auto' && f.sampler !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['sampler'],
      message: 'not with --steps auto (the step predictor was fitted for its own sampler)',
    });
  // The predictor was calibrated on the default schedule from the model's largest sigma: its
  // steps mean nothing on another grid.
  for (const k of ['schedule', 'sigma-max'] as const)
    if (f.steps === 'auto' && f[k] !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: [k],
        message:
          "not with --steps auto (the step predictor was calibrated on the default schedule from the model's largest sigma)",
      });
  if (adaptive && f.steps !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['steps'],
      message: 'the adaptive sampler picks its own steps per image; set --rtol/--atol instead',
    });
  if (adaptive && f.schedule !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['schedule'],
      message: 'the adaptive sampler picks its own sigmas (--sigma-max still sets where it starts)',
    });
}

/** "N" (N x N) or "HxW", as --size and eval's --resolution spell a shape (checked by a regex first). */
export function parseShape(v: string): { height: number; width: number } {
  const [height, width = height] = v.split('x').map(Number) as [number, number?];
  return { height, width };
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
  --steps N|auto     sampling steps (default ${SAMPLING_DEFAULTS.steps}; not with adaptive, which picks
                     each image's steps from --rtol and --atol and prints the NFE it spent).
                     auto: the model's step predictor (DIR/step-predictor.json, from
                     \`anneal complexity fit\`) picks the steps of its sampler for this request
                     from the first denoised estimate (1 NFE more), and prints them
  --n N              number of images (default 64)
  --size N|HxW       the images' sides (default the model's resolution): a multi-resolution
                     model (--multi-resolution) samples each of its aspect buckets this way,
                     e.g. --size 24x44; sides must be multiples of 2^(levels-1)
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
  --plan             sample with the model's saved plan (DIR/plan.json, written by \`anneal plan
                     --save\`): its sampler, schedule, steps, batch, dtype and guidance. Only when
                     asked: a plan is chosen for one machine, so it never changes the defaults
  --rtol R           adaptive: relative tolerance per pixel (default ${DEFAULT_ADAPTIVE_TOLERANCES.rtol}); smaller spends
                     more evaluations for a more exact solution of the sampling ODE
  --atol A           adaptive: absolute tolerance per pixel, in units of [-1, 1] (default ${DEFAULT_ADAPTIVE_TOLERANCES.atol})
  --columns N        grid columns (default sqrt(n))
  --json             machine output; the last stdout line is JSON with nfe (adaptive: also
                     nfe_per_image {mean, min, max, values})
  --events           with --json: a failure prints a JSON error line (for the agent)
  -h, --help         show this help`;

const flagsSchema = z
  .object({
    model: z.string({ error: 'is required' }).min(1),
    out: z.string({ error: 'is required' }).regex(/\.png$/i, 'must end in .png'),
    sampler: samplerSchema.optional(),
    steps: z
      .union([z.literal('auto'), z.coerce.number().int().min(1).max(1000)], {
        error: 'must be a whole number from 1 to 1000, or auto',
      })
      .optional(),
    n: z.coerce.number().int().min(1).max(10000).default(64),
    size: z
      .string()
      .regex(/^\d+(x\d+)?$/, 'must be N or HxW in pixels, such as 32 or 24x44')
      .transform(parseShape)
      .refine((s) => s.height >= 4 && s.width >= 4 && s.height <= 1024 && s.width <= 1024, {
        message: 'each side must be in 4..1024',
      })
      .optional(),
    seed: z.coerce.number().int().min(0).default(SAMPLING_DEFAULTS.seed),
    class: z.coerce.number().int().min(0).optional(),
    guidance: z.coerce.number().min(0).max(50).default(SAMPLING_DEFAULTS.guidance),
    eta: z.coerce.number().min(0).max(1).default(SAMPLING_DEFAULTS.eta),
    schedule: z.string().min(1).optional(),
    'sigma-max': z.coerce.number().positive().optional(),
    columns: z.coerce.number().int().min(1).optional(),
    plan: z.boolean().default(false),
    ...toleranceFlags,
    json: z.boolean().default(false),
    events: z.boolean().default(false),
  })
  .superRefine(checkAdaptiveFlags);

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
        size: { type: 'string' },
        seed: { type: 'string' },
        class: { type: 'string' },
        guidance: { type: 'string' },
        eta: { type: 'string' },
        schedule: { type: 'string' },
        'sigma-max': { type: 'string' },
        columns: { type: 'string' },
        plan: { type: 'boolean' },
        rtol: { type: 'string' },
        atol: { type: 'string' },
        json: { type: 'boolean' },
        events: { type: 'boolean' },
      },
      flagsSchema,
    );
    const started = Date.now();
    const dir = resolve(flags.model);
    // The step predictor and a saved plan were measured on the model's square.
    if (flags.size && (flags.plan || flags.steps === 'auto'))
      throw new UsageError(
        `--size: not with ${flags.plan ? '--plan' : '--steps auto'} (measured at the model's own resolution)`,
      );
    const saved = flags.plan ? savedPlan(dir, argv, io.err) : null;
    const model = Model.load(dir);
    const size = flags.size;
    if (size) {
      const own = model.config.unet.sample_size;
      const trained =
        model.config.buckets?.shapes ??
        (model.config.resolutions ?? [own]).map((r) => ({ height: r, width: r }));
      if (!trained.some((s) => s.height === size.height && s.width === size.width))
        io.err(
          `warning: ${size.height}x${size.width} is not a shape this model trained on (${trained.map((s) => `${s.height}x${s.width}`).join(', ')}); its samples there are untested`,
        );
    }
    // --steps auto: the predictor's sampler at the steps it predicts for this request.
    let auto: Awaited<ReturnType<typeof predictRequestSteps>> | undefined;
    let sampling: Sampling & Partial<Pick<ReturnType<typeof planSampling>, 'chunk' | 'dtype'>>;
    try {
      let autoSampler: SamplerName | undefined;
      if (flags.steps === 'auto') {
        const predictor = readStepPredictor(dir);
        if (predictor.calibration.guidance !== flags.guidance)
          io.err(
            `warning: the step predictor was fitted at guidance ${predictor.calibration.guidance}, this request uses ${flags.guidance}: its first denoised estimates differ, and so may the steps it needs`,
          );
        auto = await predictRequestSteps(model, predictor, flags);
        autoSampler = predictor.sampler;
      }
      sampling = saved
        ? planSampling(saved, scheduleResolverFor(model, dir))
        : withSchedule(
            model,
            dir,
            samplingOf(model.config, {
              ...flags,
              steps: auto ? auto.steps : (flags.steps as number | undefined),
              sampler: autoSampler ?? flags.sampler,
            }),
            { guidance: flags.guidance, warn: (l) => io.err(l) },
            flags.size,
          );
    } catch (err) {
      model.dispose();
      throw err;
    }
    const bar = new ProgressBar(1, 'sample');
    let result: Awaited<ReturnType<Model['sample']>>;
    // Attention fused unless it would not fit the budget, then query-sliced (reported).
    // MLX's limit set to the budget, as train sets it: sliced attention's bytes are the
    // least it needs, and hold only when the limit makes MLX's scheduler wait instead of
    // running slices ahead (docs/attention.md).
    let budgetBytes = 0;
    try {
      const budget = resolveMemoryBudget();
      applyMemoryLimits(budget);
      budgetBytes = budget.bytes;
      const { size: _, ...rest } = flags;
      result = await model.sample({ ...rest, ...sampling, ...size, budget }, (step, total) => {
        const pct = Math.round((step / total) * 100);
        bar.update(
          pct / 100,
          sampling.sampler === 'adaptive' ? `${step}/${total} images` : `${step}/${total} steps`,
        );
      });
    } catch (err) {
      // The engine checks the start sigma against the model's range when it builds the schedule.
      if (flags['sigma-max'] !== undefined && /^sigma_max /.test((err as Error).message))
        throw new UsageError(`--sigma-max: ${(err as Error).message}`);
      if (size && /takes sides that are multiples of/.test((err as Error).message))
        throw new UsageError(`--size: ${(err as Error).message}`);
      throw err;
    } finally {
      bar.done();
      model.dispose();
    }
    const grid = tileGrid(result.images, result.shape, { columns: flags.columns });
    const out = resolve(flags.out);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, encodePng(grid.pixels, grid.width, grid.height, grid.channels as 1 | 3 | 4));
    const perImage = result.nfePerImage ? nfeStats(result.nfePerImage) : undefined;
    const predicted = auto ? nfeStats(auto.perImage) : undefined;
    const summary = {
      out,
      n: flags.n,
      sampler: sampling.sampler,
      ...(saved
        ? { plan: { dtype: saved.dtype, batch: saved.batch, schedule: saved.schedule } }
        : {}),
      steps: result.steps,
      // The adaptive sampler picks its own sigmas: no schedule was used.
      ...(sampling.schedule && sampling.sampler !== 'adaptive'
        ? { schedule: sampling.schedule }
        : {}),
      ...(sampling.schedule_file ? { schedule_file: sampling.schedule_file } : {}),
      ...(sampling.sigmas ? { sigmas: sampling.sigmas } : {}),
      nfe: result.nfe,
      ...(auto && predicted
        ? {
            steps_auto: {
              chosen: auto.steps,
              per_image: { ...predicted, values: auto.perImage },
              predictor_nfe: auto.nfe,
              rtol: auto.rtol,
              atol: auto.atol,
            },
          }
        : {}),
      ...(perImage && result.nfePerImage
        ? {
            rtol: ('rtol' in sampling ? sampling.rtol : undefined) ?? null,
            atol: ('atol' in sampling ? sampling.atol : undefined) ?? null,
            nfe_per_image: { ...perImage, values: Array.from(result.nfePerImage) },
            batch_calls: result.calls,
            rows_evaluated: result.rowsEvaluated,
            rejected_steps: result.rejected ?? 0,
          }
        : {}),
      attention: result.attention,
      // The budget, MLX's limit in force (set from it) and MLX's peak over the process.
      memory: {
        budget_bytes: budgetBytes,
        limit_bytes: memoryStats().limitBytes,
        peak_bytes: memoryStats().peakBytes,
      },
      wall_s: (Date.now() - started) / 1000,
    };
    if (result.attention.kind === 'sliced' && !flags.json)
      io.err(
        `attention: sliced, ${result.attention.slice} queries per slice ` +
          '(fused would not fit the memory budget)',
      );
    if (flags.json) io.out(JSON.stringify(summary));
    else if (auto && predicted)
      io.out(
        `steps auto: ${auto.steps} ${sampling.sampler} steps for this request (per image predicted min ${predicted.min}, mean ${predicted.mean.toFixed(1)}, max ${predicted.max}; the prediction cost ${auto.nfe} NFE; matched to the adaptive solver at rtol ${auto.rtol}, atol ${auto.atol})\nwrote ${flags.n} samples (${sampling.sampler}, ${result.steps} steps, ${result.nfe} NFE) to ${out} in ${summary.wall_s.toFixed(1)} s`,
      );
    else if (perImage)
      io.out(
        `wrote ${flags.n} samples (adaptive, NFE per image mean ${perImage.mean.toFixed(1)}, min ${perImage.min}, max ${perImage.max}; ${result.calls} batched calls) to ${out} in ${summary.wall_s.toFixed(1)} s`,
      );
    else
      io.out(
        `wrote ${flags.n} samples (${sampling.sampler}${sampling.sigmas ? (sampling.schedule_file ? ` on ${sampling.schedule_file}` : sampling.schedule === 'ays' ? ' on AYS' : ' on the distilled sigmas') : ''}, ${result.steps} steps, ${result.nfe} NFE) to ${out} in ${summary.wall_s.toFixed(1)} s`,
      );
    return 0;
  },
};
