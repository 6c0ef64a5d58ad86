// `anneal bench --only plan`: for a spread of objectives on one model, the plan chosen, its
// predicted latency and the latency measured by running it (the issue's "within 15%").
import { type PlanBenchResult, type PlanBenchRow, planSummary } from '@anneal/bench';
import {
  COST_BATCHES,
  type CostStatistic,
  Model,
  type PlanObjective,
  planDtypes,
  probeHardware,
  type SamplerName,
} from '@anneal/engine';
import { modelDataset } from '../quality/model-dataset.ts';
import { choosePlan, planOptions } from './choose.ts';
import { obtainCosts } from './costs.ts';
import { CURVE_FILE, measureCurve, readCurve, scheduleResolverFor, writeCurve } from './curve.ts';
import { measureLatency, requestImages } from './execute.ts';
import { weightsMismatch, weightsSha256 } from './weights.ts';

export interface PlanBenchOptions {
  dir: string;
  statistic: CostStatistic;
  repeats: number;
  /** For a model without quality-curve.json: the curve measured first. */
  curve: {
    n: number;
    seed: number;
    series: Array<{ sampler: SamplerName; schedule: string }>;
    nfe: number[];
    extractor?: { steps?: number; width?: number };
  };
}

function describeObjective(o: PlanObjective): string {
  if (o.kind === 'latency') return `latency <= ${o.latencyMs.toFixed(1)} ms, ${o.batch} image(s)`;
  if (o.kind === 'throughput') return `throughput >= ${o.imagesPerSecond.toFixed(1)} images/s`;
  return `FD <= ${o.maxFd.toFixed(3)}, ${o.batch} image(s)`;
}

export async function planBench(
  o: PlanBenchOptions,
  log: (line: string) => void,
  partial: (r: PlanBenchResult) => void,
): Promise<PlanBenchResult> {
  const model = Model.load(o.dir);
  try {
    const weights = weightsSha256(o.dir);
    let curve = readCurve(o.dir);
    const stale = curve && weightsMismatch(`${o.dir}/${CURVE_FILE}`, curve.weights, weights);
    if (!curve || stale) {
      log(`plan: ${stale ?? `no quality curve in ${o.dir}`}; measuring one (n = ${o.curve.n})`);
      curve = await measureCurve({
        model,
        dataset: await modelDataset(model.config, `${o.dir}/config.json`),
        series: o.curve.series,
        nfe: o.curve.nfe,
        n: o.curve.n,
        seed: o.curve.seed,
        guidance: 1,
        weights,
        extractor: o.curve.extractor,
        resolve: scheduleResolverFor(model, o.dir),
        onProgress: (phase, done, total) => {
          if (phase === 'curve') log(`plan: curve point ${done}/${total}`);
        },
      });
      writeCurve(o.dir, curve);
    }
    const conditional = (model.config.dataset?.num_classes ?? 0) > 0;
    log('plan: cost table (cached per hardware profile and architecture)');
    const { table } = await obtainCosts({
      model,
      hardware: probeHardware(),
      guided: conditional && curve.guidance !== 1,
      batches: COST_BATCHES,
      dtypes: planDtypes,
      statistic: o.statistic,
      repeats: o.repeats,
      onProgress: (done, total, label) => log(`plan: costs ${done}/${total} ${label}`),
    });
    // Objectives spread over what this model and machine can do: multiples of the fastest
    // request, fractions of the highest throughput, and FD bounds inside the curve's range.
    const fastest = (batch: number) =>
      Math.min(
        ...planOptions(table, curve, { kind: 'latency', latencyMs: 1, batch }).map(
          (x) => x.latencyMs,
        ),
      );
    const most = Math.max(
      ...planOptions(table, curve, { kind: 'throughput', imagesPerSecond: 1 }).map(
        (x) => x.imagesPerSecond,
      ),
    );
    const fds = curve.points.map((p) => p.fd).sort((a, b) => a - b);
    const objectives: PlanObjective[] = [
      ...[1.25, 2, 4, 8].map((k) => ({
        kind: 'latency' as const,
        latencyMs: k * fastest(1),
        batch: 1,
      })),
      ...[1.5, 4].map((k) => ({ kind: 'latency' as const, latencyMs: k * fastest(8), batch: 8 })),
      ...[0.3, 0.6, 0.9].map((k) => ({ kind: 'throughput' as const, imagesPerSecond: k * most })),
      ...[0.5, 0.9].map((q) => ({
        kind: 'max-fd' as const,
        maxFd: fds[Math.floor(q * (fds.length - 1))] as number,
        batch: 1,
      })),
    ];
    const rows: PlanBenchRow[] = [];
    const refused: PlanBenchResult['refused'] = [];
    const result = (): PlanBenchResult => {
      const s = planSummary(rows);
      return {
        model: o.dir,
        parameters: model.parameterCount(),
        profile: table.profileKey,
        statistic: table.statistic,
        repeats: o.repeats,
        curve: {
          n: curve.n,
          points: curve.points.length,
          samplers: [...new Set(curve.points.map((p) => `${p.sampler}/${p.schedule}`))],
        },
        rows,
        refused,
        within_15pct: s.within,
        median_abs_error: s.medianAbsError,
      };
    };
    for (const objective of objectives) {
      const label = describeObjective(objective);
      const choice = choosePlan(table, curve, objective);
      if (!choice.ok) {
        refused.push({ objective: label, message: choice.message });
        continue;
      }
      const c = choice.option;
      const images = requestImages(objective, c);
      const plan = {
        sampler: c.sampler,
        schedule: c.schedule,
        steps: c.steps,
        nfe: c.nfe,
        batch: c.batch,
        dtype: c.dtype,
        guidance: curve.guidance,
      };
      const lat = await measureLatency(
        model,
        plan,
        images,
        table.statistic,
        o.repeats,
        scheduleResolverFor(model, o.dir),
      );
      rows.push({
        objective: label,
        sampler: c.sampler,
        schedule: c.schedule,
        steps: c.steps,
        nfe: c.nfe,
        batch: c.batch,
        dtype: c.dtype,
        images,
        predicted_ms: c.latencyMs,
        measured_ms: lat.ms,
        times_ms: lat.timesMs,
        ratio: lat.ms / c.latencyMs,
        predicted_fd: c.fd,
        fd_interpolated: c.fdInterpolated,
      });
      log(
        `plan: ${label}: predicted ${c.latencyMs.toFixed(1)} ms, measured ${lat.ms.toFixed(1)} ms`,
      );
      partial(result());
    }
    return result();
  } finally {
    model.dispose();
  }
}
