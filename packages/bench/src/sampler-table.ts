// The sampler table of a trained teacher (issue 11, item 4): every sampler at a few NFE, each
// with the full quality report (FD, KID, precision/recall, class accuracy beside their real-
// vs-real floors) and its wall time, all from one seed so every row starts from the same noise;
// then a long reference run (a many-step solver at a larger n) that says where the table's
// numbers are heading. Optionally the first images of each row at one NFE, side by side.
import { writeFileSync } from 'node:fs';
import { encodePng } from '@anneal/core/png';
import {
  type Model,
  pairedMse,
  type ResumableSpec,
  type SamplerName,
  sampleResumable,
} from '@anneal/engine';
import { stepsForNfe } from './sampling.ts';
import type { Log } from './stats.ts';

export interface QualityMetrics {
  fd: number;
  /** FD's bootstrap standard deviation (absent in results recorded before it was measured). */
  fd_std?: number | null;
  kid: number;
  kid_std: number | null;
  precision: number;
  recall: number;
  /** Class-conditional models: the extractor's accuracy on samples against their classes. */
  accuracy: number | null;
}

/** Full quality of a sample set on one ruler (an extractor and n held-out images). */
export interface MetricsProbe {
  /** Extractor id and n, recorded with the table. */
  describe: string;
  n: number;
  /** Bootstrap resamples behind `fd_std` and `fdDifference` (0: neither is measured). */
  spread: number;
  floor: QualityMetrics;
  /** `labels`: the class each sample was drawn for. */
  measure(
    images: Uint8Array,
    shape: [number, number, number, number],
    labels: Int32Array | null,
  ): Promise<QualityMetrics>;
  /**
   * FD(a) - FD(b) for two sets drawn from the same noise, with its paired bootstrap interval:
   * whether one is nearer the real images beyond the spread of sampling.
   */
  fdDifference?(
    a: Uint8Array,
    b: Uint8Array,
    shape: [number, number, number, number],
  ): Promise<FdDifference>;
}

/** FD(a) - FD(b), its paired bootstrap spread and 90% interval, and which is nearer if either. */
export interface FdDifference {
  difference: number;
  std: number;
  low: number;
  high: number;
  resamples: number;
  better: 'a' | 'b' | 'neither';
}

/** A deterministic solver against ancestral DDPM at one NFE (issue 11's target), paired. */
export interface SolverComparison extends FdDifference {
  nfe: number;
  /** a: the deterministic solver; b: DDPM. */
  a: { sampler: SamplerName; steps: number; fd: number };
  b: { sampler: SamplerName; steps: number; fd: number };
}

export interface TableRow extends QualityMetrics {
  sampler: SamplerName;
  steps: number;
  nfe_per_image: number;
  /** Wall time of sampling all n images (not the scoring). */
  seconds: number;
  images_per_s: number;
}

export interface SamplerTableOptions {
  probe: MetricsProbe;
  /** Each sampler with the NFE per image it is run at (Heun's steps are chosen to stay at or under). */
  rows: ReadonlyArray<{ sampler: SamplerName; nfe: number }>;
  /** A long run at the reference probe's n (e.g. Heun at 100 steps, n = 1000). */
  reference?: { sampler: SamplerName; steps: number; probe: MetricsProbe };
  seed?: number;
  guidance?: number;
  /** The first `count` images of every row whose NFE is `nfe`, one row per sampler, as a PNG. */
  grid?: { nfe: number; count: number; path: string };
  /**
   * Where every run keeps its chunks as they finish (sampleResumable), so a table (and its
   * hours-long reference) stopped part way goes on where it stopped; each row's wall time is
   * its chunks' summed. Without it, or for a model with no folder, runs sample in one call.
   */
  sampleCache?: string;
  log?: Log;
  onPartial?: (r: SamplerTableResult) => void;
}

/**
 * One run's images and its sampling wall time: kept chunk by chunk under `cache` when given
 * (a stopped run resumes), else in one call. `pairedTo`: each image's mean squared difference
 * to a reference run's float images from the same noise (kept per chunk, so not its values).
 */
