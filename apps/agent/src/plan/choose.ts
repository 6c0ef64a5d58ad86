// The sampling-plan chooser (issue 13 section 3): from a device's measured cost table and a
// model's measured quality curve, the sampler, schedule, NFE, batch and dtype that meet one
// constraint and are best on the other axis. Pure: tested on recorded tables, no MLX.
//
// The rule:
//   latency X (a request of B images): the lowest FD among options whose predicted latency
//     is <= X; ties go to the faster.
//   throughput N: the lowest FD among options whose predicted images/s is >= N; ties go to
//     the higher throughput.
//   max-fd F (a request of B images): the lowest predicted latency among options whose FD is
//     <= F; ties go to the lower FD.
// Predicted latency of a call of `nfe` evaluations on a batch of b images is
// overheadMs(b) + nfe * perNfeMs(b), both measured (costs.ts); b between two measured batch
// sizes is interpolated linearly, never extrapolated. A request of B images runs in chunks of
// b (the last one smaller) in one engine call: one overhead, plus each chunk's NFE term.
// FD at an NFE is a measured point, or linear in log NFE between two measured points of the
// same (sampler, schedule, dtype); never extrapolated past the ends of the measured range.
// Ties: FD is compared as measured (or interpolated), exactly; its bootstrap spread (fdStd) is
// not used. Two options whose FDs differ by less than their spread are therefore not told
// apart by the curve, yet the lower FD still wins; only exactly equal FDs (one curve point at
// several batch sizes) fall to the second key named above. A user who wants
// speed within the noise asks for it with --max-fd at the FD they accept.
import type {
  CostEntry,
  CostTable,
  PlanDtype,
  PlanObjective,
  QualityCurve,
  QualityPoint,
} from '@anneal/engine/config';
import { hasStepNfe, samplerNfe } from '@anneal/engine/config';

export interface PlanOption {
  sampler: string;
  schedule: string;
  dtype: PlanDtype;
  steps: number;
  nfe: number;
  /** Images per network batch. */
  batch: number;
  latencyMs: number;
  imagesPerSecond: number;
  fd: number;
  fdInterpolated: boolean;
}

export type PlanChoice =
  | { ok: true; option: PlanOption; considered: number }
  | {
      ok: false;
      /** Why nothing qualified, naming the nearest option and how far it misses. */
      message: string;
      nearest: PlanOption | null;
      considered: number;
    };

/**
 * NFE of `steps` steps (the engine config's samplerNfe; guidance doubles each). Null for a
 * sampler whose NFE is not a function of its steps (adaptive) or that the engine does not know.
 */
export function nfeOfSteps(sampler: string, steps: number, guided: boolean): number | null {
  if (!hasStepNfe(sampler)) return null;
  return (guided ? 2 : 1) * samplerNfe(sampler, steps);
}

/**
 * FD at `nfe` on one series (points of one sampler, schedule and dtype): the measured value,
 * or linear in log NFE between the two measured points around it; null outside the range.
 */
export function fdAt(
  series: readonly QualityPoint[],
  nfe: number,
): { fd: number; interpolated: boolean } | null {
  const pts = [...series].sort((a, b) => a.nfe - b.nfe);
  for (const p of pts) if (p.nfe === nfe) return { fd: p.fd, interpolated: false };
  for (let i = 0; i + 1 < pts.length; i++) {
    const a = pts[i] as QualityPoint;
    const b = pts[i + 1] as QualityPoint;
    if (a.nfe < nfe && nfe < b.nfe) {
      const w = (Math.log(nfe) - Math.log(a.nfe)) / (Math.log(b.nfe) - Math.log(a.nfe));
      return { fd: a.fd + w * (b.fd - a.fd), interpolated: true };
    }
  }
  return null;
}

/**
 * The cost line of a batch of `size` images: the measured cell, or linear in batch between
 * the two measured cells around it; null outside the measured batch range.
 */
