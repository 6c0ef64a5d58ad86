import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BENCHMARKS } from '@anneal/bench';
import {
  costStatisticSchema,
  diffusionSamplerNames,
  extractorStepsSchema,
  extractorWidthSchema,
  learnableSamplerNames,
  presetNames,
  resolutionsSchema,
  samplerSchema,
} from '@anneal/engine';
import { z } from 'zod';
import { UsageError } from '../args.ts';
import { spreadFlag } from '../quality/bootstrap.ts';
import { SEARCH_FILE } from '../search/state.ts';

/** `anneal bench`'s command line: its help, its flags and their checks. */
export const usage = `Usage: anneal bench [--quick|--smoke] [--only NAME[,NAME]] [--model DIR] [--threads N]
                    [--results DIR] [--json]

Runs Anneal's benchmarks (DESIGN.md section 8) and writes bench/results/<name>.json and
bench/RESULTS.md:
  training   images/s, step ms and peak memory of the engine vs the same U-Net in MLX Python
             vs diffusers' UNet2DModel on PyTorch, presets tiny and small, batch 32
  interop    a random diffusers UNet2DModel through \`anneal import diffusers\` and the engine
  sampling   images/s and NFE per image for each sampler at fixed steps
  ceiling    matmul GFLOP/s, the training step's share of it, and where the step's time goes
  to-target  NFE and wall time for each sampler to reach a stated FD on --model (only with
             --only; FD as \`anneal eval\` measures it, on n samples against n held-out images)
  diffusers-agreement
             the engine's samplers against diffusers' schedulers on --model DIR[,DIR] (only
             with --only): same noise, labels and sigmas; image differences and noise tiles
  teacher-samplers
             a trained teacher's sampler table (only with --only): ddim, dpmpp-2m, ddpm at
             5/10/20 NFE and euler, heun at 10/20, each with FD, KID, precision/recall and class
             accuracy beside their floors and wall time, then a long reference run
  plan       sampling plans on --model (only with --only): for latency, throughput and FD
             objectives spread over what the model can do here, the plan \`anneal plan\`
             chooses, its predicted and its measured latency (the model's quality-curve.json,
             measured first when missing: --n, default 200, --samplers, --ladder 5,10,20)
  complexity the adaptive sampler on --model (a shapes model; only with --only): NFE per
             sample against its measured complexity (mean |Laplacian|, first validated on
             real images against their dials), Spearman rho; mean NFE at equal FD against
             dpm-solver-2 (the same solver at fixed steps) and dpmpp-2m; dpmpp-2m at <= 20
             NFE. Writes complexity.json and complexity.svg
  schedules  learned vs hand-crafted schedules (only with --only): for each of --samplers
             (default dpmpp-2m,euler) at --nfes (default 5,10,20), uniform, karras,
             exponential, ays and learned from the same noise, each with FD, KID,
             precision/recall beside the floor and the paired MSE to --reference (default
             heun:100) from the same noise; a missing learned schedule is learned first
             (--learn-n calibration images, default 64) and written to DIR/schedules
  memory-fit the training memory estimate against MLX's measured peak (only with --only):
             tiny and small (16 to 64 px), medium and base (16 and 32 px, batch 1 to 2),
             with and without gradient accumulation, and the estimate's factors they fit
  attention  the attention operation alone (only with --only): fused, query-sliced (N/8 and
             N/32 queries per slice, and N/32 under an MLX memory limit of twice its counted
             bytes, as a job's budget sets the limit) and linear attention at the tiny
             preset's attention shapes for 32, 64 and 128 px, forward and forward + backward:
             MLX's peak memory and wall time, ratios against fused
  data-parallel
             \`anneal train\` on one process against \`--ranks 2\` on this machine (only with
             --only): the same model, data and effective batch, the cores split between the
             ranks; step time, images/s and the all_sum probe's share of the step, tiny and
             small at 32 px; beside it, an estimate for 2 to 4 Macs over Thunderbolt and
             10 GbE from the gradient's size and the links' nominal bandwidth
  multi-resolution
             a multi-resolution model (--model DIR, trained with --multi-resolution; only
             with --only) scored on each of its aspect buckets as \`anneal eval\` scores it:
             dpmpp-2m at 20 steps, --n samples (default: the fewest training or held-out
             images of any bucket, at most 1000) against the bucket's held-out images, its
             own extractor and floor, FD / floor per bucket and the largest ratio over the
             smallest (target <= 1.5x)
  distillation
             records finished (or stopped) \`anneal distill\` runs given as --runs DIR[,DIR]
             (only with --only; nothing is sampled or trained): each run's trade-off table,
             its stages and wall time against the teacher's training time, and issue 12's
             targets (4 steps <= 1.3x the reference FD, 2 steps <= 2x, each student below
             the teacher's best sampler at its NFE)
  search     records finished (or stopped) \`anneal search\` folders given as --runs DIR[,DIR]
             (only with --only; nothing is measured or trained): the pool's measured costs
             and proxies, the winners' FD beside the teacher's, the cost model's error, the
             CPU time, and issue 19's targets (a winner >= 1.5x faster per step at FD <= 1.2x
             the teacher's, the search within 6 CPU-hours, the proxy's rank correlation)
Needs the reference environment (bench/setup.sh) for all but sampling, to-target,
teacher-samplers, plan, complexity, schedules, memory-fit, attention, progressive,
multi-resolution, distillation, search and data-parallel.

Options:
  --quick          fewer rounds and steps (minutes); results go to bench/results/quick/
  --smoke          toy sizes (seconds): shows the harness works, the numbers mean nothing;
                   results go to bench/results/smoke/
  --results DIR    write the result files and RESULTS.md to DIR instead
  --only NAMES     comma-separated: ${BENCHMARKS.join(', ')}
  --model DIR      a checkpoint: sampling's model (instead of a tiny one trained on the spot)
                   and to-target's; diffusers-agreement takes DIR[,DIR] (e.g. eps and v)
  --runs DIR,...   distillation and search: the \`anneal distill\` and \`anneal search\`
                   folders to record (each goes to the benchmark its folder belongs to)
  --threads N      BLAS/OpenMP threads per contender (default 1: fair on a shared machine)
  --json           print one JSON object (the last stdout line)
  --events         with --json: a failure prints a JSON error line (for the agent)
  -h, --help       show this help

to-target and teacher-samplers options:
  --n N              samples per run, and real images per set (default 1000 for to-target,
                     500 for teacher-samplers)
  --reference S:K    to-target: the run that states the target (default dpmpp-2m:50);
                     teacher-samplers: the long reference run (default heun:100);
                     schedules: the paired reference, and what a missing learned schedule is
                     learned against (default heun:100; heun, euler or ddim)
  --reference-n N    teacher-samplers: samples for the reference run (default 1000)
  --guidance W       teacher-samplers: classifier-free guidance weight (default 1: none)
  --spread N         teacher-samplers, schedules, complexity and multi-resolution: FD's
                     bootstrap spread over N resamples beside each FD, and in
                     teacher-samplers each deterministic solver against DDPM at the same
                     NFE, paired (default 0: off; resampled within classes, as
                     \`anneal eval --spread\`)
  --samples-dir DIR  teacher-samplers, schedules and complexity: keep each run's chunks (a
                     stopped benchmark resumes at the first unfinished one) under DIR instead
                     of ANNEAL_HOME/samples (as \`anneal eval --samples-dir\`: the same folder
                     serves both, so a reference run drawn by one is read by the other)
  --grid FILE.png    teacher-samplers: the first 16 samples of each sampler at 10 NFE, one
                     sampler per row, from the same noise
  --factor X         target FD = X x the reference's FD (default 1.1)
  --target-fd F      state the target directly instead
  --ladder A,B,...   NFE per image to try, climbing until the target is met
                     (default 5,10,20,50,100,250)
  --samplers S,...   which samplers climb (default all: ${diffusionSamplerNames.join(', ')})
  --nfes A,B,...     schedules: NFE per image (default 5,10,20; heun's at or under)
  --learn-n N        schedules: calibration images for a schedule learned on the spot (default 64)
  --seed N           noise seed for every run; also picks the real images (default 0)
  --extractor-steps N, --extractor-width N
                     a non-default extractor, as for \`anneal eval\`

plan options:
  --statistic S      median (default) | min of the timed requests, in the cost table and the
                     measured latency alike (min: the uncontended cost on a loaded machine)
  --repeats N        timed calls per cost-table cell and end, and per plan (default 5)

progressive options (also --n FD samples, default: the scale's; --target-fd; --seed;
--extractor-*): progressive vs fixed resolution on shapes with every complexity dial
mixed, the same model, data, batch and budget, alternating chunk by chunk; FD at the final
resolution every few hundred steps (--quick: 200 steps, --smoke: 4; full: 1200). Both
trainers and the curves are kept after every chunk under ANNEAL_HOME/bench/progressive, so
the same command in a later sitting continues a stopped run
  --resolutions A,B  the progressive arm's resolutions, low to high (default 16,32); the
                     fixed arm trains at the last
  --preset P         the model (default tiny)
  --batch N          both arms' batch (default 16)
  --state-dir DIR    keep the run's state under DIR instead of ANNEAL_HOME/bench/progressive
                     (a folder committed or copied along continues on another machine)

complexity options (also --n, default 500; --seed, --guidance, --extractor-*):
  --rtols R,...      the adaptive sampler's tolerances, atol = 0.156 rtol (the engine's
                     default pair's ratio) (default 0.2,0.1,0.05,0.02)
  --ladder A,B,...   NFE per image of the fixed samplers (default 5,10,15,20,30,50)
  --samplers S,...   the fixed samplers (default dpm-solver-2,dpmpp-2m)`;

