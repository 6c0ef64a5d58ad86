// Does a model reproduce its training images? The check compares two distributions of
// nearest-neighbour distances to the training split: from generated samples, and from
// held-out real images (which the model never saw, so they show how close a new image of
// this dataset typically lands). A model that copies training images puts its samples
// closer than held-out images land (Carlini et al. 2023, "Extracting Training Data from
// Diffusion Models", use the same nearest-neighbour distance in pixel space).
//
// Compared over the whole dataset, the two distributions also differ when a model merely
// favours some kinds of image: a model that draws more of the simple images (one flat shape
// rather than four striped ones) lands closer to the training set without copying anything,
// because simple images lie closer to their neighbours. The verdict therefore compares within
// cells of the data (Meehan, Chaudhuri & Dasgupta 2020, "A Non-Parametric Test to Detect
// Data-Copying in Generative Models": k-means cells of the training set, a rank test per cell,
// the cells' z weighted by how much of the real distribution each holds); the whole-dataset
// test is reported beside it.

import { sampleWithoutReplacement, seededRandom } from '@anneal/engine/metrics';

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
  /** The same test within cells of the data, which decides. */
  cells: CellTest;
  /** The cell test's z > 2.326 (one-sided p < 0.01); the whole-dataset z where no cell scores. */
  memorized: boolean;
}

/** Meehan et al.'s C_T over k-means cells of the training images. */
export interface CellTest {
  /** Cells fitted (k-means on up to KMEANS_FIT training images, fixed seed). */
  k: number;
  /** Cells holding at least MIN_PER_CELL held-out images and MIN_PER_CELL samples: scored. */
  scored: number;
  /** Share of held-out images in the scored cells (the part of the data the verdict covers). */
  heldoutCovered: number;
  /** Share of samples in the scored cells. */
  samplesCovered: number;
  /** C_T: the per-cell rank-test z, weighted by the cell's share of held-out images; null when no cell scores. */
  ct: number | null;
  /** C_T over its spread without copying, sqrt(sum of squared weights): standard normal then. */
  z: number | null;
  perCell: Array<{ heldout: number; samples: number; z: number | null }>;
}

const Z_ONE_PERCENT = 2.326;
/** Fewer than this many of either side in a cell and its rank test is not scored. */
export const MIN_PER_CELL = 20;
/** Cells are sized to hold about this many held-out images each, at most MAX_CELLS of them. */
const HELDOUT_PER_CELL = 50;
const MAX_CELLS = 20;
/** Training images the k-means is fitted on (a seeded draw when there are more). */
const KMEANS_FIT = 5_000;
const KMEANS_ITERATIONS = 30;

/**
 * The nearest-neighbour distance from each query row to the reference rows: RMS over pixels
 * scaled to [0, 1], so 0 is an exact copy and 1 the largest possible difference. Uses
 * ||q - r||^2 = ||q||^2 + ||r||^2 - 2 q.r on the integer pixel values, so every sum is
 * exact (at most dim * 255^2, far below 2^53) and the result does not depend on order.
 */
export function nearestNeighbourDistances(queries: PixelRows, reference: PixelRows): Float64Array {
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
  const qn = norms(queries);
  const rn = norms(reference);
  const q = queries.pixels;
  const r = reference.pixels;
  const out = new Float64Array(queries.count);
  for (let i = 0; i < queries.count; i++) {
    const qo = i * dim;
    let best = Number.POSITIVE_INFINITY;
    for (let j = 0; j < reference.count; j++) {
      const ro = j * dim;
      let dot = 0;
      for (let k = 0; k < dim; k++) dot += (q[qo + k] as number) * (r[ro + k] as number);
      const d2 = (qn[i] as number) + (rn[j] as number) - 2 * dot;
      if (d2 < best) best = d2;
    }
    out[i] = Math.sqrt(Math.max(0, best) / dim) / 255;
  }
  return out;
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
  const ds = nearestNeighbourDistances(samples, train);
  const dh = nearestNeighbourDistances(heldout, train);
  const heldoutSummary = summarize(dh);
  let below = 0;
  for (const d of ds) if (d < heldoutSummary.min) below++;
  const z = mannWhitneyZ(ds, dh);
  const k = Math.max(1, Math.min(MAX_CELLS, Math.floor(heldout.count / HELDOUT_PER_CELL)));
  const centroids = kMeans(train, k, 0);
  const cellCount = centroids.length / train.dim;
  const cells = cellTest(
    ds,
    nearestCentroid(samples, centroids),
    dh,
    nearestCentroid(heldout, centroids),
    cellCount,
  );
  return {
    train: train.count,
    samples: summarize(ds),
    heldout: heldoutSummary,
    samplesBelowHeldoutMin: below,
    z,
    cells,
    memorized: (cells.z ?? z) > Z_ONE_PERCENT,
  };
}

/**
 * C_T (Meehan et al. 2020) from each image's distance and cell: per cell the rank test of
 * samples against held-out images, weighted by the cell's share of held-out images among the
 * scored cells. Per-cell z are independent and standard normal without copying, so C_T over
 * sqrt(sum w^2) is too.
 */
