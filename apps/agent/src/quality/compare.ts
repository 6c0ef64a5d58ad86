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
  kidStd: number;
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
  const kid = kernelInceptionDistance(reference, candidate, {
    subsets: options.kidSubsets ?? 10,
    seed: options.seed ?? 0,
  });
  const pr = precisionRecall(reference, candidate, options.k ?? 3);
  return {
    fd: frechetDistance(reference, candidate),
    kid: kid.mean,
    kidStd: kid.std,
    precision: pr.precision,
    recall: pr.recall,
  };
}
