import { resolve } from 'node:path';
import { AppError } from '@anneal/core/errors';
import {
  COST_BATCHES,
  type CostTable,
  Model,
  type Plan,
  planDtypes,
  planSchema,
  probeHardware,
  type QualityCurve,
} from '@anneal/engine';
import { parseFlags, UsageError } from '../args.ts';
import { isVersionId, modelVersionDir } from '../client/model-version.ts';
import { choosePlan } from '../plan/choose.ts';
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
import { phaseProgress } from '../progress.ts';
import { modelDataset } from '../quality/model-dataset.ts';
import type { Command, CommandIO } from './command.ts';
import {
  DEFAULT_NFE,
  DEFAULT_SERIES,
  type Flags,
  flagsSchema,
  objectiveOf,
  options,
  seriesSchema,
  usage,
} from './plan-flags.ts';

async function modelDir(arg: string): Promise<string> {
  return isVersionId(arg) ? modelVersionDir(arg, '--model') : resolve(arg);
}

async function curveFor(
  model: Model,
  dir: string,
  f: Flags,
  p: ReturnType<typeof phaseProgress>,
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
  p: ReturnType<typeof phaseProgress>,
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
    const p = phaseProgress((l) => io.out(l), f.events);
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
