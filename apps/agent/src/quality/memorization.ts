// Does a model reproduce its training images? The check compares two distributions of
// nearest-neighbour distances to the training split: from generated samples, and from
// held-out real images (which the model never saw, so they show how close a new image of
// this dataset typically lands). A model that copies training images puts its samples
// closer than held-out images land (Carlini et al. 2023, "Extracting Training Data from
// Diffusion Models", use the same nearest-neighbour distance in pixel space).
//
// Held-out images make a poor yardstick for samples, though: a model whose images are smoother
// than the data (per-pixel noise and fine stripes rendered flatter) lands nearer every real
// image, and one that draws more of the simple images (one flat shape rather than four striped
// ones) lands nearer too, with nothing copied. So the verdict takes the samples as the queries
// on both sides: how near they land to sets of m training images, against how near they land
// to sets of m held-out images. The model has seen the first and not the second; all are
// draws of the same distribution, so without copying every set's mean distance is alike,
// whatever the samples look like. A model that copies lands nearer the sets it trained on.
// The sets' means differ by chance too (which images a set happens to hold), so the test is
// a two-sample t-test over the set means, not over the samples. (Meehan et al. 2020's
// data-copying test takes samples and held-out images as the queries, as the whole-dataset
// test below does.)
//
// A copy lowers only the one set that holds its source, so the set test sees copies once they
// are a sizeable share of the samples. A few copies show in the tail instead, by how much
// nearer a query lands to its nearest training image than to its next ones (a ratio like the
// one Carlini et al. extract training images by, over the mean distance to the 50 nearest).
// Held-out images set
// the yardstick: a sample whose ratio is below every held-out image's is one no unseen image
// matches. Smoothness does not fake it: a sample rendered flatter adds the same removed noise
// to its distance from every training image, which raises the ratio.

import { sampleWithoutReplacement, seededRandom } from '@anneal/engine/metrics';
import { studentTUpperTail } from './student-t.ts';

/** Pixel rows as uint8, one image per row of `dim` values. */
export interface PixelRows {
  pixels: Uint8Array;
  count: number;
  dim: number;
}

export interface DistanceSummary {
  /** RMS per-pixel distance (pixels in [0, 1]) to the nearest training image. */
  min: number;
  p1: number;
  p5: number;
  p25: number;
  median: number;
  mean: number;
}

export interface MemorizationReport {
  /** Training images searched. */
  train: number;
  samples: DistanceSummary;
  heldout: DistanceSummary;
  /** Samples nearer to a training image than the nearest held-out image ever lands. */
  samplesBelowHeldoutMin: number;
  /**
   * One-sided Mann-Whitney U test of "samples land closer than held-out images" over the
   * whole dataset: the normal approximation's z (positive: samples closer).
   */
  z: number;
  /** Do samples land nearer the training images than unseen ones? */
  sets: SetTest;
  /** Are a few samples copies of single training images? */
  copies: CopyTest;
  /** sets.p or copies.p below 0.005 (Bonferroni over the two tests: 1% together). */
  memorized: boolean;
}

export interface CopyTest {
  /** k: a query's nearest distance is divided by the mean distance to its next k. */
  neighbours: number;
  /** Ratios of the samples (0: an exact copy; near 1: no training image stands out). */
  samples: DistanceSummary;
  /** Ratios of the held-out images, which the model never saw. */
  heldout: DistanceSummary;
  /** Samples whose ratio is below every held-out image's. */
  count: number;
  /**
   * A held-out image duplicates a training image (its ratio is 0), so no sample can fall
   * below it: the test cannot see copies on this data.
   */
  blind: boolean;
  /** That count's mean when samples place like held-out images: samples / (held-out + 1). */
  expected: number;
  /**
   * P(count or more) when samples' and held-out images' ratios are exchangeable: the chance
   * that the `count` smallest of all of them are samples.
   */
  p: number;
}