/** parseFlags' type for every flag flagsSchema reads. */
export const flagTypes = {
  quick: { type: 'boolean' },
  smoke: { type: 'boolean' },
  results: { type: 'string' },
  json: { type: 'boolean' },
  events: { type: 'boolean' },
  only: { type: 'string' },
  model: { type: 'string' },
  runs: { type: 'string' },
  threads: { type: 'string' },
  n: { type: 'string' },
  reference: { type: 'string' },
  'reference-n': { type: 'string' },
  spread: { type: 'string' },
  'samples-dir': { type: 'string' },
  guidance: { type: 'string' },
  grid: { type: 'string' },
  factor: { type: 'string' },
  'target-fd': { type: 'string' },
  'state-dir': { type: 'string' },
  ladder: { type: 'string' },
  nfes: { type: 'string' },
  'learn-n': { type: 'string' },
  samplers: { type: 'string' },
  seed: { type: 'string' },
  'extractor-steps': { type: 'string' },
  'extractor-width': { type: 'string' },
  statistic: { type: 'string' },
  repeats: { type: 'string' },
  rtols: { type: 'string' },
  resolutions: { type: 'string' },
  preset: { type: 'string' },
  batch: { type: 'string' },
} as const satisfies Record<string, { type: 'string' | 'boolean' }>;

