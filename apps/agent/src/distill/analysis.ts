// The trade-off analysis a finished (or stopped) distillation run leaves: the reference and
// every stage evaluation as rows, written as tradeoff.md, .json and .svg beside the students.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bestBaseline } from './evaluate-stage.ts';
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

/** Writes tradeoff.{md,json,svg}; returns the rows' decisions and the kept student. */
export function writeAnalysis(
  out: string,
  run: RunSettings,
  state: DistillState,
  reference: Reference,
  floorFd: number,
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
  const t: Tradeoff = {
    n: run.eval_n,
    referenceFd: reference.metrics.fd,
    floorFd,
    budget: run.budget,
    rows: [
      {
        name: 'reference (DDIM 32)',
        steps: 32,
        nfe: reference.nfe,
        latencyMsPerImage: reference.latencyMsPerImage,
        imagesPerS: reference.imagesPerS,
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
        (e): TradeoffRow => ({
          name: e.name,
          steps: e.steps,
          nfe: e.nfe,
          latencyMsPerImage: e.latency_ms_per_image,
          imagesPerS: e.images_per_s,
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
