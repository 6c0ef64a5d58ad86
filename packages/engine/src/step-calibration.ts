// Fitting the step predictor on a model's own samples, and using it for a request
// (issue 13 §2; the predictor itself is step-predictor.ts).
import { DEFAULT_ADAPTIVE_TOLERANCES, type SamplerName } from './config/training.ts';
import type { Model } from './model.ts';
import {
  cappedCount,
  featureNames,
  featureRows,
  fitRidge,
  imageFeatures,
  predictRaw,
  predictSteps,
  type StepPredictor,
  spearman,
  stepsNeeded,
} from './step-predictor.ts';

export interface CalibrateOptions {
  n: number;
  seed: number;
  /** The fixed-step sampler whose steps are predicted (default dpmpp-2m). */
  sampler?: SamplerName;
  /** The adaptive tolerances to match (default: the engine's). */
  rtol?: number;
  atol?: number;
  /** Step counts tried per image (ascending). */
  grid?: number[];
  /** Steps of the fixed sampler for the reference solution (the ODE's endpoint). */
  referenceSteps?: number;
  guidance?: number;
  ridge?: number;
  onProgress?: (done: number, total: number) => void;
}

export const DEFAULT_STEP_GRID = [4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50];

/** RMS difference per image between two NHWC batches of the same shape. */
export function rmsPerImage(a: Float32Array, b: Float32Array, n: number): number[] {
  const per = a.length / n;
  return Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let k = i * per; k < (i + 1) * per; k++) s += ((a[k] ?? 0) - (b[k] ?? 0)) ** 2;
    return Math.sqrt(s / per);
  });
}

/** The class of image i when sampling cycles through the classes (GenerateSpec class_label -1). */
export function cycledLabels(n: number, classes: number, fixed?: number): number[] | undefined {
  if (classes === 0) return undefined;
  return Array.from({ length: n }, (_, i) => fixed ?? i % classes);
}

export function classCount(model: Model): number {
  const k = model.config.unet.num_class_embeds ?? 0;
  return k > 0 ? k - 1 : 0; // the last embedding is the null class
}

/**
 * Fits a predictor on a calibration batch: per image, the first denoised estimate (one Euler
 * step from sigma_max to 0 is exactly D(x_T; sigma_max)), the adaptive solver's result and a
 * reference solution of the same noise (the fixed sampler at referenceSteps); the target is
 * the fewest grid steps of the fixed sampler whose error against the reference is at most the
 * adaptive solver's.
 */
export async function calibrateStepPredictor(model: Model, o: CalibrateOptions) {
  const sampler = o.sampler ?? 'dpmpp-2m';
  const grid = [...(o.grid ?? DEFAULT_STEP_GRID)].sort((a, b) => a - b);
  const rtol = o.rtol ?? DEFAULT_ADAPTIVE_TOLERANCES.rtol;
  const atol = o.atol ?? DEFAULT_ADAPTIVE_TOLERANCES.atol;
  const guidance = o.guidance ?? 1;
  const classes = classCount(model);
  const total = 3 + grid.length;
  let done = 0;
  const tick = () => o.onProgress?.(++done, total);
  const common = { n: o.n, seed: o.seed, guidance, returnValues: true } as const;
  const first = await model.sample({ ...common, sampler: 'euler', steps: 1 });
  tick();
  const adaptive = await model.sample({ ...common, sampler: 'adaptive', rtol, atol });
  tick();
  const reference = await model.sample({ ...common, sampler, steps: o.referenceSteps ?? 100 });
  tick();
  const ref = reference.values as Float32Array;
  const adaptiveError = rmsPerImage(adaptive.values as Float32Array, ref, o.n);
  const errors: number[][] = [];
  for (const steps of grid) {
    const r = await model.sample({ ...common, sampler, steps });
    errors.push(rmsPerImage(r.values as Float32Array, ref, o.n));
    tick();
  }
  const needed = stepsNeeded(grid, errors, adaptiveError);
  const capped = cappedCount(grid, errors, adaptiveError);
  const rows = featureRows(
    imageFeatures(first.values as Float32Array, first.shape),
    classes,
    cycledLabels(o.n, classes),
  );
  const ridge = o.ridge ?? 1;
  const fit = fitRidge(rows, needed, ridge);
  // Leave-one-out predictions: with a dozen features on a calibration batch of tens of images
  // an in-sample fit says little.
  const raw = rows.map((row, i) => {
    const rest = rows.filter((_, k) => k !== i);
    const f = fitRidge(
      rest,
      needed.filter((_, k) => k !== i),
      ridge,
    );
    return predictRaw(f, [row])[0] ?? 0;
  });
  const predictor: StepPredictor = {
    version: 1,
    sampler,
    rtol,
    atol,
    features: featureNames(classes),
    ...fit,
    ridge,
    minSteps: grid[0] ?? 1,
    maxSteps: grid[grid.length - 1] ?? 1,
    calibration: {
      n: o.n,
      seed: o.seed,
      guidance,
      grid,
      meanSteps: needed.reduce((s, v) => s + v, 0) / o.n,
      capped,
      meanAbsError: raw.reduce((s, v, i) => s + Math.abs(v - (needed[i] ?? 0)), 0) / o.n,
      spearman: spearman(raw, needed),
      fittedAt: new Date().toISOString(),
    },
  };
  return {
    predictor,
    needed,
    predicted: predictSteps(predictor, rows),
    adaptiveNfe: Array.from(adaptive.nfePerImage ?? []),
    adaptiveError,
  };
}

/**
 * The steps a request needs by the predictor: one evaluation for D(x_T; sigma_max) of each of
 * its images (same seed, so the same x_T the sampling will start from), then the largest
 * per-image prediction, so every image of the request is predicted to reach the accuracy.
 */
export async function predictRequestSteps(
  model: Model,
  p: StepPredictor,
  req: { n: number; seed: number; class?: number; guidance?: number },
) {
  const first = await model.sample({
    sampler: 'euler',
    steps: 1,
    n: req.n,
    seed: req.seed,
    class: req.class,
    guidance: req.guidance,
    returnValues: true,
  });
  const classes = classCount(model);
  const rows = featureRows(
    imageFeatures(first.values as Float32Array, first.shape),
    classes,
    cycledLabels(req.n, classes, req.class),
  );
  const perImage = predictSteps(p, rows);
  // The tolerances the predicted steps were matched to, for the caller to print beside them.
  return { steps: Math.max(...perImage), perImage, nfe: first.nfe, rtol: p.rtol, atol: p.atol };
}
