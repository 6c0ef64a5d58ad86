// A cheap step-count predictor (issue 13 §2): from the first denoised estimate D(x_T; sigma_max)
// (one network evaluation) and the conditioning, predict how many fixed steps of a chosen
// sampler a request needs to be as accurate as the adaptive solver at given tolerances. A
// ridge regression on standardized features, fitted on a calibration batch of the model's own
// samples and stored beside the weights (DIR/step-predictor.json).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { z } from 'zod';
import { samplerSchema } from './config/training.ts';
import { writeFileAtomic } from './model.ts';

export const STEP_PREDICTOR_FILE = 'step-predictor.json';

/** Image statistics of the first denoised estimate, in the order of the predictor's weights. */
export const imageFeatureNames = ['mean', 'std', 'gradient', 'laplacian'] as const;

export const stepPredictorSchema = z.object({
  version: z.literal(1),
  /** The fixed-step sampler whose steps it predicts, and the adaptive tolerances it matches. */
  sampler: samplerSchema,
  rtol: z.number().positive(),
  atol: z.number().positive(),
  /** Feature names: imageFeatureNames, then one indicator per class (class-conditional models). */
  features: z.array(z.string()).min(1),
  /** Standardization of each feature, then the ridge weights on the standardized features. */
  center: z.array(z.number()),
  scale: z.array(z.number().positive()),
  weights: z.array(z.number()),
  bias: z.number(),
  ridge: z.number().min(0),
  /** Predictions are rounded and clamped to the calibration grid's range. */
  minSteps: z.number().int().min(1),
  maxSteps: z.number().int().min(1),
  /**
   * How it was fitted: the calibration batch, the mean steps it needed, and the fit's
   * leave-one-out mean absolute error (steps) and Spearman against the needed steps.
   */
  calibration: z.object({
    n: z.number().int().min(2),
    seed: z.number().int().min(0),
    guidance: z.number().min(0),
    grid: z.array(z.number().int().min(1)),
    meanSteps: z.number(),
    /**
     * Calibration images that no count of the grid brought to the adaptive solver's error:
     * counted as needing the grid's largest, so meanSteps and the fit understate them.
     * Absent in files fitted before it was recorded.
     */
    capped: z.number().int().min(0).optional(),
    meanAbsError: z.number(),
    spearman: z.number().nullable(),
    fittedAt: z.string(),
  }),
});
export type StepPredictor = z.infer<typeof stepPredictorSchema>;

/**
 * Per image of `values` (NHWC, [n, H, W, C]): mean, standard deviation, mean gradient
 * magnitude (|dx| + |dy|, a total variation density) and mean |Laplacian| (high frequencies).
 * Content with more edges and texture has larger gradient and Laplacian terms.
 */
export function imageFeatures(values: Float32Array, shape: readonly number[]): number[][] {
  const [n = 0, h = 1, w = 1, c = 1] = shape;
  const per = h * w * c;
  const at = (base: number, y: number, x: number, k: number) =>
    values[base + (y * w + x) * c + k] ?? 0;
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const base = i * per;
    let sum = 0;
    let sq = 0;
    let grad = 0;
    let lap = 0;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++) {
          const v = at(base, y, x, k);
          sum += v;
          sq += v * v;
          if (x + 1 < w) grad += Math.abs(at(base, y, x + 1, k) - v);
          if (y + 1 < h) grad += Math.abs(at(base, y + 1, x, k) - v);
          // The 5-point Laplacian with the edge replicated.
          const l = at(base, y, Math.max(0, x - 1), k) + at(base, y, Math.min(w - 1, x + 1), k);
          const u = at(base, Math.max(0, y - 1), x, k) + at(base, Math.min(h - 1, y + 1), x, k);
          lap += Math.abs(l + u - 4 * v);
        }
    const mean = sum / per;
    out.push([mean, Math.sqrt(Math.max(0, sq / per - mean * mean)), grad / per, lap / per]);
  }
  return out;
}

/** The predictor's feature rows: image features, then class indicators (labels[i] or none). */
export function featureRows(
  image: number[][],
  classes: number,
  labels?: ArrayLike<number>,
): number[][] {
  return image.map((f, i) => {
    const onehot = Array.from({ length: classes }, (_, k) => (labels?.[i] === k ? 1 : 0));
    return [...f, ...onehot];
  });
}

export function featureNames(classes: number): string[] {
  return [...imageFeatureNames, ...Array.from({ length: classes }, (_, k) => `class_${k}`)];
}

/** Solves A x = b for a symmetric positive definite A (Cholesky). */
function solveSpd(a: number[][], b: number[]): number[] {
  const n = b.length;
  const l = a.map(() => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = a[i]?.[j] ?? 0;
      for (let k = 0; k < j; k++) s -= (l[i]?.[k] ?? 0) * (l[j]?.[k] ?? 0);
      const row = l[i] as number[];
      row[j] = i === j ? Math.sqrt(Math.max(s, 1e-12)) : s / (l[j]?.[j] ?? 1);
    }
  const y = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    let s = b[i] ?? 0;
    for (let k = 0; k < i; k++) s -= (l[i]?.[k] ?? 0) * (y[k] ?? 0);
    y[i] = s / (l[i]?.[i] ?? 1);
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i] ?? 0;
    for (let k = i + 1; k < n; k++) s -= (l[k]?.[i] ?? 0) * (x[k] ?? 0);
    x[i] = s / (l[i]?.[i] ?? 1);
  }
  return x;
}

