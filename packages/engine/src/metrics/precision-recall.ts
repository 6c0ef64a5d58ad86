// Improved precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and Recall
// Metric for Assessing Generative Models", section 2): each set's manifold is the union of
// balls around its points with radius the distance to the k-th nearest neighbour (k = 3);
// precision is the fraction of generated samples inside the real manifold, recall the
// fraction of real samples inside the generated one.
import type { FeatureMatrix } from './linalg.ts';

function squaredDistances(a: FeatureMatrix, b: FeatureMatrix): Float64Array {
  const d = a.dim;
  const out = new Float64Array(a.n * b.n);
  for (let i = 0; i < a.n; i++) {
    for (let j = 0; j < b.n; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) {
        const diff = (a.data[i * d + k] as number) - (b.data[j * d + k] as number);
        s += diff * diff;
      }
      out[i * b.n + j] = s;
    }
  }
  return out;
}

/** Squared radius of each point's ball: distance to its k-th nearest other point. */
export function kthNeighbourRadii(x: FeatureMatrix, k: number): Float64Array {
  if (k < 1 || k >= x.n) throw new RangeError(`k = ${k} needs 1 <= k < n (n = ${x.n})`);
  const dist = squaredDistances(x, x);
  const radii = new Float64Array(x.n);
  const row = new Float64Array(x.n - 1);
  for (let i = 0; i < x.n; i++) {
    let c = 0;
    for (let j = 0; j < x.n; j++) if (j !== i) row[c++] = dist[i * x.n + j] as number;
    row.sort();
    radii[i] = row[k - 1] as number;
  }
  return radii;
}

/** Fraction of `queries` inside the manifold of `support` (balls with the given radii). */
function coverage(support: FeatureMatrix, radii: Float64Array, queries: FeatureMatrix): number {
  const dist = squaredDistances(queries, support);
  let inside = 0;
  for (let q = 0; q < queries.n; q++) {
    for (let s = 0; s < support.n; s++) {
      if ((dist[q * support.n + s] as number) <= (radii[s] as number)) {
        inside++;
        break;
      }
    }
  }
  return inside / queries.n;
}

export function precisionRecall(
  real: FeatureMatrix,
  generated: FeatureMatrix,
  k = 3,
): { precision: number; recall: number; k: number } {
  if (real.dim !== generated.dim)
    throw new RangeError(`precision/recall: feature dims differ (${real.dim} vs ${generated.dim})`);
  return {
    precision: coverage(real, kthNeighbourRadii(real, k), generated),
    recall: coverage(generated, kthNeighbourRadii(generated, k), real),
    k,
  };
}
