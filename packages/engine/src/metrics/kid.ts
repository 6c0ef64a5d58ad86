// Kernel Inception Distance: the unbiased estimator of the squared MMD with the cubic
// polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets (Bińkowski et
// al. 2018, "Demystifying MMD GANs", section 4 and appendix).
import { type FeatureMatrix, selectRows } from './linalg.ts';
import { canonicalOrder, sampleWithoutReplacement, seededRandom } from './order.ts';

export interface KidOptions {
  /** Number of random subsets averaged (default 10). */
  subsets?: number;
  /** Rows per subset (default min(1000, both sizes)). */
  subsetSize?: number;
  seed?: number;
}

export interface KidResult {
  mean: number;
  std: number;
  subsets: number;
  subsetSize: number;
}

function kernelSum(a: FeatureMatrix, b: FeatureMatrix, excludeDiagonal: boolean): number {
  const d = a.dim;
  let sum = 0;
  for (let i = 0; i < a.n; i++) {
    for (let j = 0; j < b.n; j++) {
      if (excludeDiagonal && i === j) continue;
      let dot = 0;
      for (let k = 0; k < d; k++)
        dot += (a.data[i * d + k] as number) * (b.data[j * d + k] as number);
      sum += (dot / d + 1) ** 3;
    }
  }
  return sum;
}

/** Unbiased MMD^2 between two equal-sized sets: within-set sums skip i == j. */
export function mmdUnbiased(x: FeatureMatrix, y: FeatureMatrix): number {
  const m = x.n;
  const n = y.n;
  if (m < 2 || n < 2) throw new RangeError('KID needs at least 2 samples per set');
  return (
    kernelSum(x, x, true) / (m * (m - 1)) +
    kernelSum(y, y, true) / (n * (n - 1)) -
    (2 * kernelSum(x, y, false)) / (m * n)
  );
}

export function kernelInceptionDistance(
  x: FeatureMatrix,
  y: FeatureMatrix,
  options: KidOptions = {},
): KidResult {
  if (x.dim !== y.dim) throw new RangeError(`KID: feature dims differ (${x.dim} vs ${y.dim})`);
  const subsets = options.subsets ?? 10;
  const size = options.subsetSize ?? Math.min(1000, x.n, y.n);
  if (size < 2 || size > x.n || size > y.n)
    throw new RangeError(`KID: subset size ${size} must be in 2..min(${x.n}, ${y.n})`);
  const random = seededRandom(options.seed ?? 0);
  const ox = canonicalOrder(x);
  const oy = canonicalOrder(y);
  const values: number[] = [];
  for (let s = 0; s < subsets; s++) {
    const xs = selectRows(x, sampleWithoutReplacement(ox, size, random));
    const ys = selectRows(y, sampleWithoutReplacement(oy, size, random));
    values.push(mmdUnbiased(xs, ys));
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance =
    values.length > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, std: Math.sqrt(variance), subsets, subsetSize: size };
}