export async function sampleRun(
  model: Model,
  spec: ResumableSpec,
  cache: string | undefined,
  values = false,
  log?: Log,
  pairedTo?: { id: string; values: Float32Array },
) {
  if (cache && model.dir) {
    const r = await sampleResumable(model, spec, { root: cache, values, pairedTo });
    if (r.chunks.resumed > 0)
      log?.(
        `  ${r.chunks.resumed} of ${r.chunks.resumed + r.chunks.sampled} chunks were kept from an earlier sitting (${r.dir})`,
      );
    return r;
  }
  const started = performance.now();
  const s = await model.sample({ ...spec, returnValues: values || pairedTo !== undefined });
  const seconds = (performance.now() - started) / 1000;
  const n = s.shape[0];
  const paired =
    pairedTo && s.values
      ? pairedMse(s.values, pairedTo.values.subarray(0, s.values.length), n)
      : undefined;
  return { ...s, values: values ? s.values : undefined, pairedMse: paired, seconds };
}

export interface SamplerTableResult {
  n: number;
  quality: string;
  seed: number;
  guidance: number;
  floor: QualityMetrics;
  rows: TableRow[];
  reference: (TableRow & { n: number; quality: string; floor: QualityMetrics }) | null;
  /**
   * Every deterministic row against the DDPM row of the same nominal NFE, paired (same noise).
   * Absent in results recorded before the comparison existed.
   */
  comparisons?: SolverComparison[];
  /** The grid figure: its path and the samplers of its rows, top to bottom. */
  grid: { path: string; nfe: number; count: number; samplers: SamplerName[] } | null;
}

/** The default table of issue 11: DDIM, DPM-Solver++(2M), DDPM at 5/10/20 NFE; Euler, Heun at 10/20. */
export const TEACHER_TABLE_ROWS: ReadonlyArray<{ sampler: SamplerName; nfe: number }> = [
  ...(['ddim', 'dpmpp-2m', 'ddpm'] as const).flatMap((sampler) =>
    [5, 10, 20].map((nfe) => ({ sampler, nfe })),
  ),
  ...(['euler', 'heun'] as const).flatMap((sampler) => [10, 20].map((nfe) => ({ sampler, nfe }))),
];

/** The class of sample i when none is given: the engine cycles through the classes. */
function requestedLabels(model: Model, n: number): Int32Array | null {
  const k = model.config.dataset?.num_classes ?? 0;
  return k > 0 ? Int32Array.from({ length: n }, (_, i) => i % k) : null;
}

async function measuredRun(
  model: Model,
  probe: MetricsProbe,
  sampler: SamplerName,
  steps: number,
  seed: number,
  guidance: number,
  cache: string | undefined,
  log?: Log,
) {
  const s = await sampleRun(
    model,
    { sampler, steps, n: probe.n, seed, guidance },
    cache,
    false,
    log,
  );
  const seconds = s.seconds;
  const metrics = await probe.measure(s.images, s.shape, requestedLabels(model, probe.n));
  const row: TableRow = {
    sampler,
    steps,
    nfe_per_image: s.nfe,
    seconds,
    images_per_s: probe.n / seconds,
    ...metrics,
  };
  return { row, images: s.images, shape: s.shape };
}

/** Tiles images [count, h, w, c] of several runs into one PNG: one run per row, 1 px gaps. */
function gridPng(runs: Uint8Array[], shape: [number, number, number, number], count: number) {
  const [, h, w, c] = shape;
  const gap = 1;
  const width = count * (w + gap) - gap;
  const height = runs.length * (h + gap) - gap;
  const pixels = new Uint8Array(width * height * c).fill(255);
  runs.forEach((images, r) => {
    for (let i = 0; i < count; i++)
      for (let y = 0; y < h; y++) {
        const src = (i * h + y) * w * c;
        const dst = ((r * (h + gap) + y) * width + i * (w + gap)) * c;
        pixels.set(images.subarray(src, src + w * c), dst);
      }
  });
  return encodePng(pixels, width, height, c as 1 | 3 | 4);
}

/** Samplers that inject noise on the way (not ODE solvers): left out of the comparisons. */
const ANCESTRAL: ReadonlySet<SamplerName> = new Set(['ddpm', 'consistency']);

