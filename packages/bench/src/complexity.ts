// Steps that follow content complexity (issue 13 §2): the adaptive sampler on a model of data
// whose complexity varies per image (shapes with mixed dials). Per sample, the NFE the solver
// spent against the sample's complexity (Spearman rho); the mean NFE at equal FD against the
// same solver at fixed steps (dpm-solver-2) and against DPM-Solver++(2M), including the honest
// comparison with DPM-Solver++(2M) at <= 20 NFE.
//
// A generated image's complexity is measured, as it has no dials: the mean |Laplacian| of the
// image (5-point stencil on [-1, 1] values, all channels; imageFeatures' fourth entry), its
// high-frequency energy: hard edges, stripes, noise texture and more shapes all add to it.
// Before it is used on samples, the measure is validated on REAL images of the same dataset
// against their known dials (Spearman against each dial and their composite).
import { renderShapes, type ShapesOptionsInput, shapesDials } from '@anneal/datasets/shapes';
import {
  DEFAULT_ADAPTIVE_TOLERANCES,
  imageFeatures,
  type Model,
  type SamplerName,
  spearman,
  stepsWithinNfe,
} from '@anneal/engine';
import { type MetricsProbe, sampleRun } from './sampler-table.ts';
import { type Log, median } from './stats.ts';

/** The shapes options with every complexity dial mixed (issue 13's complexity knob). */
export const MIXED_SHAPES: ShapesOptionsInput = {
  shapesPerImage: 'mixed',
  texture: 'mixed',
  edges: 'mixed',
};

const TEXTURE_ORDER = { flat: 0, striped: 1, noise: 2 } as const;
const EDGE_ORDER = { soft: 0, antialiased: 1, hard: 2 } as const;

/** The complexity measure of uint8 NHWC images: mean |Laplacian| on [-1, 1] values. */
export function imageComplexity(
  images: Uint8Array,
  shape: readonly [number, number, number, number],
): number[] {
  const values = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) values[i] = (images[i] ?? 0) / 127.5 - 1;
  return imageFeatures(values, shape).map((f) => f[3] ?? 0);
}

export interface MeasureValidation {
  n: number;
  resolution: number;
  options: ShapesOptionsInput;
  /** Spearman of the measure against each dial and their composite (each dial scaled to [0, 1], summed). */
  spearman: {
    composite: number | null;
    shapes_per_image: number | null;
    texture: number | null;
    edges: number | null;
  };
}

/** The measure on real images (indices 0..n-1 of the dataset) against their dials. */
export function validateMeasure(
  resolution: number,
  options: ShapesOptionsInput,
  n: number,
): MeasureValidation {
  const idx = Array.from({ length: n }, (_, i) => i);
  const batch = renderShapes(resolution, options, idx);
  const measure = imageComplexity(batch.images, [n, resolution, resolution, batch.channels]);
  const dials = idx.map((i) => shapesDials(options, i));
  const shapes = dials.map((d) => d.shapesPerImage);
  const texture = dials.map((d) => TEXTURE_ORDER[d.texture]);
  const edges = dials.map((d) => EDGE_ORDER[d.edges]);
  const maxShapes = Math.max(...shapes);
  const composite = dials.map(
    (_, i) =>
      ((shapes[i] ?? 1) - 1) / Math.max(1, maxShapes - 1) +
      (texture[i] ?? 0) / 2 +
      (edges[i] ?? 0) / 2,
  );
  return {
    n,
    resolution,
    options,
    spearman: {
      composite: spearman(measure, composite),
      shapes_per_image: spearman(measure, shapes),
      texture: spearman(measure, texture),
      edges: spearman(measure, edges),
    },
  };
}

export interface AdaptiveRun {
  rtol: number;
  atol: number;
  mean_nfe: number;
  min_nfe: number;
  max_nfe: number;
  fd: number;
  /** FD's bootstrap standard deviation (null without --spread; absent in older records). */
  fd_std?: number | null;
  seconds: number;
  /** Batched network calls and image rows evaluated (finished images leave the batch). */
  batch_calls: number;
  rows_evaluated: number;
  /** Spearman of each sample's NFE against its measured complexity. */
  spearman_nfe_complexity: number | null;
}

export interface FixedRun {
  sampler: SamplerName;
  steps: number;
  nfe_per_image: number;
  fd: number;
  /** FD's bootstrap standard deviation (null without --spread; absent in older records). */
  fd_std?: number | null;
  seconds: number;
}