export function cellTest(
  sampleDistances: Float64Array,
  sampleCells: Int32Array,
  heldoutDistances: Float64Array,
  heldoutCells: Int32Array,
  k: number,
): CellTest {
  const split = (d: Float64Array, c: Int32Array) => {
    const out: number[][] = Array.from({ length: k }, () => []);
    for (let i = 0; i < d.length; i++) out[c[i] as number]?.push(d[i] as number);
    return out;
  };
  const bySample = split(sampleDistances, sampleCells);
  const byHeldout = split(heldoutDistances, heldoutCells);
  const perCell = bySample.map((s, cell) => {
    const h = byHeldout[cell] as number[];
    const scored = s.length >= MIN_PER_CELL && h.length >= MIN_PER_CELL;
    return {
      heldout: h.length,
      samples: s.length,
      z: scored ? mannWhitneyZ(Float64Array.from(s), Float64Array.from(h)) : null,
    };
  });
  const scored = perCell.filter((c) => c.z !== null);
  const heldoutScored = scored.reduce((a, c) => a + c.heldout, 0);
  const samplesScored = scored.reduce((a, c) => a + c.samples, 0);
  let ct: number | null = null;
  let zT: number | null = null;
  if (scored.length > 0) {
    let sum = 0;
    let squares = 0;
    for (const c of scored) {
      const w = c.heldout / heldoutScored;
      sum += w * (c.z as number);
      squares += w * w;
    }
    ct = sum;
    zT = sum / Math.sqrt(squares);
  }
  return {
    k,
    scored: scored.length,
    heldoutCovered: heldoutDistances.length ? heldoutScored / heldoutDistances.length : 0,
    samplesCovered: sampleDistances.length ? samplesScored / sampleDistances.length : 0,
    ct,
    z: zT,
    perCell,
  };
}

/** Squared distance from row `i` of `rows` to centroid `c` (pixel units). */
function squaredDistance(rows: PixelRows, i: number, centroids: Float64Array, c: number): number {
  const { dim } = rows;
  let s = 0;
  for (let k = 0; k < dim; k++) {
    const d = (rows.pixels[i * dim + k] as number) - (centroids[c * dim + k] as number);
    s += d * d;
  }
  return s;
}

/** Index of each row's nearest centroid. */
export function nearestCentroid(rows: PixelRows, centroids: Float64Array): Int32Array {
  const k = centroids.length / rows.dim;
  const out = new Int32Array(rows.count);
  for (let i = 0; i < rows.count; i++) {
    let best = Number.POSITIVE_INFINITY;
    for (let c = 0; c < k; c++) {
      const d = squaredDistance(rows, i, centroids, c);
      if (d < best) {
        best = d;
        out[i] = c;
      }
    }
  }
  return out;
}

/**
 * k-means (k-means++ seeding, then Lloyd iterations) on up to KMEANS_FIT of the rows, drawn
 * with `seed`; returns k centroids of `dim` values. An emptied cluster keeps its centroid.
 */
export function kMeans(rows: PixelRows, k: number, seed: number): Float64Array {
  const { dim } = rows;
  const random = seededRandom(seed);
  let fit = rows;
  if (rows.count > KMEANS_FIT) {
    const picked = sampleWithoutReplacement(
      Int32Array.from({ length: rows.count }, (_, i) => i),
      KMEANS_FIT,
      random,
    );
    const pixels = new Uint8Array(KMEANS_FIT * dim);
    picked.forEach((row, i) => {
      pixels.set(rows.pixels.subarray(row * dim, (row + 1) * dim), i * dim);
    });
    fit = { pixels, count: KMEANS_FIT, dim };
  }
  if (fit.count === 0) throw new RangeError('no training images to form cells from');
  const clusters = Math.min(k, fit.count);
  const centroids = new Float64Array(clusters * dim);
  const copy = (row: number, c: number) => {
    for (let d = 0; d < dim; d++) centroids[c * dim + d] = fit.pixels[row * dim + d] as number;
  };
  copy(Math.floor(random() * fit.count), 0);
  const nearest = new Float64Array(fit.count).fill(Number.POSITIVE_INFINITY);
  for (let c = 1; c < clusters; c++) {
    let total = 0;
    for (let i = 0; i < fit.count; i++) {
      nearest[i] = Math.min(nearest[i] as number, squaredDistance(fit, i, centroids, c - 1));
      total += nearest[i] as number;
    }
    // Next centre with probability proportional to its squared distance (k-means++).
    let target = random() * total;
    let row = fit.count - 1;
    for (let i = 0; i < fit.count; i++) {
      target -= nearest[i] as number;
      if (target < 0) {
        row = i;
        break;
      }
    }
    copy(row, c);
  }
  const sums = new Float64Array(clusters * dim);
  const counts = new Int32Array(clusters);
  for (let iter = 0; iter < KMEANS_ITERATIONS; iter++) {
    const assigned = nearestCentroid(fit, centroids);
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < fit.count; i++) {
      const c = assigned[i] as number;
      counts[c] = (counts[c] as number) + 1;
      for (let d = 0; d < dim; d++)
        sums[c * dim + d] = (sums[c * dim + d] as number) + (fit.pixels[i * dim + d] as number);
    }
    let moved = false;
    for (let c = 0; c < clusters; c++) {
      const n = counts[c] as number;
      if (n === 0) continue;
      for (let d = 0; d < dim; d++) {
        const v = (sums[c * dim + d] as number) / n;
        if (v !== centroids[c * dim + d]) moved = true;
        centroids[c * dim + d] = v;
      }
    }
    if (!moved) break;
  }
  return centroids;
}
