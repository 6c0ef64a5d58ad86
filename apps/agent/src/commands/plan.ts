import { resolve } from 'node:path';
import { AppError } from '@anneal/core/errors';
import {
  COST_BATCHES,
  type CostTable,
  costStatisticSchema,
  diffusionSamplerNames,
  extractorStepsSchema,
  extractorWidthSchema,
  Model,
  type Plan,
  type PlanObjective,
  planDtypeSchema,
  planDtypes,
  planSchema,
  probeHardware,
  type QualityCurve,
  type SamplerName,
  samplerSchema,
} from '@anneal/engine';
import { z } from 'zod';
import { parseFlags, UsageError } from '../args.ts';
import { isVersionId, modelVersionDir } from '../client/model-version.ts';
import { choosePlan, nfeOfSteps } from '../plan/choose.ts';
import { obtainCosts, profileKey } from '../plan/costs.ts';
import {
  CURVE_FILE,
  measureCurve,
  readCurve,
  scheduleResolverFor,
  stepsAtMost,
  writeCurve,
} from '../plan/curve.ts';
import { measureLatency, requestImages, verifyFd, writePlan } from '../plan/execute.ts';
import { weightsMismatch, weightsSha256 } from '../plan/weights.ts';
import { ProgressBar } from '../progress.ts';
import { modelDataset } from '../quality/model-dataset.ts';
import type { Command, CommandIO } from './command.ts';

const DEFAULT_SERIES = 'dpmpp-2m,ddim,heun';
const DEFAULT_NFE = '5,10,20';