/** The NFE a fixed sampler needs for an FD, read off its ladder. */
export interface EqualFd {
  sampler: SamplerName;
  /** Interpolated in log NFE between the rungs around the FD; null when the ladder never reaches it. */
  nfe: number | null;
  /** interpolated; at_most: its smallest rung already reaches the FD; above_ladder: none does. */
  bound: 'interpolated' | 'at_most' | 'above_ladder';
  /** 1 - adaptive mean NFE / this NFE (> 0: the adaptive sampler spends fewer). */
  saving: number | null;
}

export interface ComplexityResult {
  n: number;
  seed: number;
  guidance: number;
  quality: string;
  /** Real against real on the same ruler (absent in records written before it was kept). */
  floor?: { fd: number; fd_std: number | null };
  measure: { name: string; definition: string; validation: MeasureValidation | null };
  adaptive: AdaptiveRun[];
  fixed: FixedRun[];
  equal_fd: Array<{ rtol: number; fd: number; adaptive_mean_nfe: number; fixed: EqualFd[] }>;
  /** Per sample at the tolerance nearest the engine's default: the scatter behind rho. */
  per_sample: { rtol: number; nfe: number[]; complexity: number[] } | null;
  /** DPM-Solver++(2M) at <= 20 NFE against the adaptive run with the least mean NFE. */
  low_nfe: {
    dpmpp_2m: Array<{ nfe: number; fd: number }>;
    adaptive_cheapest: { rtol: number; mean_nfe: number; fd: number } | null;
    /** The DPM-Solver++(2M) NFE at the cheapest adaptive run's FD (null: not within its ladder). */
    dpmpp_2m_nfe_at_equal_fd: number | null;
    /**
     * How that NFE was read off the ladder (as equal_fd's): at_most when dpmpp-2m's smallest
     * rung already reaches the FD, so the NFE is an upper bound, not where it gets there.
     * Absent in results written before it was recorded.
     */
    dpmpp_2m_bound_at_equal_fd?: EqualFd['bound'] | null;
  };
}

export interface ComplexityOptions {
  n: number;
  seed?: number;
  guidance?: number;
  /** Adaptive tolerances: rtol per run, atol = rtol * atolRatio. */
  rtols: number[];
  atolRatio?: number;
  /** The fixed samplers' NFE ladder. */
  nfeLadder: number[];
  fixedSamplers?: SamplerName[];
  /** The ruler every run's FD (and, with resamples, its spread) is read on. */
  quality: MetricsProbe;
  /** The measure's check on real images; null skips it (a dataset without dials). */
  validation: { resolution: number; options: ShapesOptionsInput; n: number } | null;
  log?: Log;
  onPartial?: (r: ComplexityResult) => void;
  /**
   * Where every run keeps its chunks (sampleResumable), so a benchmark stopped after hours
   * resumes at the first chunk it had not finished; absent: each run in one call.
   */
  sampleCache?: string;
}

/** The NFE at which a fixed sampler's FD-vs-NFE ladder reaches `fd` (log-NFE interpolation). */
export function nfeAtFd(
  points: ReadonlyArray<{ nfe: number; fd: number }>,
  fd: number,
): { nfe: number | null; bound: EqualFd['bound'] } {
  const p = [...points].sort((a, b) => a.nfe - b.nfe);
  const first = p[0];
  if (!first) return { nfe: null, bound: 'above_ladder' };
  if (first.fd <= fd) return { nfe: first.nfe, bound: 'at_most' };
  for (let i = 1; i < p.length; i++) {
    const a = p[i - 1] as { nfe: number; fd: number };
    const b = p[i] as { nfe: number; fd: number };
    if (b.fd <= fd) {
      const t = (a.fd - fd) / (a.fd - b.fd);
      return {
        nfe: Math.exp(Math.log(a.nfe) + t * (Math.log(b.nfe) - Math.log(a.nfe))),
        bound: 'interpolated',
      };
    }
  }
  return { nfe: null, bound: 'above_ladder' };
}