const list = <T>(item: z.ZodType<T>, explain?: (part: string) => string) =>
  z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined) return undefined;
      const out: T[] = [];
      for (const part of s.split(',')) {
        const r = item.safeParse(part.trim());
        if (!r.success) {
          ctx.addIssue({
            code: 'custom',
            message: explain?.(part.trim()) ?? `"${part}": ${r.error.issues[0]?.message}`,
          });
          return z.NEVER;
        }
        out.push(r.data);
      }
      return out;
    });

export const flagsSchema = z
  .object({
    quick: z.boolean().default(false),
    smoke: z.boolean().default(false),
    results: z.string().min(1).optional(),
    json: z.boolean().default(false),
    events: z.boolean().default(false),
    only: list(
      z.enum(BENCHMARKS),
      (name) => `unknown benchmark "${name}"; one of ${BENCHMARKS.join(', ')}`,
    ),
    model: z.string().optional(),
    runs: list(z.string().min(1)),
    threads: z.coerce.number().int().min(1).max(256).default(1),
    n: z.coerce.number().int().min(10).max(10000).optional(),
    resolutions: list(z.coerce.number().int().min(8).max(512)).pipe(resolutionsSchema.optional()),
    preset: z.enum(presetNames).default('tiny'),
    batch: z.coerce.number().int().min(1).max(1024).default(16),
    'reference-n': z.coerce.number().int().min(10).max(10000).default(1000),
    spread: spreadFlag,
    'samples-dir': z.string().min(1).optional(),
    guidance: z.coerce.number().min(0).max(50).default(1),
    grid: z
      .string()
      .regex(/\.png$/i, 'must end in .png')
      .optional(),
    reference: z
      .string()
      .optional()
      .transform((s, ctx) => {
        if (s === undefined) return undefined;
        const [sampler, steps] = s.split(':');
        const r = z
          .object({ sampler: samplerSchema, steps: z.coerce.number().int().min(1).max(250) })
          .safeParse({ sampler, steps });
        if (!r.success) {
          ctx.addIssue({
            code: 'custom',
            message: `"${s}" is not SAMPLER:STEPS with at most 250 steps (e.g. dpmpp-2m:50)`,
          });
          return z.NEVER;
        }
        return r.data;
      }),
    factor: z.coerce.number().min(1).max(100).default(1.1),
    'target-fd': z.coerce.number().positive().optional(),
    'state-dir': z.string().min(1).optional(),
    ladder: list(z.coerce.number().int().min(1).max(1000)),
    nfes: list(z.coerce.number().int().min(1).max(1000)),
    'learn-n': z.coerce.number().int().min(1).max(4096).default(64),
    samplers: list(samplerSchema),
    rtols: list(z.coerce.number().positive('must be > 0').max(1)),
    seed: z.coerce.number().int().min(0).max(0x7fffffff).default(0),
    'extractor-steps': z.coerce.number().pipe(extractorStepsSchema).optional(),
    'extractor-width': z.coerce.number().pipe(extractorWidthSchema).optional(),
    statistic: costStatisticSchema.default('median'),
    repeats: z.coerce.number().int().min(1).max(100).default(5),
  })
  .refine((f) => !(f.quick && f.smoke), {
    message: 'pick one of --quick and --smoke',
    path: ['smoke'],
  })
  .refine((f) => !f.only?.includes('to-target') || f.model !== undefined, {
    message: 'to-target needs --model DIR (a trained checkpoint)',
    path: ['only'],
  })
  .refine((f) => !f.only?.includes('diffusers-agreement') || f.model !== undefined, {
    message: 'diffusers-agreement needs --model DIR[,DIR] (trained checkpoints)',
    path: ['only'],
  })
  .refine((f) => !f.only?.includes('plan') || f.model !== undefined, {
    message: 'plan needs --model DIR (a trained checkpoint)',
    path: ['only'],
  })
  .refine((f) => !f.only?.includes('complexity') || f.model !== undefined, {
    message: 'complexity needs --model DIR (a trained checkpoint, a shapes model)',
    path: ['only'],
  })
  .refine((f) => !f.only?.includes('teacher-samplers') || f.model !== undefined, {
    message: 'teacher-samplers needs --model DIR (a trained checkpoint)',
    path: ['only'],
  })
  .refine((f) => !f.only?.includes('distillation') || (f.runs?.length ?? 0) > 0, {
    message: 'distillation needs --runs DIR[,DIR] (anneal distill run folders)',
    path: ['only'],
  })
  .refine((f) => !f.only?.includes('search') || (f.runs?.length ?? 0) > 0, {
    message: 'search needs --runs DIR[,DIR] (anneal search folders)',
    path: ['only'],
  })
  .refine((f) => !f.only?.includes('multi-resolution') || f.model !== undefined, {
    message: 'multi-resolution needs --model DIR (a model trained with --multi-resolution)',
    path: ['only'],
  })
  .refine((f) => !f.only?.includes('schedules') || f.model !== undefined, {
    message: 'schedules needs --model DIR (a trained checkpoint)',
    path: ['only'],
  })
  .refine(
    (f) =>
      !f.only?.includes('schedules') ||
      (f.samplers ?? []).every((s) => (learnableSamplerNames as readonly string[]).includes(s)),
    {
      message: `schedules: --samplers must be deterministic (${learnableSamplerNames.join(', ')})`,
      path: ['samplers'],
    },
  )
  .refine(
    (f) =>
      !f.only?.includes('complexity') ||
      (f.samplers ?? []).every((s) => s !== 'adaptive' && s !== 'consistency'),
    {
      message:
        'complexity: --samplers are the fixed-step ladders the adaptive sampler is compared with (not adaptive, not consistency)',
      path: ['samplers'],
    },
  )
  .refine((f) => !(f.only?.includes('to-target') && f.only.includes('teacher-samplers')), {
    message: 'run to-target and teacher-samplers separately (their --n and --reference differ)',
    path: ['only'],
  });