async function compareWithDdpm(
  probe: MetricsProbe,
  byNfe: Map<number, Array<{ row: TableRow; images: Uint8Array }>>,
  shape: [number, number, number, number],
): Promise<SolverComparison[]> {
  const out: SolverComparison[] = [];
  for (const [nfe, runs] of byNfe) {
    const ddpm = runs.find((r) => r.row.sampler === 'ddpm');
    if (!ddpm || !probe.fdDifference) continue;
    for (const run of runs) {
      if (ANCESTRAL.has(run.row.sampler)) continue;
      const d = await probe.fdDifference(run.images, ddpm.images, shape);
      const side = (t: TableRow) => ({ sampler: t.sampler, steps: t.steps, fd: t.fd });
      out.push({ nfe, a: side(run.row), b: side(ddpm.row), ...d });
    }
  }
  return out;
}

export async function samplerTable(
  model: Model,
  opts: SamplerTableOptions,
): Promise<SamplerTableResult> {
  const seed = opts.seed ?? 0;
  const guidance = opts.guidance ?? 1;
  const log = opts.log ?? (() => {});
  const { probe } = opts;
  if (opts.grid && opts.grid.count > probe.n)
    throw new RangeError(
      `the grid shows ${opts.grid.count} images per row; only n = ${probe.n} are sampled`,
    );
  const result: SamplerTableResult = {
    n: probe.n,
    quality: probe.describe,
    seed,
    guidance,
    floor: probe.floor,
    rows: [],
    reference: null,
    grid: null,
    comparisons: [],
  };
  // Each row's images, by nominal NFE, for the paired comparisons against DDPM.
  const byNfe = new Map<number, Array<{ row: TableRow; images: Uint8Array }>>();
  let rowShape: [number, number, number, number] | null = null;
  const gridRuns: Uint8Array[] = [];
  const gridSamplers: SamplerName[] = [];
  let gridShape: [number, number, number, number] | null = null;
  for (const { sampler, nfe } of opts.rows) {
    const steps = stepsForNfe(sampler, nfe);
    const { row, images, shape } = await measuredRun(
      model,
      probe,
      sampler,
      steps,
      seed,
      guidance,
      opts.sampleCache,
      log,
    );
    result.rows.push(row);
    if (probe.fdDifference) {
      byNfe.set(nfe, [...(byNfe.get(nfe) ?? []), { row, images }]);
      rowShape = shape;
    }
    log(
      `teacher-samplers: ${sampler} ${steps} steps (NFE ${row.nfe_per_image}): FD ${row.fd.toFixed(3)}, ${row.seconds.toFixed(0)} s`,
    );
    if (opts.grid && nfe === opts.grid.nfe) {
      gridRuns.push(images.slice(0, opts.grid.count * shape[1] * shape[2] * shape[3]));
      gridSamplers.push(sampler);
      gridShape = shape;
    }
    opts.onPartial?.(result);
  }
  if (probe.fdDifference && rowShape) {
    result.comparisons = await compareWithDdpm(probe, byNfe, rowShape);
    for (const c of result.comparisons)
      log(
        `teacher-samplers: ${c.a.sampler} - ddpm at ${c.nfe} NFE: FD ${c.difference.toFixed(3)} (90% ${c.low.toFixed(3)}..${c.high.toFixed(3)}), nearer: ${c.better === 'a' ? c.a.sampler : c.better === 'b' ? 'ddpm' : 'neither'}`,
      );
    opts.onPartial?.(result);
  }
  if (opts.grid && gridShape) {
    writeFileSync(opts.grid.path, gridPng(gridRuns, gridShape, opts.grid.count));
    result.grid = { ...opts.grid, samplers: gridSamplers };
    // Recorded now: a run stopped during the long reference still names the figure it drew.
    opts.onPartial?.(result);
  }
  if (opts.reference) {
    const ref = opts.reference;
    log(`teacher-samplers: reference ${ref.sampler} ${ref.steps} steps, n ${ref.probe.n}`);
    const { row } = await measuredRun(
      model,
      ref.probe,
      ref.sampler,
      ref.steps,
      seed,
      guidance,
      opts.sampleCache,
      log,
    );
    result.reference = {
      ...row,
      n: ref.probe.n,
      quality: ref.probe.describe,
      floor: ref.probe.floor,
    };
    log(`teacher-samplers: reference FD ${row.fd.toFixed(3)}, ${row.seconds.toFixed(0)} s`);
  }
  return result;
}
