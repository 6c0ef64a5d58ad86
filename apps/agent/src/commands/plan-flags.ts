// anneal plan's command line: its usage text, its flags (zod at the boundary) and the one
// objective they name.
import {
  COST_BATCHES,
  costStatisticSchema,
  diffusionSamplerNames,
  extractorStepsSchema,
  extractorWidthSchema,
  type PlanObjective,
  planDtypeSchema,
  planDtypes,
  type SamplerName,
  samplerSchema,
} from '@anneal/engine';
import { z } from 'zod';
import { UsageError } from '../args.ts';
import { nfeOfSteps } from '../plan/choose.ts';

export const DEFAULT_SERIES = 'dpmpp-2m,ddim,heun';
export const DEFAULT_NFE = '5,10,20';

export const usage = `Usage: anneal plan --model DIR|VERSION (--latency-ms X [--batch B] | --throughput N | --max-fd F)
                   [--verify-fd N] [--save] [--json]
       anneal plan curve --model DIR|VERSION [--samplers S[:SCHEDULE],...] [--nfe A,B,...] [--n N]
       anneal plan costs --model DIR|VERSION [--refresh]

Chooses how to sample a model on this machine: sampler, schedule, NFE, batch and dtype, from
the measured cost of the model here and its measured quality curve, then runs the plan and
prints the measured latency (and FD with --verify-fd) beside the prediction.

The rule: --latency-ms X: the lowest FD whose predicted latency for one request of B images
(--batch, default 1) is <= X. --throughput N: the lowest FD whose predicted images/s is >= N.
--max-fd F: the lowest predicted latency for one request of B images whose FD is <= F. FD is
a measured point or interpolated in log NFE between two measured points, never extrapolated.
Predicted latency = overhead + NFE x per-NFE latency at that batch, both measured.

  costs   per (batch 1..64, dtype float32/bfloat16): latency per NFE and a call's fixed overhead
          (a line through two timed calls of different NFE, medians after a warm-up), and peak
          memory. Cached in ANNEAL_HOME/cache/costs/<hardware profile>/engine-<build>/
          <architecture>-<plain|guided>-<statistic>.json.
  curve   FD (with its floor and bootstrap spread, as \`anneal eval\` measures it) at each NFE
          for each sampler and schedule; kept in the model folder as quality-curve.json and
          extended by later runs on the same n, seed and guidance.
A plan with no curve yet measures the default one first (--samplers ${DEFAULT_SERIES},
--nfe ${DEFAULT_NFE}, --n 200).

Options:
  --model DIR|VERSION  checkpoint folder, or a registered model version's id (downloaded once)
  --latency-ms X       latency bound for one request, in milliseconds
  --batch B            images per request for --latency-ms and --max-fd (default 1)
  --throughput N       images per second to sustain
  --max-fd F           FD bound
  --verify-fd N        also measure the plan's FD on N samples
  --repeats N          timed calls per cost-table cell and end, and timed requests of the
                       plan (default 5)
  --save               store the plan as the model's default (DIR/plan.json; \`anneal sample
                       --plan\` samples with it). For a VERSION that is its local copy; to keep
                       a plan on the version in the control plane, submit a plan job
                       (\`anneal submit plan --model-version ID ...\`)
  --samplers LIST      sampler[:schedule],... for the curve (default ${DEFAULT_SERIES}; schedule
                       default); schedules: default, uniform, karras, exponential
  --nfe LIST           NFE per image to measure the curve at (default ${DEFAULT_NFE})
  --n N                samples per curve point, and real images per set (default: the cached
                       curve's, else 200)
  --dtypes LIST        ${planDtypes.join(',')} (default: both for costs, float32 for the curve)
  --guidance W         classifier-free guidance weight of the curve and costs (default: the
                       cached curve's, else 1)
  --seed N             noise seed of the curve; also picks the real images (default: the cached
                       curve's, else 0)
  --refresh            measure the cost table again even if cached
  --replace            measure the curve on a ruler (--n, --seed, --guidance, extractor) other
                       than the cached curve's, discarding its points (refused without it)
  --statistic S        median (default) | min: how the timed calls are summarized, in the cost
                       table and the plan's check alike; min estimates the uncontended cost on
                       a machine other work is loading
  --batches LIST       batch sizes the cost table measures (default ${COST_BATCHES.join(',')})
  --extractor-steps N, --extractor-width N
                       a non-default extractor, as for \`anneal eval\`
  --json               machine output; the last stdout line is one JSON object
  --events             also print progress as JSON lines on stdout (for the agent)
  -h, --help           show this help`;