export function costAt(
  table: CostTable,
  dtype: PlanDtype,
  size: number,
): Pick<CostEntry, 'perNfeMs' | 'overheadMs'> | null {
  const cells = table.entries.filter((e) => e.dtype === dtype).sort((a, b) => a.batch - b.batch);
  for (const c of cells) if (c.batch === size) return c;
  for (let i = 0; i + 1 < cells.length; i++) {
    const a = cells[i] as CostEntry;
    const b = cells[i + 1] as CostEntry;
    if (a.batch < size && size < b.batch) {
      const w = (size - a.batch) / (b.batch - a.batch);
      return {
        perNfeMs: a.perNfeMs + w * (b.perNfeMs - a.perNfeMs),
        overheadMs: a.overheadMs + w * (b.overheadMs - a.overheadMs),
      };
    }
  }
  return null;
}

/**
 * Predicted milliseconds for `images` images in chunks of `batch`, `nfe` evaluations each.
 * The engine samples every chunk in one call, so a call's fixed cost (overheadMs, measured
 * at n = batch) is paid once, and each chunk adds its network evaluations.
 */
export function requestLatencyMs(
  table: CostTable,
  dtype: PlanDtype,
  nfe: number,
  images: number,
  batch: number,
): number | null {
  const first = costAt(table, dtype, Math.min(batch, images));
  if (!first) return null;
  let total = first.overheadMs;
  for (let left = images; left > 0; left -= batch) {
    const c = costAt(table, dtype, Math.min(batch, left));
    if (!c) return null;
    total += nfe * c.perNfeMs;
  }
  return total;
}

function seriesKey(p: QualityPoint): string {
  return `${p.sampler}\u0000${p.schedule}\u0000${p.dtype}`;
}

/** Every (sampler, schedule, dtype, steps) the curve covers, with its FD. */
function operatingPoints(curve: QualityCurve, guided: boolean) {
  const groups = new Map<string, QualityPoint[]>();
  for (const p of curve.points) {
    const k = seriesKey(p);
    groups.set(k, [...(groups.get(k) ?? []), p]);
  }
  const out: Array<{
    sampler: string;
    schedule: string;
    dtype: PlanDtype;
    steps: number;
    nfe: number;
    fd: number;
    fdInterpolated: boolean;
  }> = [];
  for (const series of groups.values()) {
    const first = series[0] as QualityPoint;
    // Steps between the measured ones only when the sampler's NFE follows from its steps, as
    // every measured point confirms; else (an adaptive sampler) the measured points alone.
    const formula = series.every((p) => nfeOfSteps(p.sampler, p.steps, guided) === p.nfe);
    const steps = series.map((p) => p.steps);
    const range = formula
      ? Array.from(
          { length: Math.max(...steps) - Math.min(...steps) + 1 },
          (_, i) => Math.min(...steps) + i,
        )
      : steps;
    for (const s of range) {
      const nfe = formula
        ? (nfeOfSteps(first.sampler, s, guided) as number)
        : (series.find((p) => p.steps === s) as QualityPoint).nfe;
      const q = fdAt(series, nfe);
      if (!q) continue;
      out.push({
        sampler: first.sampler,
        schedule: first.schedule,
        dtype: first.dtype,
        steps: s,
        nfe,
        fd: q.fd,
        fdInterpolated: q.interpolated,
      });
    }
  }
  return out;
}

