// Does a model reproduce its training images? The check compares two distributions of
// nearest-neighbour distances to the training split: from generated samples, and from
// held-out real images (which the model never saw, so they show how close a new image of
// this dataset typically lands). A model that copies training images puts its samples
// closer than held-out images land (Carlini et al. 2023, "Extracting Training Data from
// Diffusion Models", use the same nearest-neighbour distance in pixel space).

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
   * One-sided Mann-Whitney U test of "samples land closer than held-out images": the
   * normal approximation's z (positive: samples closer). Memorization is reported when
   * z > 2.326 (p < 0.01).
   */
  z: number;
  memorized: boolean;
}

const Z_ONE_PERCENT = 2.326;

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
  return {
    train: train.count,
    samples: summarize(ds),
    heldout: heldoutSummary,
    samplesBelowHeldoutMin: below,
    z,
    memorized: z > Z_ONE_PERCENT,
  };
}