/**
 * Ridge regression of `targets` on standardized `rows` (the intercept unpenalized):
 * minimizes |y - b - Z w|^2 + ridge |w|^2, Z the standardized features. A feature constant
 * over the batch gets scale 1 and so weight 0.
 */
export function fitRidge(rows: number[][], targets: number[], ridge: number) {
  const n = rows.length;
  const d = rows[0]?.length ?? 0;
  if (n < 2) throw new RangeError('a predictor needs at least 2 calibration images');
  const center = Array.from({ length: d }, (_, j) => rows.reduce((s, r) => s + (r[j] ?? 0), 0) / n);
  const scale = center.map((m, j) => {
    const v = rows.reduce((s, r) => s + ((r[j] ?? 0) - m) ** 2, 0) / n;
    return v > 1e-20 ? Math.sqrt(v) : 1;
  });
  const z = rows.map((r) => r.map((v, j) => (v - (center[j] ?? 0)) / (scale[j] ?? 1)));
  const bias = targets.reduce((s, t) => s + t, 0) / n;
  const a = Array.from({ length: d }, (_, i) =>
    Array.from(
      { length: d },
      (_, j) => z.reduce((s, r) => s + (r[i] ?? 0) * (r[j] ?? 0), 0) + (i === j ? ridge : 0),
    ),
  );
  const b = Array.from({ length: d }, (_, i) =>
    z.reduce((s, r, k) => s + (r[i] ?? 0) * ((targets[k] ?? 0) - bias), 0),
  );
  return { center, scale, weights: solveSpd(a, b), bias };
}

/** The raw (unrounded) linear prediction for each feature row. */
export function predictRaw(
  p: Pick<StepPredictor, 'center' | 'scale' | 'weights' | 'bias'>,
  rows: number[][],
): number[] {
  return rows.map(
    (r) =>
      p.bias +
      r.reduce(
        (s, v, j) => s + (p.weights[j] ?? 0) * ((v - (p.center[j] ?? 0)) / (p.scale[j] ?? 1)),
        0,
      ),
  );
}

/** Steps per feature row: the prediction rounded up and clamped to the calibrated range. */
export function predictSteps(p: StepPredictor, rows: number[][]): number[] {
  return predictRaw(p, rows).map((v) =>
    Math.min(p.maxSteps, Math.max(p.minSteps, Math.ceil(Number.isFinite(v) ? v : p.maxSteps))),
  );
}

/** Spearman's rank correlation (average ranks for ties); null when either side is constant. */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  const rank = (v: number[]) => {
    const idx = v.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
    const r = new Array<number>(v.length).fill(0);
    for (let i = 0; i < idx.length; ) {
      let j = i;
      while (j + 1 < idx.length && idx[j + 1]?.[0] === idx[i]?.[0]) j++;
      for (let k = i; k <= j; k++) r[idx[k]?.[1] ?? 0] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const ra = rank(Array.from(a));
  const rb = rank(Array.from(b));
  const n = ra.length;
  const ma = ra.reduce((s, x) => s + x, 0) / n;
  const mb = rb.reduce((s, x) => s + x, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = (ra[i] ?? 0) - ma;
    const y = (rb[i] ?? 0) - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : null;
}

/**
 * Per image, the fewest steps of the grid whose error against the reference is at most the
 * adaptive solver's (`errors[s][i]`: image i at grid step s); the grid's largest when none is.
 */
export function stepsNeeded(grid: number[], errors: number[][], adaptiveError: number[]): number[] {
  return adaptiveError.map(
    (target, i) => firstReaching(grid, errors, i, target) ?? grid[grid.length - 1] ?? 1,
  );
}

/** How many images no count of the grid brought to the target: stepsNeeded capped them at its largest. */
export function cappedCount(grid: number[], errors: number[][], adaptiveError: number[]): number {
  return adaptiveError.filter((target, i) => firstReaching(grid, errors, i, target) === null)
    .length;
}

function firstReaching(
  grid: number[],
  errors: number[][],
  i: number,
  target: number,
): number | null {
  for (const [s, steps] of grid.entries()) if ((errors[s]?.[i] ?? Infinity) <= target) return steps;
  return null;
}

export function readStepPredictor(dir: string): StepPredictor {
  const path = join(dir, STEP_PREDICTOR_FILE);
  if (!existsSync(path))
    throw new AppError(
      'BAD_REQUEST',
      `${path} does not exist: fit one with \`anneal complexity fit --model ${dir}\``,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new AppError('BAD_REQUEST', `${path}: not JSON (${(err as Error).message})`);
  }
  const r = stepPredictorSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new AppError(
      'BAD_REQUEST',
      `${path}: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  const p = r.data;
  const d = p.features.length;
  if (p.center.length !== d || p.scale.length !== d || p.weights.length !== d)
    throw new AppError('BAD_REQUEST', `${path}: center, scale and weights need ${d} entries each`);
  return p;
}

export function writeStepPredictor(dir: string, p: StepPredictor): string {
  const path = join(dir, STEP_PREDICTOR_FILE);
  writeFileAtomic(path, `${JSON.stringify(stepPredictorSchema.parse(p), null, 2)}\n`);
  return path;
}
