// A model's quality curve (issue 13 section 3): FD with its floor and bootstrap spread against
// NFE, per (sampler, schedule, dtype), read on the same ruler `anneal eval` uses (the
// dataset's extractor, n held-out images, the real-vs-real floor). Cached in the model folder.
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import {
  type Model,
  type PlanDtype,
  type QualityCurve,
  type QualityPoint,
  qualityCurveSchema,
  resolveSchedule,
  type SamplerName,
  writeFileAtomic,
} from '@anneal/engine';
import type { LocalDataset } from '../dataset.ts';
import { bootstrapFd } from '../quality/bootstrap.ts';
import { qualityRuler, type RealSets, sampleClasses } from '../quality/evaluate.ts';
import { nfeOfSteps } from './choose.ts';
import { readJsonFile } from './json-file.ts';

export const CURVE_FILE = 'quality-curve.json';

/** Schedules the engine computes from a name; others (learned, ays) need a resolver. */
const ENGINE_SCHEDULES = new Set(['default', 'uniform', 'karras', 'exponential']);

/**
 * How a schedule name becomes what the engine samples with: a name it knows, or an explicit
 * sigma list (a learned schedule's file). The default resolver knows the engine's names only
 * and refuses others by name.
 */
export type ScheduleResolver = (
  sampler: SamplerName,
  schedule: string,
  steps: number,
) => { schedule?: string; sigmas?: number[] };

export const engineSchedules: ScheduleResolver = (_sampler, schedule) => {
  if (!ENGINE_SCHEDULES.has(schedule))
    throw new AppError(
      'BAD_REQUEST',
      `schedule "${schedule}" is not one the engine computes (${[...ENGINE_SCHEDULES].join(', ')})`,
    );
  return { schedule };
};

/**
 * The resolver every plan command uses for the model in `dir`: the engine's schedule kinds,
 * `ays` (the published list moved onto the model's sigma range) and `learned` (dir/schedules/
 * <sampler>-nfe<K>.json, as `anneal schedule learn` writes it) or a learned file's path.
 */
export function scheduleResolverFor(model: Model, dir: string): ScheduleResolver {
  return (sampler, schedule, steps) => {
    const r = resolveSchedule({
      schedule,
      sampler,
      steps,
      sigmaRange: () => model.sigmaRange(),
      dir,
    });
    return r.sigmas ? { sigmas: r.sigmas } : { schedule };
  };
}

/**
 * Steps of `sampler` that spend at most `nfe` evaluations per image (at least one step).
 * Refuses, by name, a sampler whose NFE does not follow from its steps (an adaptive one):
 * its curve cannot be measured at a chosen NFE.
 */
export function stepsAtMost(sampler: string, nfe: number, guided: boolean): number {
  if (nfeOfSteps(sampler, 1, guided) === null)
    throw new AppError(
      'BAD_REQUEST',
      `sampler "${sampler}" spends as many evaluations as each image needs, not a number fixed by its steps: a quality curve at chosen NFE cannot be measured for it`,
    );
  let steps = 1;
  while ((nfeOfSteps(sampler, steps + 1, guided) ?? Number.POSITIVE_INFINITY) <= nfe) steps++;
  return steps;
}

export function readCurve(dir: string): QualityCurve | null {
  return readJsonFile(
    join(dir, CURVE_FILE),
    qualityCurveSchema,
    'delete it or measure it again with `anneal plan curve`',
  );
}

export interface CurveOptions {
  model: Model;
  dataset: LocalDataset;
  series: Array<{ sampler: SamplerName; schedule: string }>;
  /** NFE per image to measure at (guidance's doubling included). */
  nfe: number[];
  dtypes?: PlanDtype[];
  n: number;
  seed: number;
  guidance: number;
  /** sha256 of the model's weights (weightsSha256), recorded in the curve. */
  weights: string;
  home?: string;
  extractor?: { steps?: number; width?: number };
  resolve?: ScheduleResolver;
  /**
   * The cached curve of these weights: its points are kept and not measured again. On another
   * ruler it is refused (never silently discarded) unless `replace`.
   */
  existing?: QualityCurve | null;
  replace?: boolean;
  onProgress?: (phase: string, done: number, total: number) => void;
}

/**
 * How `ruler` differs from the cached curve's (n, seed, guidance; the extractor and how the real
 * sets are drawn, once known).
 */