export interface SetTest {
  /** m: images in each reference set. */
  size: number;
  /** Disjoint sets of m held-out images. */
  heldoutSets: number;
  /** Disjoint sets of m training images. */
  trainSets: number;
  /** Mean over samples and training sets of the distance to a set's nearest image. */
  toTrain: number;
  /** The same over the held-out sets. */
  toHeldout: number;
  /** Two-sample t of the set means (held-out minus training), pooled variance: positive, nearer the training sets. */
  t: number;
  dof: number;
  /** One-sided p of t. */
  p: number;
}

/** Each test's level: two tests at 0.005 keep the verdict's false alarms under 1%. */
const P_EACH = 0.005;
/** Neighbours after the nearest that a query's ratio divides by (as Carlini et al.'s 50). */
const COPY_NEIGHBOURS = 50;
/** Held-out images are split into this many sets (m = half of them). */
const HELDOUT_SETS = 2;
/** The most sets of m training images compared. */
const MAX_TRAIN_SETS = 18;

/**
 * The nearest-neighbour distance from each query row to the reference rows: RMS over pixels
 * scaled to [0, 1], so 0 is an exact copy and 1 the largest possible difference. Uses
 * ||q - r||^2 = ||q||^2 + ||r||^2 - 2 q.r on the integer pixel values, so every sum is
 * exact (at most dim * 255^2, far below 2^53) and the result does not depend on order.
 */
export function nearestNeighbourDistances(queries: PixelRows, reference: PixelRows): Float64Array {
  return nearest(queries, reference).all;
}

/**
 * As nearestNeighbourDistances, and in the same pass the nearest within each group of
 * reference rows (`group[j]` in 0..groups-1, or -1 for none): `byGroup[i * groups + g]`,
 * and with `neighbours` k > 0 each query's nearest distance over the mean of its next k
 * (`ratio`; 0 for an exact copy).
 */
function nearest(
  queries: PixelRows,
  reference: PixelRows,
  group?: Int32Array,
  groups = 0,
  neighbours = 0,
): { all: Float64Array; byGroup: Float64Array; ratio: Float64Array } {
  if (queries.dim !== reference.dim)
    throw new RangeError(
      `images differ in size: ${queries.dim} values per query image, ${reference.dim} per reference image`,
    );
  if (reference.count === 0) throw new RangeError('no reference images to search');
  const { dim } = queries;
  const norms = (rows: PixelRows) => {
    const out = new Float64Array(rows.count);
    for (let i = 0; i < rows.count; i++) {
      let s = 0;
      for (let k = i * dim, end = k + dim; k < end; k++) {
        const v = rows.pixels[k] as number;
        s += v * v;
      }
      out[i] = s;
    }
    return out;
  };
  const toDistance = (d2: number) => Math.sqrt(Math.max(0, d2) / dim) / 255;
  const qn = norms(queries);
  const rn = norms(reference);
  const q = queries.pixels;
  const r = reference.pixels;
  const all = new Float64Array(queries.count);
  const byGroup = new Float64Array(queries.count * groups);
  const bestOf = new Float64Array(groups);
  // The nearest neighbours + 1 squared distances so far, ascending.
  const kept = neighbours > 0 ? Math.min(neighbours + 1, reference.count) : 0;
  const top = new Float64Array(kept);
  const ratio = new Float64Array(kept > 1 ? queries.count : 0);
  for (let i = 0; i < queries.count; i++) {
    const qo = i * dim;
    let best = Number.POSITIVE_INFINITY;
    bestOf.fill(Number.POSITIVE_INFINITY);
    top.fill(Number.POSITIVE_INFINITY);
    for (let j = 0; j < reference.count; j++) {
      const ro = j * dim;
      let dot = 0;
      for (let k = 0; k < dim; k++) dot += (q[qo + k] as number) * (r[ro + k] as number);
      const d2 = (qn[i] as number) + (rn[j] as number) - 2 * dot;
      if (d2 < best) best = d2;
      const g = group ? (group[j] as number) : -1;
      if (g >= 0 && d2 < (bestOf[g] as number)) bestOf[g] = d2;
      if (kept > 0 && d2 < (top[kept - 1] as number)) {
        let at = kept - 1;
        while (at > 0 && (top[at - 1] as number) > d2) {
          top[at] = top[at - 1] as number;
          at--;
        }
        top[at] = d2;
      }
    }
    all[i] = toDistance(best);
    for (let g = 0; g < groups; g++) byGroup[i * groups + g] = toDistance(bestOf[g] as number);
    if (kept > 1) {
      let next = 0;
      for (let k = 1; k < kept; k++) next += toDistance(top[k] as number);
      next /= kept - 1;
      const first = toDistance(top[0] as number);
      ratio[i] = first === 0 ? 0 : first / next;
    }
  }
  return { all, byGroup, ratio };
}