const usage = `Usage: anneal plan --model DIR|VERSION (--latency-ms X [--batch B] | --throughput N | --max-fd F)
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

const seriesSchema = z.string().transform((s, ctx) => {
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

const flagsSchema = z.object({
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

const options = {
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

type Flags = z.infer<typeof flagsSchema>;

function objectiveOf(f: Flags): PlanObjective {
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

/** Progress for people (a bar on a TTY) and for the agent (JSON lines with --events). */
function progress(io: CommandIO, events: boolean) {
  let bar: ProgressBar | undefined;
  let phase = '';
  let last = 0;
  return {
    update(p: string, done: number, total: number) {
      if (p !== phase) {
        bar?.done();
        bar = new ProgressBar(total, p);
        phase = p;
      }
      bar?.update(done);
      const now = Date.now();
      if (events && (done === total || now - last >= 500)) {
        last = now;
        io.out(JSON.stringify({ event: 'progress', phase: p, step: done, total }));
      }
    },
    done() {
      bar?.done();
      bar = undefined;
      phase = '';
    },
  };
}

async function modelDir(arg: string): Promise<string> {
  return isVersionId(arg) ? modelVersionDir(arg, '--model') : resolve(arg);
}

async function curveFor(
  model: Model,
  dir: string,
  f: Flags,
  p: ReturnType<typeof progress>,
  force: boolean,
  weights: string,
  io: CommandIO,
): Promise<{ curve: QualityCurve; measured: boolean }> {
  const cached = readCurve(dir);
  // A curve of other weights (retrained into this folder) keeps its ruler as the default,
  // never its points.
  const stale = cached && weightsMismatch(`${dir}/${CURVE_FILE}`, cached.weights, weights);
  if (stale) io.err(`anneal plan: ${stale}; measuring it again`);
  const existing = stale ? null : cached;
  const n = f.n ?? cached?.n ?? 200;
  const seed = f.seed ?? cached?.seed ?? 0;
  const guidance = f.guidance ?? cached?.guidance ?? 1;
  // The cached curve serves when it was read on this n, seed and guidance and has every point
  // asked for by --samplers/--nfe/--dtypes (when given); else the missing points are measured.
  const guided = (model.config.dataset?.num_classes ?? 0) > 0 && guidance !== 1;
  const covers = (c: QualityCurve) =>
    c.n === n &&
    c.seed === seed &&
    c.guidance === guidance &&
    (f.samplers ?? []).every((s) =>
      (f.dtypes ?? ['float32']).every((d) =>
        (f.nfe ?? [Number.NaN]).every((nfe) =>
          c.points.some(
            (p) =>
              p.sampler === s.sampler &&
              p.schedule === s.schedule &&
              p.dtype === d &&
              (Number.isNaN(nfe) || p.steps === stepsAtMost(s.sampler, nfe, guided)),
          ),
        ),
      ),
    );
  if (existing && !force && covers(existing)) return { curve: existing, measured: false };
  const dataset = await modelDataset(model.config, `${dir}/config.json`);
  const series = f.samplers ?? (seriesSchema.array().parse(DEFAULT_SERIES.split(',')) as never);
  try {
    const curve = await measureCurve({
      model,
      dataset,
      series,
      nfe: f.nfe ?? DEFAULT_NFE.split(',').map(Number),
      dtypes: f.dtypes ?? ['float32'],
      n,
      seed,
      guidance,
      weights,
      extractor: { steps: f['extractor-steps'], width: f['extractor-width'] },
      existing,
      replace: f.replace,
      resolve: scheduleResolverFor(model, dir),
      onProgress: p.update,
    });
    writeCurve(dir, curve);
    return { curve, measured: true };
  } catch (err) {
    if (err instanceof RangeError && /exceeds the real splits/.test(err.message))
      throw new UsageError(`--n: ${err.message}`);
    throw err;
  } finally {
    p.done();
  }
}

async function costsFor(
  model: Model,
  f: Flags,
  guidance: number,
  p: ReturnType<typeof progress>,
  io: CommandIO,
) {
  const conditional = (model.config.dataset?.num_classes ?? 0) > 0;
  try {
    return await obtainCosts({
      model,
      hardware: probeHardware(),
      guided: conditional && guidance !== 1,
      dtypes: f.dtypes ?? planDtypes,
      batches: f.batches ?? COST_BATCHES,
      refresh: f.refresh,
      statistic: f.statistic,
      repeats: f.repeats,
      onProgress: (d, t) => p.update('costs', d, t),
      onWarning: (m) => io.err(`anneal plan: ${m}`),
    });
  } finally {
    p.done();
  }
}

function costLines(t: CostTable): string {
  const rows = t.entries.map(
    (e) =>
      `  ${e.dtype.padEnd(9)} batch ${String(e.batch).padStart(3)}  ${e.perNfeMs.toFixed(2).padStart(9)} ms/NFE  overhead ${e.overheadMs.toFixed(1).padStart(7)} ms  peak ${(e.peakBytes / 2 ** 20).toFixed(0)} MiB${e.note ? ` (${e.note})` : ''}`,
  );
  for (const s of t.skipped) rows.push(`  ${s.dtype}: not measured (${s.reason})`);
  return rows.join('\n');
}

export const plan: Command = {
  name: 'plan',
  summary: 'choose sampler, schedule, NFE, batch and dtype for a latency, throughput or FD goal',
  usage,
  async run(argv, io) {
    const sub = argv[0] === 'curve' || argv[0] === 'costs' ? argv[0] : null;
    const f = parseFlags(sub ? argv.slice(1) : argv, options, flagsSchema);
    const dir = await modelDir(f.model);
    const model = Model.load(dir);
    const weights = weightsSha256(dir);
    const p = progress(io, f.events);
    try {
      if (sub === 'costs') {
        // Guided or not as the plans will be: the cached curve's guidance unless given.
        const guidance = f.guidance ?? readCurve(dir)?.guidance ?? 1;
        const { table, path, cached } = await costsFor(model, f, guidance, p, io);
        if (f.json) io.out(JSON.stringify({ path, cached, ...table }));
        else io.out(`${cached ? 'cached' : 'measured'} cost table ${path}\n${costLines(table)}`);
        return 0;
      }
      if (sub === 'curve') {
        const { curve } = await curveFor(model, dir, f, p, true, weights, io);
        if (f.json) io.out(JSON.stringify(curve));
        else
          io.out(
            [
              `quality curve (n = ${curve.n}) in ${dir}/quality-curve.json`,
              ...curve.points.map(
                (q) =>
                  `  ${`${q.sampler}/${q.schedule}`.padEnd(20)} ${q.dtype.padEnd(9)} ${String(q.nfe).padStart(4)} NFE  FD ${q.fd.toFixed(3)} ± ${q.fdStd.toFixed(3)}  (floor ${q.floor.toFixed(3)})`,
              ),
            ].join('\n'),
          );
        return 0;
      }
      const objective = objectiveOf(f);
      const { curve } = await curveFor(model, dir, f, p, false, weights, io);
      const { table } = await costsFor(model, f, curve.guidance, p, io);
      const choice = choosePlan(table, curve, objective);
      if (!choice.ok) throw new AppError('PRECONDITION_FAILED', choice.message);
      const o = choice.option;
      const chosen: Plan = planSchema.parse({
        version: 1,
        objective,
        sampler: o.sampler,
        schedule: o.schedule,
        steps: o.steps,
        nfe: o.nfe,
        batch: o.batch,
        dtype: o.dtype,
        guidance: curve.guidance,
        predicted: {
          latencyMs: o.latencyMs,
          imagesPerSecond: o.imagesPerSecond,
          fd: o.fd,
          fdInterpolated: o.fdInterpolated,
        },
        profileKey: table.profileKey,
        weights,
        createdAt: new Date().toISOString(),
      });
      const images = requestImages(objective, o);
      if (!f.json)
        io.out(
          `plan: ${o.sampler}/${o.schedule}, ${o.steps} steps (${o.nfe} NFE), batch ${o.batch}, ${o.dtype}\n` +
            `predicted: ${o.latencyMs.toFixed(1)} ms for ${images} image(s), ${o.imagesPerSecond.toFixed(1)} images/s, FD ${o.fd.toFixed(3)}${o.fdInterpolated ? ' (interpolated)' : ''}`,
        );
      const lat = await measureLatency(
        model,
        chosen,
        images,
        table.statistic,
        f.repeats,
        scheduleResolverFor(model, dir),
      );
      const measured: NonNullable<Plan['measured']> = {
        statistic: table.statistic,
        latencyMs: lat.ms,
        timesMs: lat.timesMs,
        latencyRatio: lat.ms / o.latencyMs,
      };
      if (f['verify-fd'] !== undefined) {
        const v = await verifyFd({
          model,
          dataset: await modelDataset(model.config, `${dir}/config.json`),
          plan: chosen,
          n: f['verify-fd'],
          seed: f.seed ?? curve.seed,
          // The curve's ruler: the same extractor, or the FDs are not comparable.
          extractor: { steps: f['extractor-steps'], width: f['extractor-width'] },
          resolve: scheduleResolverFor(model, dir),
          extractorId: curve.extractorId,
          onProgress: p.update,
        });
        p.done();
        measured.fd = v.fd;
        measured.fdN = f['verify-fd'];
      }
      const result: Plan = { ...chosen, measured };
      if (f.save) writePlan(dir, result);
      if (f.json)
        io.out(JSON.stringify({ plan: result, curve, considered: choice.considered, model: dir }));
      else
        io.out(
          `measured:  ${lat.ms.toFixed(1)} ms, ${table.statistic} of ${f.repeats} (measured / predicted ${measured.latencyRatio.toFixed(3)})` +
            (measured.fd !== undefined
              ? `, FD ${measured.fd.toFixed(3)} at n = ${measured.fdN} (predicted ${o.fd.toFixed(3)} at n = ${curve.n})`
              : '') +
            (f.save ? `\nsaved as ${dir}/plan.json (profile ${profileKey(probeHardware())})` : ''),
        );
      return 0;
    } finally {
      p.done();
      model.dispose();
    }
  },
};