export function rulerDifferences(
  curve: QualityCurve | null | undefined,
  ruler: { n: number; seed: number; guidance: number; realSets?: RealSets; extractorId?: string },
): string[] {
  if (!curve) return [];
  const diff: string[] = [];
  const realSets = curve.realSets ?? 'random';
  if (ruler.realSets !== undefined && realSets !== ruler.realSets)
    diff.push(`real sets ${realSets}, not ${ruler.realSets}`);
  if (curve.n !== ruler.n) diff.push(`n ${curve.n}, not ${ruler.n}`);
  if (curve.seed !== ruler.seed) diff.push(`seed ${curve.seed}, not ${ruler.seed}`);
  if (curve.guidance !== ruler.guidance)
    diff.push(`guidance ${curve.guidance}, not ${ruler.guidance}`);
  if (ruler.extractorId !== undefined && curve.extractorId !== ruler.extractorId)
    diff.push(`extractor ${curve.extractorId}, not ${ruler.extractorId}`);
  return diff;
}

export async function measureCurve(o: CurveOptions): Promise<QualityCurve> {
  const classes = sampleClasses(o.model);
  const guided = classes !== null && o.guidance !== 1;
  const resolve = o.resolve ?? engineSchedules;
  const refuse = (extractorId?: string, realSets?: RealSets) => {
    const diff = rulerDifferences(o.existing, { ...o, realSets, extractorId });
    if (diff.length && !o.replace)
      throw new AppError(
        'PRECONDITION_FAILED',
        `the cached quality curve was measured on another ruler (${diff.join(', ')}); measuring on this one would discard its ${o.existing?.points.length} point(s): give --replace to do so, or the curve's own values`,
      );
  };
  refuse();
  const ruler = await qualityRuler({
    dataset: o.dataset,
    n: o.n,
    seed: o.seed,
    classes,
    home: o.home,
    extractor: o.extractor,
    onProgress: o.onProgress,
  });
  refuse(ruler.extractor.id, ruler.realSets);
  // A curve measured on another ruler (n, seed, guidance, extractor) or other weights does not
  // mix with this one.
  const same =
    o.existing &&
    o.existing.weights === o.weights &&
    rulerDifferences(o.existing, {
      ...o,
      realSets: ruler.realSets,
      extractorId: ruler.extractor.id,
    }).length === 0;
  const points: QualityPoint[] = same ? [...(o.existing as QualityCurve).points] : [];
  const todo: Array<{ sampler: SamplerName; schedule: string; dtype: PlanDtype; steps: number }> =
    [];
  for (const dtype of o.dtypes ?? ['float32']) {
    for (const s of o.series) {
      for (const target of o.nfe) {
        const steps = stepsAtMost(s.sampler, target, guided);
        const have = points.some(
          (p) =>
            p.sampler === s.sampler &&
            p.schedule === s.schedule &&
            p.dtype === dtype &&
            p.steps === steps,
        );
        if (
          !have &&
          !todo.some(
            (t) =>
              t.sampler === s.sampler &&
              t.schedule === s.schedule &&
              t.dtype === dtype &&
              t.steps === steps,
          )
        )
          todo.push({ ...s, dtype, steps });
      }
    }
  }
  for (const [i, t] of todo.entries()) {
    o.onProgress?.('curve', i, todo.length);
    const r = await o.model.sample({
      sampler: t.sampler,
      steps: t.steps,
      ...(resolve(t.sampler, t.schedule, t.steps) as { schedule?: 'default'; sigmas?: number[] }),
      n: o.n,
      seed: o.seed,
      guidance: o.guidance,
      dtype: t.dtype,
    });
    const { features, metrics } = await ruler.measure(r.images, r.shape);
    const spread = bootstrapFd(ruler.fA.features, features.features, { seed: o.seed });
    points.push({
      sampler: t.sampler,
      schedule: t.schedule,
      dtype: t.dtype,
      steps: t.steps,
      nfe: r.nfe,
      fd: metrics.fd,
      fdStd: spread.std,
      floor: ruler.floor.fd,
    });
  }
  o.onProgress?.('curve', todo.length, todo.length);
  points.sort(
    (a, b) =>
      a.sampler.localeCompare(b.sampler) ||
      a.schedule.localeCompare(b.schedule) ||
      a.dtype.localeCompare(b.dtype) ||
      a.nfe - b.nfe,
  );
  return qualityCurveSchema.parse({
    version: 1,
    n: o.n,
    seed: o.seed,
    guidance: o.guidance,
    extractorId: ruler.extractor.id,
    realSets: ruler.realSets,
    weights: o.weights,
    measuredAt: new Date().toISOString(),
    points,
  });
}

export function writeCurve(dir: string, curve: QualityCurve): string {
  const path = join(dir, CURVE_FILE);
  writeFileAtomic(path, `${JSON.stringify(curve, null, 2)}\n`);
  return path;
}
