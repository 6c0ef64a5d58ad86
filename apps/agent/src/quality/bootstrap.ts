// The spread of FD from sampling alone: recompute it on bootstrap resamples (rows drawn with
// replacement from both the real and the generated features; Efron 1979) and report their
// standard deviation and a percentile interval.
import {
  type FeatureMatrix,
  frechetDistance,
  seededRandom,
  selectRows,
} from '@anneal/engine/metrics';

export interface FdSpread {
  /** Standard deviation of FD over the resamples. */
  std: number;
  /** 5th and 95th percentiles of the resampled FDs. */
  low: number;
  high: number;
  resamples: number;
}

function resample(x: FeatureMatrix, random: () => number): FeatureMatrix {
  const idx = Int32Array.from({ length: x.n }, () => Math.floor(random() * x.n));
  return selectRows(x, idx);
}

function percentile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
}

export function bootstrapFd(
  reference: FeatureMatrix,
  candidate: FeatureMatrix,
  options: { resamples?: number; seed?: number } = {},
): FdSpread {
  const resamples = options.resamples ?? 20;
  if (!Number.isInteger(resamples) || resamples < 2)
    throw new RangeError(`bootstrap needs at least 2 resamples (got ${resamples})`);
  const random = seededRandom(options.seed ?? 0);
  const fds: number[] = [];
  for (let b = 0; b < resamples; b++)
    fds.push(frechetDistance(resample(reference, random), resample(candidate, random)));
  const mean = fds.reduce((a, v) => a + v, 0) / resamples;
  const std = Math.sqrt(fds.reduce((a, v) => a + (v - mean) ** 2, 0) / (resamples - 1));
  fds.sort((a, b) => a - b);
  return { std, low: percentile(fds, 0.05), high: percentile(fds, 0.95), resamples };
}
