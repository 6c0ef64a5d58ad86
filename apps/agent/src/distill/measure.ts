// What `anneal distill` measures of each model (the reference and every student): quality on
// the run's ruler with a bootstrap spread, paired fidelity against the reference's images
// from identical noise, and cost (NFE, latency per image, images/s, peak memory).
import { type Model, memoryStats, resetPeakMemory, type SamplerName } from '@anneal/engine';
import { type FeatureMatrix, pairedFeatureDistance, psnr, ssim } from '@anneal/engine/metrics';
import { bootstrapFd, type FdSpread } from '../quality/bootstrap.ts';
import type { DistributionMetrics } from '../quality/compare.ts';
import { cycledClasses, type QualityRuler, sampleClasses } from '../quality/evaluate.ts';

export interface SamplingGrid {
  sampler: SamplerName;
  /** Decreasing, ending in 0. */
  sigmas: number[];
}

export interface Cost {
  nfe: number;
  latencyMsPerImage: number;
  imagesPerS: number;
  peakMemoryBytes: number;
  parameters: number;
}

export interface Measured extends Cost {
  steps: number;
  metrics: DistributionMetrics;
  fdSpread: FdSpread;
  paired: { psnr: number; ssim: number; featureDistance: number } | null;
}

export interface ReferenceImages {
  images: Uint8Array;
  shape: [number, number, number, number];
}

/** Timed calls per measureCost, after its warm-up. */
export const COST_REPEATS = 3;

/**
 * Latency per image at a fixed batch: one warm-up call (compilation, allocation), then the
 * median of `repeats` timed calls; peak memory over all of them. Wall-clock numbers for the
 * report, never for assertions.
 */
export async function measureCost(
  model: Model,
  grid: SamplingGrid,
  batch: number,
  repeats = COST_REPEATS,
): Promise<Cost> {
  const spec = { sampler: grid.sampler, sigmas: grid.sigmas, n: batch, seed: 1, guidance: 1 };
  resetPeakMemory();
  const warm = await model.sample(spec);
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await model.sample(spec);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)] as number;
  return {
    nfe: warm.nfe,
    latencyMsPerImage: median / batch,
    imagesPerS: (1000 * batch) / median,
    peakMemoryBytes: memoryStats().peakBytes,
    parameters: model.parameterCount(),
  };
}

export interface MeasureOptions {
  ruler: QualityRuler;
  model: Model;
  grid: SamplingGrid;
  n: number;
  seed: number;
  /** The reference's images from the same seed (identical initial noise). */
  reference?: ReferenceImages;
  latencyBatch: number;
  onProgress?: (done: number, total: number) => void;
}

export async function measureModel(o: MeasureOptions): Promise<Measured & ReferenceImages> {
  const generated = await o.model.sample(
    { sampler: o.grid.sampler, sigmas: o.grid.sigmas, n: o.n, seed: o.seed, guidance: 1 },
    o.onProgress,
  );
  const { features, metrics } = await o.ruler.measure(generated.images, generated.shape);
  const fdSpread = stratifiedSpread(o, features.features);
  let paired: Measured['paired'] = null;
  if (o.reference) {
    const fR = await o.ruler.extractor.features(o.reference.images, o.reference.shape);
    const a = { pixels: generated.images, shape: generated.shape };
    const b = { pixels: o.reference.images, shape: o.reference.shape };
    paired = {
      psnr: psnr(a, b),
      ssim: ssim(a, b),
      featureDistance: pairedFeatureDistance(features.features, fR.features),
    };
  }
  const cost = await measureCost(o.model, o.grid, o.latencyBatch);
  return {
    ...cost,
    nfe: generated.nfe,
    steps: generated.steps,
    metrics,
    fdSpread,
    paired,
    images: generated.images,
    shape: generated.shape,
  };
}

/**
 * Quality only (no paired metrics, no cost): a model with a sampler at a step count on its
 * default schedule for that sampler, as `anneal sample --sampler S --steps K` draws it.
 */
export async function measureQuality(o: {
  ruler: QualityRuler;
  model: Model;
  sampler: SamplerName;
  steps: number;
  n: number;
  seed: number;
  onProgress?: (done: number, total: number) => void;
}): Promise<{ nfe: number; metrics: DistributionMetrics; fdSpread: FdSpread }> {
  const generated = await o.model.sample(
    { sampler: o.sampler, steps: o.steps, n: o.n, seed: o.seed, guidance: 1 },
    o.onProgress,
  );
  const { features, metrics } = await o.ruler.measure(generated.images, generated.shape);
  const fdSpread = stratifiedSpread(o, features.features);
  return { nfe: generated.nfe, metrics, fdSpread };
}

/**
 * FD's bootstrap spread resampled within classes, as `anneal eval --spread` does: a
 * class-conditional model's sample i has class i mod K, and the real rows keep their labels.
 * Resampled without strata, class counts wander and FD on a classifier's features follows
 * them (docs/quality.md, "Class counts"): the interval no longer contains the estimate.
 */
function stratifiedSpread(
  o: { ruler: QualityRuler; model: Model; seed: number },
  samples: FeatureMatrix,
): FdSpread {
  const classes = sampleClasses(o.model);
  return bootstrapFd(o.ruler.fA.features, samples, {
    seed: o.seed,
    strata:
      classes !== null
        ? {
            reference: o.ruler.realA.labels,
            candidate: cycledClasses(samples.n, classes),
          }
        : {},
  });
}