export async function benchComplexity(
  model: Model,
  o: ComplexityOptions,
): Promise<ComplexityResult> {
  const log = o.log ?? (() => {});
  const seed = o.seed ?? 0;
  const guidance = o.guidance ?? 1;
  // The engine's default pair's ratio (0.0078 / 0.05).
  const atolRatio =
    o.atolRatio ?? DEFAULT_ADAPTIVE_TOLERANCES.atol / DEFAULT_ADAPTIVE_TOLERANCES.rtol;
  const fixedSamplers = o.fixedSamplers ?? (['dpm-solver-2', 'dpmpp-2m'] as SamplerName[]);
  for (const s of fixedSamplers)
    if (s === 'adaptive' || s === 'consistency')
      throw new RangeError(`complexity: fixedSamplers are fixed-step diffusion samplers; got ${s}`);
  const result: ComplexityResult = {
    n: o.n,
    seed,
    guidance,
    quality: o.quality.describe,
    floor: { fd: o.quality.floor.fd, fd_std: o.quality.floor.fd_std ?? null },
    measure: {
      name: 'laplacian',
      definition:
        'mean |5-point Laplacian| of the image on [-1, 1] values over pixels and channels (edges replicated)',
      validation: null,
    },
    adaptive: [],
    fixed: [],
    equal_fd: [],
    per_sample: null,
    low_nfe: { dpmpp_2m: [], adaptive_cheapest: null, dpmpp_2m_nfe_at_equal_fd: null },
  };
  if (o.validation) {
    const v = o.validation;
    result.measure.validation = validateMeasure(v.resolution, v.options, v.n);
    log(
      `complexity: the measure on ${v.n} real images vs their dials, Spearman ${result.measure.validation.spearman.composite?.toFixed(3)}`,
    );
  }
  o.onPartial?.(result);
  const defaultRtol = o.rtols.reduce((best, r) =>
    Math.abs(Math.log(r / 0.05)) < Math.abs(Math.log(best / 0.05)) ? r : best,
  );
  for (const rtol of o.rtols) {
    const atol = rtol * atolRatio;
    const s = await sampleRun(
      model,
      { sampler: 'adaptive', rtol, atol, n: o.n, seed, guidance },
      o.sampleCache,
      false,
      log,
    );
    const seconds = s.seconds;
    const nfe = Array.from(s.nfePerImage ?? []);
    const complexity = imageComplexity(s.images, s.shape);
    const { fd, fd_std } = await o.quality.measure(s.images, s.shape, null);
    const run: AdaptiveRun = {
      rtol,
      atol,
      mean_nfe: nfe.reduce((a, b) => a + b, 0) / Math.max(1, nfe.length),
      min_nfe: Math.min(...nfe),
      max_nfe: Math.max(...nfe),
      fd,
      fd_std,
      seconds,
      batch_calls: s.calls ?? 0,
      rows_evaluated: s.rowsEvaluated ?? 0,
      spearman_nfe_complexity: spearman(nfe, complexity),
    };
    result.adaptive.push(run);
    if (rtol === defaultRtol) result.per_sample = { rtol, nfe, complexity };
    log(
      `complexity: adaptive rtol ${rtol}: mean NFE ${run.mean_nfe.toFixed(1)} (${run.min_nfe}..${run.max_nfe}), FD ${fd.toFixed(3)}, rho ${run.spearman_nfe_complexity?.toFixed(3)}`,
    );
    o.onPartial?.(result);
  }
  for (const sampler of fixedSamplers)
    for (const rung of o.nfeLadder) {
      const steps = stepsWithinNfe(sampler, rung);
      // Two rungs can round to the same steps (an even rung for the two-stage samplers): run
      // and score each step count once.
      if (result.fixed.some((f) => f.sampler === sampler && f.steps === steps)) continue;
      const s = await sampleRun(
        model,
        { sampler, steps, n: o.n, seed, guidance },
        o.sampleCache,
        false,
        log,
      );
      const seconds = s.seconds;
      const { fd, fd_std } = await o.quality.measure(s.images, s.shape, null);
      result.fixed.push({ sampler, steps, nfe_per_image: s.nfe, fd, fd_std, seconds });
      log(`complexity: ${sampler} ${steps} steps (${s.nfe} NFE): FD ${fd.toFixed(3)}`);
      o.onPartial?.(result);
    }
  const curve = (sampler: SamplerName) =>
    result.fixed
      .filter((f) => f.sampler === sampler)
      .map((f) => ({ nfe: f.nfe_per_image, fd: f.fd }));
  result.equal_fd = result.adaptive.map((a) => ({
    rtol: a.rtol,
    fd: a.fd,
    adaptive_mean_nfe: a.mean_nfe,
    fixed: fixedSamplers.map((sampler) => {
      const at = nfeAtFd(curve(sampler), a.fd);
      return {
        sampler,
        ...at,
        saving: at.nfe !== null && at.bound === 'interpolated' ? 1 - a.mean_nfe / at.nfe : null,
      };
    }),
  }));
  const dpm = curve('dpmpp-2m');
  result.low_nfe.dpmpp_2m = dpm.filter((p) => p.nfe <= 20);
  const cheapest = [...result.adaptive].sort((a, b) => a.mean_nfe - b.mean_nfe)[0];
  if (cheapest) {
    result.low_nfe.adaptive_cheapest = {
      rtol: cheapest.rtol,
      mean_nfe: cheapest.mean_nfe,
      fd: cheapest.fd,
    };
    const at = dpm.length ? nfeAtFd(dpm, cheapest.fd) : null;
    result.low_nfe.dpmpp_2m_nfe_at_equal_fd = at?.nfe ?? null;
    result.low_nfe.dpmpp_2m_bound_at_equal_fd = at?.bound ?? null;
  }
  return result;
}

