// The distribution metrics between a reference feature set and a candidate, as one record.
import {
  type FeatureMatrix,
  frechetDistance,
  kernelInceptionDistance,
  precisionRecall,
} from '@anneal/engine/metrics';

export interface DistributionMetrics {
  fd: number;
  kid: number;
  /** Spread over KID subsets; null when one subset is the whole of both sets. */
  kidStd: number | null;
  precision: number;
  recall: number;
}

export interface CompareOptions {
  /** KID subsets (default 10) of min(1000, n) rows. */
  kidSubsets?: number;
  seed?: number;
  /** Nearest neighbours for the precision/recall manifolds (default 3). */
  k?: number;
}

/** FD, KID and precision/recall of `candidate` against `reference` (real images). */
export function compareFeatures(
  reference: FeatureMatrix,
  candidate: FeatureMatrix,
  options: CompareOptions = {},
): DistributionMetrics {
  // Subsets of min(1000, n) as Bińkowski et al. do; when that is every row of both sets,
  // all subsets would be identical, so one full-set estimate is taken and no spread claimed.
  const size = Math.min(1000, reference.n, candidate.n);
  const whole = size === reference.n && size === candidate.n;
  const kid = kernelInceptionDistance(reference, candidate, {
    subsets: whole ? 1 : (options.kidSubsets ?? 10),
    subsetSize: size,
    seed: options.seed ?? 0,
  });
  const pr = precisionRecall(reference, candidate, options.k ?? 3);
  return {
    fd: frechetDistance(reference, candidate),
    kid: kid.mean,
    kidStd: whole ? null : kid.std,
    precision: pr.precision,
    recall: pr.recall,
  };
}