export type Flags = z.infer<typeof flagsSchema>;

/**
 * --runs for the benchmarks that record runs: each folder goes to the one it belongs to (a
 * search folder holds search.json); a folder no benchmark in --only records is named.
 */
export function recordedRuns(flags: Flags): { distillRuns?: string[]; searchRuns?: string[] } {
  if (!flags.runs) return {};
  const dirs = flags.runs.map((d) => resolve(d));
  const isSearch = (d: string) => existsSync(join(d, SEARCH_FILE));
  const only = flags.only ?? [];
  for (const d of dirs) {
    const wanted = isSearch(d) ? 'search' : 'distillation';
    if (!only.includes(wanted))
      throw new UsageError(
        `--runs: ${d} is ${isSearch(d) ? 'an anneal search folder' : 'not an anneal search folder (no search.json), so an anneal distill run'}; --only has no ${wanted}`,
      );
  }
  return { distillRuns: dirs.filter((d) => !isSearch(d)), searchRuns: dirs.filter(isSearch) };
}

/**
 * The reference a missing learned schedule is learned against in the schedules suite: the
 * table's own --reference (default heun:100), which must be a single-step solver (the
 * learner's DP starts from its grid points).
 */
export function learnReference(reference: { sampler: string; steps: number } | undefined): {
  sampler: 'heun' | 'euler' | 'ddim';
  steps: number;
} {
  const r = reference ?? { sampler: 'heun', steps: 100 };
  if (r.sampler !== 'heun' && r.sampler !== 'euler' && r.sampler !== 'ddim')
    throw new UsageError(
      `--reference: the schedules suite learns against it, so it must be heun, euler or ddim; got ${r.sampler}`,
    );
  return { sampler: r.sampler, steps: r.steps };
}