const list = <T>(item: z.ZodType<T>) =>
  z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined) return undefined;
      const out: T[] = [];
      for (const part of s.split(',')) {
        const r = item.safeParse(part.trim());
        if (!r.success) {
          ctx.addIssue({ code: 'custom', message: `"${part}": ${r.error.issues[0]?.message}` });
          return z.NEVER;
        }
        out.push(r.data);
      }
      return out;
    });

export const seriesSchema = z.string().transform((s, ctx) => {
  const [sampler, schedule = 'default', extra] = s.split(':');
  const r = samplerSchema.safeParse(sampler);
  if (!r.success || extra !== undefined || !schedule) {
    ctx.addIssue({
      code: 'custom',
      message: `must be sampler[:schedule] with a sampler of ${diffusionSamplerNames.join(', ')}`,
    });
    return z.NEVER;
  }
  if (nfeOfSteps(r.data, 1, false) === null) {
    ctx.addIssue({
      code: 'custom',
      message: `"${r.data}" spends as many evaluations as each image needs: a curve at chosen NFE cannot be measured for it`,
    });
    return z.NEVER;
  }
  return { sampler: r.data as SamplerName, schedule };
});

export const flagsSchema = z.object({
  model: z.string({ error: 'is required' }).min(1),
  'latency-ms': z.coerce.number().positive().optional(),
  batch: z.coerce.number().int().min(1).max(1024).optional(),
  throughput: z.coerce.number().positive().optional(),
  'max-fd': z.coerce.number().positive().optional(),
  'verify-fd': z.coerce.number().int().min(10).max(10000).optional(),
  repeats: z.coerce.number().int().min(1).max(100).default(5),
  save: z.boolean().default(false),
  samplers: list(seriesSchema),
  nfe: list(z.coerce.number().int().min(1).max(1000)),
  // Unset: the cached curve's (or 200, 0 and 1 for a new one), so a curve measured with
  // `plan curve --n 1000` serves later plans without repeating the flags.
  n: z.coerce.number().int().min(10).max(10000).optional(),
  dtypes: list(planDtypeSchema),
  guidance: z.coerce.number().min(0).max(50).optional(),
  seed: z.coerce.number().int().min(0).max(0x7fffffff).optional(),
  refresh: z.boolean().default(false),
  replace: z.boolean().default(false),
  statistic: costStatisticSchema.default('median'),
  // At most the engine's sampling chunk (64): a larger batch is not how a plan samples, and
  // the plan job's memory is sized on it.
  batches: list(
    z.coerce
      .number()
      .int()
      .min(1)
      .max(Math.max(...COST_BATCHES)),
  ),
  'extractor-steps': z.coerce.number().pipe(extractorStepsSchema).optional(),
  'extractor-width': z.coerce.number().pipe(extractorWidthSchema).optional(),
  json: z.boolean().default(false),
  events: z.boolean().default(false),
});

export const options = {
  model: { type: 'string' },
  'latency-ms': { type: 'string' },
  batch: { type: 'string' },
  throughput: { type: 'string' },
  'max-fd': { type: 'string' },
  'verify-fd': { type: 'string' },
  repeats: { type: 'string' },
  save: { type: 'boolean' },
  samplers: { type: 'string' },
  nfe: { type: 'string' },
  n: { type: 'string' },
  dtypes: { type: 'string' },
  guidance: { type: 'string' },
  seed: { type: 'string' },
  refresh: { type: 'boolean' },
  replace: { type: 'boolean' },
  statistic: { type: 'string' },
  batches: { type: 'string' },
  'extractor-steps': { type: 'string' },
  'extractor-width': { type: 'string' },
  json: { type: 'boolean' },
  events: { type: 'boolean' },
} as const;

export type Flags = z.infer<typeof flagsSchema>;

export function objectiveOf(f: Flags): PlanObjective {
  const given = (['latency-ms', 'throughput', 'max-fd'] as const).filter((k) => f[k] !== undefined);
  if (given.length !== 1)
    throw new UsageError(
      given.length === 0
        ? 'one objective is required: --latency-ms, --throughput or --max-fd'
        : `one objective at a time (got ${given.map((g) => `--${g}`).join(' and ')})`,
    );
  if (f['latency-ms'] !== undefined)
    return { kind: 'latency', latencyMs: f['latency-ms'], batch: f.batch ?? 1 };
  if (f.throughput !== undefined) {
    // A throughput plan chooses its own batch: a --batch would be silently ignored.
    if (f.batch !== undefined)
      throw new UsageError('--batch: a --throughput plan chooses its batch; drop --batch');
    return { kind: 'throughput', imagesPerSecond: f.throughput };
  }
  return { kind: 'max-fd', maxFd: f['max-fd'] as number, batch: f.batch ?? 1 };
}
