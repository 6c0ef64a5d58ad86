// `anneal eval`'s measurement: sample a model, embed samples and real images with the
// dataset's extractor, and report each metric beside its floor (the same metric between two
// disjoint real splits of the same size), as DESIGN.md section 4 asks of every report.
import { join } from 'node:path';
import { resolveAnnealHome } from '@anneal/core/home';
import { type ImageBatch, selectImages } from '@anneal/datasets/images';
import {
  type AttentionExec,
  defaultExtractor,
  type ExtractorSource,
  FeatureExtractor,
  type Features,
  type Model,
  nfeStats,
  resolveMemoryBudget,
  type SamplerName,
  sampleResumable,
} from '@anneal/engine';
import {
  classAccuracy,
  type FeatureMatrix,
  pairedFeatureDistance,
  psnr,
  ssim,
} from '@anneal/engine/metrics';
import type { LocalDataset } from '../dataset.ts';
import { bootstrapFd, type FdSpread } from './bootstrap.ts';
import { compareFeatures, type DistributionMetrics } from './compare.ts';
import { pickIndices, pickStratified, readSplit, shapeOf, stratifiable } from './images.ts';
import { type MemorizationReport, memorizationCheck } from './memorization.ts';

export interface SamplingSpec {
  sampler: SamplerName;
  steps: number;
  /** The schedule kind (default | uniform | karras | exponential; others arrive as `sigmas`). */
  schedule?: string;
  /** Start the schedule at this sigma instead of the model's largest. */
  sigmaMax?: number;
  /** An explicit sigma list (a distilled student's grid) instead of a schedule. */
  sigmas?: number[];
  /** The adaptive sampler's tolerances (absent: the engine's). */
  rtol?: number;
  atol?: number;
}

export interface EvalOptions {
  model: Model;
  dataset: LocalDataset;
  n: number;
  sampling: SamplingSpec;
  reference?: SamplingSpec;
  seed: number;
  guidance: number;
  home?: string;
  /** Overrides of the dataset's default extractor (a different one is a different cache key). */
  extractor?: { steps?: number; width?: number };
  /**
   * Bootstrap resamples behind FD's spread (0 or absent: none). Each costs two FDs, about
   * 0.15 s apiece on the 128-dimensional features here, whatever n.
   */
  spread?: number;
  /** Also compare nearest-neighbour distances to the training split (samples vs held-out). */
  memorization?: boolean;
  /** Return the features FD compared (`EvalReport.features`), for paired comparisons later. */
  keepFeatures?: boolean;
  /**
   * Keep the samples chunk by chunk in HOME/samples (sampleResumable), so a stopped evaluation
   * goes on where it stopped and an evaluation run again reads them: for a model loaded from
   * its folder and a fixed-step sampler (the adaptive one samples in one call).
   */
  resumable?: boolean;
  /** Where resumable runs keep their chunks (default HOME/samples). */
  samplesDir?: string;
  /**
   * Resumable runs only: asked before each chunk; true stops the evaluation with
   * SamplingStopped (from @anneal/engine), the chunks drawn so far kept.
   */
  stopRequested?: () => boolean;
  /**
   * Phases: 'extractor' (training, if not cached), 'sample', 'scoring' (features and
   * metrics of the samples), 'reference', 'memorization'.
   */
  onProgress?: (phase: string, done: number, total: number) => void;
  /** The generated samples (uint8 NHWC), once sampled: for a grid of what was scored. */
  onSamples?: (images: Uint8Array, shape: readonly [number, number, number, number]) => void;
}

export interface EvalReport {
  n: number;
  nfe: number;
  steps: number;
  /** The adaptive sampler: network evaluations per image. */
  nfePerImage?: { mean: number; min: number; max: number };
  extractor: {
    id: string;
    kind: string;
    heldoutAccuracy: number | null;
    cached: boolean;
    /** shipped with the project, ANNEAL_HOME's cache, or trained by this evaluation. */
    source: ExtractorSource;
    /** The weights' sha256: FDs are comparable when it matches (the id names the recipe). */
    weightsSha256: string;
  };
  metrics: DistributionMetrics;
  floor: DistributionMetrics;
  /**
   * With `spread`: FD's spread from sampling alone (bootstrap over the samples and the
   * held-out set), and the floor's (over both real sets): how far a rerun with other noise and
   * other real images would move each number.
   */
  fdSpread?: { model: FdSpread; floor: FdSpread };
  /** How the real sets were drawn (see RealSets). */
  realSets: RealSets;
  /** Class-conditional models: extractor accuracy on samples vs the requested classes. */
  accuracy?: { samples: number; floor: number };
  paired?: {
    psnr: number;
    ssim: number;
    featureDistance: number;
    /** Mean distance between features of two disjoint real sets: the scale of "different images". */
    floorFeatureDistance: number;
    reference: SamplingSpec & { nfe: number };
  };
  memorization?: MemorizationReport;
  /** How the samples' softmax attention executed: fused, or sliced when fused would not fit. */
  attention: AttentionExec;
  /**
   * With `keepFeatures`: the real set's features and the samples', and each row's class (for
   * resampling within classes; absent: unconditional). Evaluations of several models with one
   * seed and n share the real set and, row by row, the noise and class: they pair.
   */
  features?: {
    real: FeatureMatrix;
    generated: FeatureMatrix;
    strata: { reference?: ArrayLike<number>; candidate?: ArrayLike<number> };
  };
}