/** Every option the table and curve together can predict for this objective. */
export function planOptions(
  costs: CostTable,
  curve: QualityCurve,
  objective: PlanObjective,
): PlanOption[] {
  const measured = [...new Set(costs.entries.map((e) => e.batch))].sort((a, b) => a - b);
  const options: PlanOption[] = [];
  for (const p of operatingPoints(curve, costs.guided)) {
    if (!costs.entries.some((e) => e.dtype === p.dtype)) continue;
    if (objective.kind === 'throughput') {
      for (const b of measured) {
        const ms = requestLatencyMs(costs, p.dtype, p.nfe, b, b);
        if (ms === null || ms <= 0) continue;
        options.push({ ...p, batch: b, latencyMs: ms, imagesPerSecond: (1000 * b) / ms });
      }
    } else {
      const images = objective.batch;
      const chunks = new Set([...measured.filter((b) => b < images), images]);
      for (const b of chunks) {
        const ms = requestLatencyMs(costs, p.dtype, p.nfe, images, b);
        if (ms === null || ms <= 0) continue;
        options.push({ ...p, batch: b, latencyMs: ms, imagesPerSecond: (1000 * images) / ms });
      }
    }
  }
  return options;
}

function describe(o: PlanOption): string {
  return `${o.sampler}/${o.schedule} ${o.nfe} NFE, batch ${o.batch}, ${o.dtype}: ${o.latencyMs.toFixed(1)} ms, ${o.imagesPerSecond.toFixed(1)} images/s, FD ${o.fd.toFixed(3)}`;
}

function best(options: PlanOption[], better: (a: PlanOption, b: PlanOption) => number) {
  return options.reduce<PlanOption | null>(
    (acc, o) => (!acc || better(o, acc) < 0 ? o : acc),
    null,
  );
}

/** Chooses by the rule at the top of this file. */
export function choosePlan(
  costs: CostTable,
  curve: QualityCurve,
  objective: PlanObjective,
): PlanChoice {
  const options = planOptions(costs, curve, objective);
  const considered = options.length;
  if (considered === 0)
    return {
      ok: false,
      considered,
      nearest: null,
      message:
        'no option to choose from: the quality curve and the cost table share no dtype, or the curve has no points',
    };
  const byFd = (a: PlanOption, b: PlanOption) => a.fd - b.fd;
  const byLatency = (a: PlanOption, b: PlanOption) => a.latencyMs - b.latencyMs;
  const byThroughput = (a: PlanOption, b: PlanOption) => b.imagesPerSecond - a.imagesPerSecond;
  const then =
    (...cmp: Array<(a: PlanOption, b: PlanOption) => number>) =>
    (a: PlanOption, b: PlanOption) => {
      for (const c of cmp) {
        const d = c(a, b);
        if (d !== 0) return d;
      }
      return 0;
    };
  if (objective.kind === 'latency') {
    const ok = options.filter((o) => o.latencyMs <= objective.latencyMs);
    const pick = best(ok, then(byFd, byLatency));
    if (pick) return { ok: true, option: pick, considered };
    const nearest = best(options, then(byLatency, byFd)) as PlanOption;
    return {
      ok: false,
      considered,
      nearest,
      message: `no plan meets ${objective.latencyMs} ms for ${objective.batch} image(s); the fastest is ${describe(nearest)}`,
    };
  }
  if (objective.kind === 'throughput') {
    const ok = options.filter((o) => o.imagesPerSecond >= objective.imagesPerSecond);
    const pick = best(ok, then(byFd, byThroughput));
    if (pick) return { ok: true, option: pick, considered };
    const nearest = best(options, then(byThroughput, byFd)) as PlanOption;
    return {
      ok: false,
      considered,
      nearest,
      message: `no plan reaches ${objective.imagesPerSecond} images/s; the highest is ${describe(nearest)}`,
    };
  }
  const ok = options.filter((o) => o.fd <= objective.maxFd);
  const pick = best(ok, then(byLatency, byFd));
  if (pick) return { ok: true, option: pick, considered };
  const nearest = best(options, then(byFd, byLatency)) as PlanOption;
  return {
    ok: false,
    considered,
    nearest,
    message: `no measured option reaches FD <= ${objective.maxFd}; the lowest is ${describe(nearest)} (FD is not extrapolated past the curve's largest NFE: measure more with \`anneal plan curve\`)`,
  };
}
