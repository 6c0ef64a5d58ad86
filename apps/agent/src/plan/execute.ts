// Running a chosen plan: the measured latency of one request (warm-up, then the median of
// timed calls) against the predicted one, and optionally FD at n samples on the eval ruler.
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import {
  type CostStatistic,
  type Model,
  type Plan,
  type PlanObjective,
  planSchema,
  type SamplerName,
  writeFileAtomic,
} from '@anneal/engine';
import type { LocalDataset } from '../dataset.ts';
import { qualityRuler, sampleClasses } from '../quality/evaluate.ts';
import type { PlanOption } from './choose.ts';
import { summarize } from './costs.ts';
import { engineSchedules, type ScheduleResolver } from './curve.ts';
import { readJsonFile } from './json-file.ts';

export const PLAN_FILE = 'plan.json';

/** Images in one request of the objective: its batch, or for throughput the plan's batch. */
export function requestImages(objective: PlanObjective, option: Pick<PlanOption, 'batch'>): number {
  return objective.kind === 'throughput' ? option.batch : objective.batch;
}

/** What of a plan decides how it samples. */
export type PlanSampling = Pick<
  Plan,
  'sampler' | 'schedule' | 'steps' | 'batch' | 'dtype' | 'guidance'
>;

/** The engine's sampling inputs for a plan (schedule resolved to a name or a sigma list). */
export function planSampling(plan: PlanSampling, resolve: ScheduleResolver = engineSchedules) {
  return {
    sampler: plan.sampler as SamplerName,
    steps: plan.steps,
    ...(resolve(plan.sampler as SamplerName, plan.schedule, plan.steps) as {
      schedule?: 'default';
      sigmas?: number[];
    }),
    chunk: plan.batch,
    dtype: plan.dtype,
    guidance: plan.guidance,
  };
}

/** Wall milliseconds of `repeats` requests after one warm-up, summarized by `statistic`. */
export async function measureLatency(
  model: Model,
  plan: PlanSampling & Pick<Plan, 'nfe'>,
  images: number,
  statistic: CostStatistic,
  repeats = 5,
  resolve?: ScheduleResolver,
): Promise<{ ms: number; timesMs: number[]; nfe: number }> {
  const spec = { ...planSampling(plan, resolve), n: images, seed: 1 };
  const warm = await model.sample(spec);
  if (warm.nfe !== plan.nfe)
    throw new Error(`the plan predicts ${plan.nfe} NFE, the engine spent ${warm.nfe}`);
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await model.sample(spec);
    times.push(performance.now() - t0);
  }
  return { ms: summarize(times, statistic), timesMs: times, nfe: warm.nfe };
}

/** FD of the plan's samples at n, on the ruler `anneal eval` uses. */
export async function verifyFd(o: {
  model: Model;
  dataset: LocalDataset;
  plan: Plan;
  n: number;
  seed: number;
  home?: string;
  extractor?: { steps?: number; width?: number };
  resolve?: ScheduleResolver;
  /** The extractor the FD must be read on (the curve's): refused before sampling otherwise. */
  extractorId?: string;
  onProgress?: (phase: string, done: number, total: number) => void;
}): Promise<{ fd: number; floor: number; extractorId: string }> {
  const ruler = await qualityRuler({
    dataset: o.dataset,
    n: o.n,
    seed: o.seed,
    classes: sampleClasses(o.model),
    home: o.home,
    extractor: o.extractor,
    onProgress: o.onProgress,
  });
  if (o.extractorId !== undefined && ruler.extractor.id !== o.extractorId)
    throw new AppError(
      'BAD_REQUEST',
      `--verify-fd: the curve was read on extractor ${o.extractorId}, this check on ${ruler.extractor.id}; give the --extractor-steps/--extractor-width the curve was measured with`,
    );
  const r = await o.model.sample(
    { ...planSampling(o.plan, o.resolve), n: o.n, seed: o.seed },
    (s, t) => o.onProgress?.('verify', s, t),
  );
  const { metrics } = await ruler.measure(r.images, r.shape);
  return { fd: metrics.fd, floor: ruler.floor.fd, extractorId: ruler.extractor.id };
}

export function readPlan(dir: string): Plan | null {
  return readJsonFile(
    join(dir, PLAN_FILE),
    planSchema,
    'delete it or choose a plan again with `anneal plan ... --save`',
  );
}

export function writePlan(dir: string, plan: Plan): string {
  const path = join(dir, PLAN_FILE);
  writeFileAtomic(path, `${JSON.stringify(plan, null, 2)}\n`);
  return path;
}