/**
 * How a ruler's two real sets are drawn. A class-conditional model's samples come in a fixed
 * layout (sample i has class i mod K), so its class counts are fixed; a random real set's
 * wander, and FD on a classifier's features follows them. The training set B, the floor's
 * stand-in for a perfect model's samples, is therefore drawn in the samples' layout, and the
 * held-out set A too where its split holds n/K images of every class.
 * - 'class-stratified': both sets in the samples' layout.
 * - 'train-stratified': B in the samples' layout; A at random, since the held-out split has too
 *   few images of some class (at n = 1000 of MNIST, A is the whole split: 93 zeros).
 * - 'random': both at random (an unconditional model, whose samples' classes are as random).
 * Measured on the MNIST ruler at n = 500 over eight draws (bench/teachers/real-sets.ts): random
 * floors spread over 0.50-2.19, class-stratified ones over 0.13-0.23; and a class-balanced real
 * set against random held-out draws sat at 0.19-1.18, below most random floors, as the reference
 * teacher's samples did.
 */
export type RealSets = 'random' | 'train-stratified' | 'class-stratified';

/** The classes a model's samples cycle through (sample i has class i mod K); null: unconditional. */
/** The classes a class-conditional model's n samples were drawn for: sample i has class i mod K. */
export function cycledClasses(n: number, classes: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i % classes);
}

export function sampleClasses(model: Model): number | null {
  const k = model.config.dataset?.num_classes ?? 0;
  return k > 0 ? k : null;
}

export interface RulerOptions {
  dataset: LocalDataset;
  n: number;
  /** Picks the real subsets. */
  seed: number;
  /**
   * The classes the measured samples cycle through (`sampleClasses(model)`): both real sets are
   * then class-stratified in the same layout. Null or absent: random real sets.
   */
  classes?: number | null;
  home?: string;
  extractor?: EvalOptions['extractor'];
  onProgress?: (phase: string, done: number, total: number) => void;
}

/**
 * The ruler every quality number is read on: the dataset's extractor (trained once, cached),
 * n held-out real images (A) and n training images (B) embedded, and the floor (A vs B).
 */
export interface QualityRuler {
  extractor: FeatureExtractor;
  n: number;
  realA: ImageBatch;
  realB: ImageBatch;
  fA: Features;
  fB: Features;
  floor: DistributionMetrics;
  realSets: RealSets;
  /** Embeds a sample set; its metrics are against real set A. */
  measure(
    images: Uint8Array,
    shape: [number, number, number, number],
  ): Promise<{ features: Features; metrics: DistributionMetrics }>;
}

export async function qualityRuler(o: RulerOptions): Promise<QualityRuler> {
  const { dataset, n } = o;
  const spec = defaultExtractor({
    resolution: dataset.resolution,
    width: dataset.width,
    channels: dataset.channels,
    numClasses: dataset.classes.length,
  });
  if (o.extractor?.steps) spec.training.steps = o.extractor.steps;
  if (o.extractor?.width) {
    const w = o.extractor.width;
    spec.config.channels = [w, 2 * w, 4 * w];
  }
  // Check n against the real splits before anything expensive (training an extractor).
  const [train, heldout] = await Promise.all([
    readSplit(dataset.train),
    readSplit(dataset.heldout),
  ]);
  if (n > heldout.count || n > train.count)
    throw new RangeError(
      `n = ${n} exceeds the real splits (held-out ${heldout.count}, train ${train.count}); the floor needs n real images of each`,
    );
  const extractor = await FeatureExtractor.obtain({
    // A bucket's images are a part of the version: their own extractor.
    datasetHash: dataset.bucket ? `${dataset.hash}/${dataset.bucket}` : dataset.hash,
    trainShards: dataset.train,
    heldoutShards: dataset.heldout,
    ...spec,
    home: o.home,
    onProgress: (step, total) => o.onProgress?.('extractor', step, total),
  });
  const classes = o.classes ?? null;
  const stratifyB = classes !== null && stratifiable(train.labels, classes, n);
  const stratifyA = stratifyB && stratifiable(heldout.labels, classes, n);
  const pick = (split: ImageBatch, stratify: boolean, seed: number) =>
    stratify && classes !== null
      ? pickStratified(split.labels, classes, n, seed)
      : pickIndices(split.count, n, seed);
  const realA = selectImages(heldout, pick(heldout, stratifyA, o.seed));
  const realB = selectImages(train, pick(train, stratifyB, o.seed + 1));
  const fA = await extractor.features(realA.images, shapeOf(realA));
  const fB = await extractor.features(realB.images, shapeOf(realB));
  return {
    extractor,
    n,
    realA,
    realB,
    fA,
    fB,
    floor: compareFeatures(fA.features, fB.features, { seed: o.seed }),
    realSets: stratifyA ? 'class-stratified' : stratifyB ? 'train-stratified' : 'random',
    async measure(images, shape) {
      const features = await extractor.features(images, shape);
      return {
        features,
        metrics: compareFeatures(fA.features, features.features, { seed: o.seed }),
      };
    },
  };
}