function quantile(sorted: Float64Array, q: number): number {
  // Linear interpolation between order statistics (NumPy's default).
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
}

export function summarize(distances: Float64Array): DistanceSummary {
  if (distances.length === 0) throw new RangeError('no distances to summarize');
  const sorted = Float64Array.from(distances).sort();
  let sum = 0;
  for (const d of sorted) sum += d;
  return {
    min: sorted[0] as number,
    p1: quantile(sorted, 0.01),
    p5: quantile(sorted, 0.05),
    p25: quantile(sorted, 0.25),
    median: quantile(sorted, 0.5),
    mean: sum / sorted.length,
  };
}

/**
 * z of the one-sided Mann-Whitney U test that `a` tends to be smaller than `b`, with ties
 * counted half and the tie-corrected variance.
 */
export function mannWhitneyZ(a: Float64Array, b: Float64Array): number {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new RangeError('both samples need at least one value');
  const all = [
    ...Array.from(a, (v) => ({ v, fromA: true })),
    ...Array.from(b, (v) => ({ v, fromA: false })),
  ].sort((x, y) => x.v - y.v);
  const n = n1 + n2;
  let rankSumA = 0;
  let tieTerm = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && all[j + 1]?.v === all[i]?.v) j++;
    const rank = (i + j + 2) / 2; // mean of ranks i+1 .. j+1
    const t = j - i + 1;
    tieTerm += t * t * t - t;
    for (let k = i; k <= j; k++) if (all[k]?.fromA) rankSumA += rank;
    i = j + 1;
  }
  // U_A counts pairs where a > b; small U_A means a tends to be smaller.
  const uA = rankSumA - (n1 * (n1 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (variance === 0) return 0;
  return (mean - uA) / Math.sqrt(variance);
}

/** Nearest-neighbour distances of samples and of held-out images to the training split. */
export function memorizationCheck(
  samples: PixelRows,
  heldout: PixelRows,
  train: PixelRows,
): MemorizationReport {
  const { sets, samplesToTrain } = setTest(samples, heldout, train, 0);
  const ds = samplesToTrain.all;
  const fromHeldout = nearest(heldout, train, undefined, 0, COPY_NEIGHBOURS);
  const dh = fromHeldout.all;
  const heldoutSummary = summarize(dh);
  let below = 0;
  for (const d of ds) if (d < heldoutSummary.min) below++;
  const copies = copyTest(
    samplesToTrain.ratio,
    fromHeldout.ratio,
    Math.min(COPY_NEIGHBOURS, train.count - 1),
  );
  return {
    train: train.count,
    samples: summarize(ds),
    heldout: heldoutSummary,
    samplesBelowHeldoutMin: below,
    z: mannWhitneyZ(ds, dh),
    sets,
    copies,
    memorized: sets.p < P_EACH || copies.p < P_EACH,
  };
}

/**
 * Samples whose nearest-over-next ratio is below every held-out image's. If samples and
 * held-out images were alike (exchangeable) in their ratios, the chance that the c smallest
 * of all S + H ratios are samples is prod_{i<c} (S - i) / (S + H - i): the one-sided p.
 */
function copyTest(
  sampleRatios: Float64Array,
  heldoutRatios: Float64Array,
  neighbours: number,
): CopyTest {
  if (sampleRatios.length === 0 || heldoutRatios.length === 0)
    throw new RangeError(
      'the copy test needs at least 2 training images to divide by the next nearest',
    );
  const heldout = summarize(heldoutRatios);
  const s = sampleRatios.length;
  const h = heldoutRatios.length;
  let count = 0;
  for (const v of sampleRatios) if (v < heldout.min) count++;
  let p = 1;
  for (let i = 0; i < count; i++) p *= (s - i) / (s + h - i);
  return {
    neighbours,
    samples: summarize(sampleRatios),
    heldout,
    count,
    blind: heldout.min === 0,
    expected: s / (h + 1),
    p,
  };
}

/**
 * The samples' mean distance to the nearest image of each of HELDOUT_SETS disjoint sets of m
 * held-out images (m = half of them, or less where training is small) and of up to
 * MAX_TRAIN_SETS disjoint seeded sets of m training images, compared by a pooled two-sample
 * t-test (the set means are means over all samples, near normal). Also returns each
 * sample's distance to the nearest of all training images and its nearest-over-next ratio,
 * from the same pass.
 */
function setTest(
  samples: PixelRows,
  heldout: PixelRows,
  train: PixelRows,
  seed: number,
): { sets: SetTest; samplesToTrain: { all: Float64Array; ratio: Float64Array } } {
  if (samples.count < 1) throw new RangeError('no samples to check');
  const random = seededRandom(seed);
  const size = Math.min(Math.floor(heldout.count / HELDOUT_SETS), Math.floor(train.count / 2));
  if (size < 1)
    throw new RangeError(
      `the memorization check needs at least ${HELDOUT_SETS} held-out and 2 training images`,
    );
  const trainSets = Math.min(MAX_TRAIN_SETS, Math.floor(train.count / size));
  const setsOf = (count: number, sets: number) => {
    const group = new Int32Array(count).fill(-1);
    const order = Int32Array.from({ length: count }, (_, i) => i);
    sampleWithoutReplacement(order, sets * size, random).forEach((row, i) => {
      group[row] = Math.floor(i / size);
    });
    return group;
  };
  const toTrain = nearest(
    samples,
    train,
    setsOf(train.count, trainSets),
    trainSets,
    COPY_NEIGHBOURS,
  );
  const toHeldout = nearest(samples, heldout, setsOf(heldout.count, HELDOUT_SETS), HELDOUT_SETS);
  const means = (byGroup: Float64Array, sets: number) =>
    Array.from({ length: sets }, (_, g) => {
      let sum = 0;
      for (let i = 0; i < samples.count; i++) sum += byGroup[i * sets + g] as number;
      return sum / samples.count;
    });
  const a = means(toHeldout.byGroup, HELDOUT_SETS);
  const b = means(toTrain.byGroup, trainSets);
  const { t, dof } = pooledT(a, b);
  return {
    sets: {
      size,
      heldoutSets: HELDOUT_SETS,
      trainSets,
      toTrain: mean(b),
      toHeldout: mean(a),
      t,
      dof,
      p: studentTUpperTail(t, dof),
    },
    samplesToTrain: toTrain,
  };
}

const mean = (x: readonly number[]) => x.reduce((s, v) => s + v, 0) / x.length;

/** Two-sample t of mean(a) - mean(b) with pooled variance; 0 when neither varies nor differs. */
function pooledT(a: readonly number[], b: readonly number[]): { t: number; dof: number } {
  const dof = a.length + b.length - 2;
  if (dof < 1) throw new RangeError('the t-test needs at least 3 sets');
  const ma = mean(a);
  const mb = mean(b);
  let ss = 0;
  for (const v of a) ss += (v - ma) ** 2;
  for (const v of b) ss += (v - mb) ** 2;
  const se = Math.sqrt((ss / dof) * (1 / a.length + 1 / b.length));
  if (se === 0) return { t: ma === mb ? 0 : Math.sign(ma - mb) * Number.POSITIVE_INFINITY, dof };
  return { t: (ma - mb) / se, dof };
}
