// The trade-off analysis a finished (or stopped) distillation run leaves: the reference and
// every stage evaluation as rows, written as tradeoff.md, .json and .svg beside the students.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bestBaseline, LATENCY_BATCH } from './evaluate-stage.ts';
import { REFERENCE_ROW, type RunLatency, timedRow } from './latency.ts';
import { COST_REPEATS } from './measure.ts';
import type { Reference } from './reference.ts';
import { keptStage } from './stages.ts';
import type { DistillState, RunSettings } from './state.ts';
import {
  type Tradeoff,
  type TradeoffRow,
  tradeoffJson,
  tradeoffMarkdown,
  tradeoffSvg,
} from './tradeoff.ts';

/**
 * Writes tradeoff.{md,json,svg}; returns the rows' decisions and the kept student. Latency
 * and images/s come from `latency` (every model timed together at the end, row for row: the
 * reference, then each evaluation) when given, else from each stage's own evaluation; peak
 * memory always from the stage's own (measured with that model alone).
 */
export function writeAnalysis(
  out: string,
  run: RunSettings,
  state: DistillState,
  reference: Reference,
  floorFd: number,
  latency: RunLatency | null = null,
) {
  const flat = state.stages.flatMap((s) =>
    s.evals.map((e) => ({
      ...e,
      stage: s.stage,
      dir: s.dir,
      decision: { metBudget: e.met_budget },
    })),
  );
  const kept = keptStage(flat);
  if (latency && latency.rows.length !== flat.length + 1)
    throw new RangeError(
      `latency.json times ${latency.rows.length} models; the run has ${flat.length + 1} rows`,
    );
  const timed = (i: number, name: string, own: { ms: number; perS: number }) => {
    const row = timedRow(latency, i, name);
    return row
      ? { latencyMsPerImage: row.median_ms_per_image, imagesPerS: row.images_per_s }
      : { latencyMsPerImage: own.ms, imagesPerS: own.perS };
  };
  const t: Tradeoff = {
    n: run.eval_n,
    referenceFd: reference.metrics.fd,
    floorFd,
    budget: run.budget,
    latency: latency
      ? {
          together: true,
          batch: latency.batch,
          rounds: latency.rounds,
          loadAvgStart: latency.load_avg_start[0] ?? null,
          loadAvgEnd: latency.load_avg_end[0] ?? null,
        }
      : {
          together: false,
          batch: LATENCY_BATCH,
          rounds: COST_REPEATS,
          loadAvgStart: null,
          loadAvgEnd: null,
        },
    rows: [
      {
        name: REFERENCE_ROW,
        steps: 32,
        nfe: reference.nfe,
        ...timed(0, REFERENCE_ROW, {
          ms: reference.latencyMsPerImage,
          perS: reference.imagesPerS,
        }),
        parameters: reference.parameters,
        peakMemoryBytes: reference.peakMemoryBytes,
        fd: reference.metrics.fd,
        fdStd: reference.fdSpread.std,
        kid: reference.metrics.kid,
        precision: reference.metrics.precision,
        recall: reference.metrics.recall,
        paired: null,
        decision: 'reference',
      },
      ...flat.map(
        (e, i): TradeoffRow => ({
          name: e.name,
          steps: e.steps,
          nfe: e.nfe,
          ...timed(i + 1, e.name, { ms: e.latency_ms_per_image, perS: e.images_per_s }),
          parameters: e.parameters,
          peakMemoryBytes: e.peak_memory_bytes,
          fd: e.fd,
          fdStd: e.fd_std,
          kid: e.kid,
          precision: e.precision,
          recall: e.recall,
          paired: e.paired
            ? {
                psnr: e.paired.psnr,
                ssim: e.paired.ssim,
                featureDistance: e.paired.feature_distance,
              }
            : null,
          decision: e === kept ? 'kept' : e.met_budget ? 'within budget' : 'over budget',
          teacherBest: ((b) =>
            b ? { sampler: b.sampler, steps: b.steps, fd: b.fd, fdStd: b.fd_std } : null)(
            bestBaseline(e.teacher_at_nfe),
          ),
        }),
      ),
    ],
  };
  writeFileSync(join(out, 'tradeoff.md'), tradeoffMarkdown(t));
  writeFileSync(join(out, 'tradeoff.json'), `${JSON.stringify(tradeoffJson(t), null, 2)}\n`);
  writeFileSync(join(out, 'tradeoff.svg'), tradeoffSvg(t));
  return { kept };
}