export async function evaluateModel(o: EvalOptions): Promise<EvalReport> {
  const { n } = o;
  const classes = sampleClasses(o.model);
  const ruler = await qualityRuler({ ...o, classes });
  const { extractor, realA, fA, fB } = ruler;

  // A bucket of other sides than the model's square samples at the bucket's sides.
  const sides =
    o.dataset.width !== undefined ? { height: o.dataset.resolution, width: o.dataset.width } : {};
  const sample = async (s: SamplingSpec, phase: string) => {
    const spec = {
      ...sides,
      sampler: s.sampler,
      steps: s.steps,
      schedule: s.schedule,
      sigma_max: s.sigmaMax,
      sigmas: s.sigmas,
      rtol: s.rtol,
      atol: s.atol,
      n,
      seed: o.seed,
      guidance: o.guidance,
      budget: resolveMemoryBudget(),
    };
    const onStep = (step: number, total: number) => o.onProgress?.(phase, step, total);
    if (o.resumable && o.model.dir && s.sampler !== 'adaptive') {
      const root = o.samplesDir ?? join(o.home ?? resolveAnnealHome(), 'samples');
      return sampleResumable(o.model, spec, { root, onStep, stopRequested: o.stopRequested });
    }
    return o.model.sample(spec, onStep);
  };
  // The engine cycles through the classes when no class is given: sample i has class i mod K.
  const requested = classes !== null ? cycledClasses(n, classes) : undefined;
  // Rows resampled within their class (bootstrap.ts): the real set's and the samples'.
  const strata = classes !== null ? { reference: realA.labels, candidate: requested } : {};
  const generated = await sample(o.sampling, 'sample');
  o.onSamples?.(generated.images, generated.shape);
  o.onProgress?.('scoring', 0, 1);
  const { features: fG, metrics } = await ruler.measure(generated.images, generated.shape);
  o.onProgress?.('scoring', 1, 1);

  const report: EvalReport = {
    n,
    nfe: generated.nfe,
    steps: generated.steps,
    ...('nfePerImage' in generated && generated.nfePerImage
      ? { nfePerImage: nfeStats(generated.nfePerImage) }
      : {}),
    extractor: {
      id: extractor.id,
      kind: extractor.metadata.config.kind,
      heldoutAccuracy: extractor.metadata.heldoutAccuracy,
      cached: extractor.cached,
      source: extractor.source,
      weightsSha256: extractor.weightsSha256,
    },
    metrics,
    floor: ruler.floor,
    ...(o.spread
      ? {
          fdSpread: {
            model: bootstrapFd(fA.features, fG.features, {
              seed: o.seed,
              resamples: o.spread,
              strata,
            }),
            floor: bootstrapFd(fA.features, fB.features, {
              seed: o.seed,
              resamples: o.spread,
              strata:
                classes !== null ? { reference: realA.labels, candidate: ruler.realB.labels } : {},
            }),
          },
        }
      : {}),
    realSets: ruler.realSets,
    attention: generated.attention,
    ...(o.keepFeatures
      ? {
          features: {
            real: fA.features,
            generated: fG.features,
            strata,
          },
        }
      : {}),
  };
  if (classes !== null && fG.classes > 0) {
    report.accuracy = {
      samples: classAccuracy(fG.logits, fG.classes, requested as Int32Array),
      floor: classAccuracy(fA.logits, fA.classes, realA.labels),
    };
  }
  if (o.reference) {
    // Same seed, so both sets start from identical noise: differences are the sampler's.
    const ref = await sample(o.reference, 'reference');
    const fR = await extractor.features(ref.images, ref.shape);
    const a = { pixels: generated.images, shape: generated.shape };
    const b = { pixels: ref.images, shape: ref.shape };
    report.paired = {
      psnr: psnr(a, b),
      ssim: ssim(a, b),
      featureDistance: pairedFeatureDistance(fG.features, fR.features),
      floorFeatureDistance: pairedFeatureDistance(fA.features, fB.features),
      reference: { ...o.reference, nfe: ref.nfe },
    };
  }
  if (o.memorization) {
    o.onProgress?.('memorization', 0, 1);
    // The whole held-out split, as drawn: the set test needs held-out images distributed as
    // the training split is, which the class-stratified real set FD reads is not.
    const [train, heldout] = await Promise.all([
      readSplit(o.dataset.train),
      readSplit(o.dataset.heldout),
    ]);
    const dim = realA.height * realA.width * realA.channels;
    report.memorization = memorizationCheck(
      { pixels: generated.images, count: n, dim },
      { pixels: heldout.images, count: heldout.count, dim },
      { pixels: train.images, count: train.count, dim },
    );
    o.onProgress?.('memorization', 1, 1);
  }
  return report;
}