/**
 * How far to trust the equal-FD column: when the adaptive runs' FDs span less than a single
 * FD's typical bootstrap spread, the NFE read off a ladder at each of them is as uncertain as
 * that FD. Null without spreads.
 */
export function equalFdNoise(r: ComplexityResult): string | null {
  const stds = r.adaptive.map((a) => a.fd_std).filter((x): x is number => typeof x === 'number');
  if (stds.length === 0 || stds.length !== r.adaptive.length) return null;
  const typical = median(stds);
  const fds = r.adaptive.map((a) => a.fd);
  const span = Math.max(...fds) - Math.min(...fds);
  return span < typical
    ? `The adaptive runs' FDs span ${span.toFixed(3)}, less than one bootstrap spread of a single FD (median ± ${typical.toFixed(3)}). The runs share their noise and real images, so their differences are steadier than that, but each NFE at equal FD places one FD on another sampler's ladder, where a fresh draw could move it by a spread: read the savings as indicative.`
    : `The adaptive runs' FDs span ${span.toFixed(3)}, more than one bootstrap spread of a single FD (median ± ${typical.toFixed(3)}); each NFE at equal FD still carries its FD's spread.`;
}

/** The report's sentence on the low-NFE comparison; an NFE only bounded from above says so. */
export function lowNfeSentence(low: ComplexityResult['low_nfe']): string | null {
  const a = low.adaptive_cheapest;
  if (!a) return null;
  const f = (v: number, d: number) => v.toFixed(d);
  const nfe = low.dpmpp_2m_nfe_at_equal_fd;
  const reaches =
    nfe === null
      ? 'which dpmpp-2m reaches at no NFE of its ladder'
      : low.dpmpp_2m_bound_at_equal_fd === 'at_most'
        ? `which dpmpp-2m already beats at its smallest rung, ${nfe} NFE (an upper bound: its ladder does not say how much less it needs)`
        : `which dpmpp-2m reaches at ${f(nfe, 1)} NFE`;
  return `At <= 20 NFE: dpmpp-2m ${low.dpmpp_2m.map((p) => `${p.nfe} NFE FD ${f(p.fd, 3)}`).join(', ') || 'not run'}; the cheapest adaptive run (rtol ${a.rtol}) spends ${f(a.mean_nfe, 1)} NFE for FD ${f(a.fd, 3)}, ${reaches}.`;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#b07aa1'];

/**
 * Two panels: NFE per sample against its measured complexity (the adaptive run nearest the
 * default tolerance), and FD against NFE per image for the adaptive runs and the fixed ladders.
 */
export function complexitySvg(r: ComplexityResult): string {
  const W = 900;
  const H = 360;
  const panel = (x: number) => ({ left: x + 56, right: x + 420, top: 24, bottom: H - 44 });
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    '<title>Adaptive sampling: NFE against complexity, and FD against NFE</title>',
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  const scale = (lo: number, hi: number, a: number, b: number, log = false) => {
    const f = log ? Math.log10 : (v: number) => v;
    const [l, h] = [f(lo), f(hi)];
    const pad = (h - l || 1) * 0.06;
    return (v: number) => a + ((f(v) - l + pad) / (h - l + 2 * pad)) * (b - a);
  };
  const axes = (p: ReturnType<typeof panel>, xLabel: string, yLabel: string) =>
    parts.push(
      `<rect x="${p.left}" y="${p.top}" width="${p.right - p.left}" height="${p.bottom - p.top}" fill="none" stroke="#999"/>`,
      `<text x="${(p.left + p.right) / 2}" y="${H - 10}" text-anchor="middle">${xLabel}</text>`,
      `<text transform="translate(${p.left - 40} ${(p.top + p.bottom) / 2}) rotate(-90)" text-anchor="middle">${yLabel}</text>`,
    );
  const tick = (x: number, y: number, text: string, anchor: string) =>
    parts.push(
      `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" text-anchor="${anchor}" fill="#555">${text}</text>`,
    );
  // Left: the scatter.
  const a = panel(0);
  const ps = r.per_sample;
  const rho = r.adaptive.find((x) => x.rtol === ps?.rtol)?.spearman_nfe_complexity;
  axes(a, 'complexity (mean |Laplacian|)', 'NFE per sample');
  if (ps?.nfe.length) {
    const X = scale(Math.min(...ps.complexity), Math.max(...ps.complexity), a.left, a.right);
    const Y = scale(Math.min(...ps.nfe), Math.max(...ps.nfe), a.bottom, a.top);
    for (const [i, v] of ps.nfe.entries())
      parts.push(
        `<circle cx="${X(ps.complexity[i] ?? 0).toFixed(1)}" cy="${Y(v).toFixed(1)}" r="2.5" fill="${PALETTE[0]}" fill-opacity="0.6"/>`,
      );

    for (const v of [Math.min(...ps.nfe), Math.max(...ps.nfe)])
      tick(a.left - 4, Y(v) + 4, String(v), 'end');
    for (const v of [Math.min(...ps.complexity), Math.max(...ps.complexity)])
      tick(X(v), a.bottom + 14, v.toFixed(3), 'middle');
    parts.push(
      `<text x="${a.left + 6}" y="${a.top + 14}">rtol ${ps.rtol}: Spearman rho ${rho === null || rho === undefined ? 'n/a' : rho.toFixed(3)}, n = ${ps.nfe.length}</text>`,
    );
  }
  // Right: FD against NFE.
  const b = panel(450);
  axes(b, 'NFE per image (log)', `FD (log), n = ${r.n}`);
  const series: Array<{ name: string; pts: Array<{ nfe: number; fd: number }> }> = [
    { name: 'adaptive (mean NFE)', pts: r.adaptive.map((x) => ({ nfe: x.mean_nfe, fd: x.fd })) },
    ...[...new Set(r.fixed.map((f) => f.sampler))].map((s) => ({
      name: s,
      pts: r.fixed.filter((f) => f.sampler === s).map((f) => ({ nfe: f.nfe_per_image, fd: f.fd })),
    })),
  ];
  const all = series.flatMap((s) => s.pts).filter((p) => p.nfe > 0 && p.fd > 0);
  if (all.length) {
    const X = scale(
      Math.min(...all.map((p) => p.nfe)),
      Math.max(...all.map((p) => p.nfe)),
      b.left,
      b.right,
      true,
    );
    const Y = scale(
      Math.min(...all.map((p) => p.fd)),
      Math.max(...all.map((p) => p.fd)),
      b.bottom,
      b.top,
      true,
    );
    series.forEach((s, i) => {
      const color = PALETTE[i % PALETTE.length];
      const pts = [...s.pts].filter((p) => p.nfe > 0 && p.fd > 0).sort((p, q) => p.nfe - q.nfe);
      parts.push(
        `<polyline points="${pts.map((p) => `${X(p.nfe).toFixed(1)},${Y(p.fd).toFixed(1)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`,
        ...pts.map(
          (p) =>
            `<circle cx="${X(p.nfe).toFixed(1)}" cy="${Y(p.fd).toFixed(1)}" r="3" fill="${color}"/>`,
        ),
        `<text x="${b.right - 6}" y="${b.top + 14 + 14 * i}" text-anchor="end" fill="${color}">${s.name}</text>`,
      );
    });
    const nfes = all.map((p) => p.nfe);
    const fds = all.map((p) => p.fd);
    for (const v of [Math.min(...nfes), Math.max(...nfes)])
      tick(X(v), b.bottom + 14, v.toFixed(0), 'middle');
    for (const v of [Math.min(...fds), Math.max(...fds)])
      tick(b.left - 4, Y(v) + 4, v.toPrecision(3), 'end');
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
