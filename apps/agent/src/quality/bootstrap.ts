// The spread of FD from sampling alone: recompute it on bootstrap resamples (rows drawn with
// replacement from both the real and the generated features; Efron 1979) and report their
// standard deviation and a percentile interval. Two sample sets drawn from the same noise
// (two samplers, one seed) are compared paired: each resample draws the same rows of both,
// and of the real set, so the spread of the difference leaves out what they share.
import { spearman } from '@anneal/engine';
import {
  type FeatureMatrix,
  frechetDistance,
  seededRandom,
  selectRows,
} from '@anneal/engine/metrics';
import { z } from 'zod';

export interface FdSpread {
  /** Standard deviation of FD over the resamples. */
  std: number;
  /** 5th and 95th percentiles of the resampled FDs. */
  low: number;
  high: number;
  resamples: number;
}

export interface BootstrapOptions {
  /** Resamples (default 20; at least 2). */
  resamples?: number;
  seed?: number;
  /**
   * Each set's row labels (classes): rows are then drawn within their class, so every resample
   * keeps the set's class counts. FD on a classifier's features follows class counts more
   * than anything a sampler changes (docs/quality.md, "Class counts"): resampling across
   * classes measured that, not the sampling spread. On the MNIST teacher's Heun-100 reference
   * (n = 1000) the unstratified resamples averaged 0.8 against an FD of 0.277; stratified, 0.38.
   */
  strata?: { reference?: ArrayLike<number>; candidate?: ArrayLike<number> };
}

/** FD(a) - FD(b) against one real set, with its paired bootstrap spread. */
export interface FdDifference extends FdSpread {
  /** FD(a) - FD(b) on the sets as given. */
  difference: number;
  /**
   * 'a' or 'b' when the 90% interval of FD(a) - FD(b) lies wholly below or above 0 (that set
   * is nearer the real images), 'neither' when it straddles 0.
   */
  better: 'a' | 'b' | 'neither';
}

/** The `--spread N` flag of eval and bench: bootstrap resamples, 0 for none. */
export const spreadFlag = z.coerce
  .number()
  .int()
  .min(0)
  .max(1000)
  .refine((n) => n !== 1, 'must be 0 (no spread) or at least 2 resamples')
  .default(0);

/** Draws n row indices with replacement, within each row's class when labels are given. */
function resampler(n: number, labels: ArrayLike<number> | undefined, random: () => number) {
  if (!labels) return () => Int32Array.from({ length: n }, () => Math.floor(random() * n));
  if (labels.length !== n)
    throw new RangeError(`${labels.length} labels for ${n} rows: one label per row is needed`);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const c = labels[i] as number;
    const rows = byClass.get(c) ?? [];
    rows.push(i);
    byClass.set(c, rows);
  }
  return () =>
    Int32Array.from({ length: n }, (_, i) => {
      const rows = byClass.get(labels[i] as number) as number[];
      return rows[Math.floor(random() * rows.length)] as number;
    });
}

function percentile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
}

function spreadOf(values: number[]): FdSpread {
  const resamples = values.length;
  const mean = values.reduce((a, v) => a + v, 0) / resamples;
  const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (resamples - 1));
  const sorted = [...values].sort((a, b) => a - b);
  return { std, low: percentile(sorted, 0.05), high: percentile(sorted, 0.95), resamples };
}

function checkResamples(resamples: number) {
  if (!Number.isInteger(resamples) || resamples < 2)
    throw new RangeError(`bootstrap needs at least 2 resamples (got ${resamples})`);
}

export function bootstrapFd(
  reference: FeatureMatrix,
  candidate: FeatureMatrix,
  options: BootstrapOptions = {},
): FdSpread {
  const resamples = options.resamples ?? 20;
  checkResamples(resamples);
  const random = seededRandom(options.seed ?? 0);
  const realRows = resampler(reference.n, options.strata?.reference, random);
  const candidateRows = resampler(candidate.n, options.strata?.candidate, random);
  const fds: number[] = [];
  for (let b = 0; b < resamples; b++)
    fds.push(
      frechetDistance(selectRows(reference, realRows()), selectRows(candidate, candidateRows())),
    );
  return spreadOf(fds);
}

/**
 * Each resample's FD of every set, paired: the sets hold the same number of rows, row i of
 * each drawn from the same noise and class (samplers or models, one seed), so a resample
 * takes the same rows of every set (and one resample of the real set for all).
 */
export function pairedFdResamples(
  reference: FeatureMatrix,
  sets: FeatureMatrix[],
  options: BootstrapOptions,
): number[][] {
  const [first] = sets;
  if (!first) throw new RangeError('a paired bootstrap needs at least one set');
  for (const s of sets)
    if (s.n !== first.n || s.dim !== first.dim)
      throw new RangeError(
        `a paired comparison needs sets of the same shape (got ${first.n}x${first.dim} and ${s.n}x${s.dim})`,
      );
  const resamples = options.resamples ?? 20;
  checkResamples(resamples);
  const random = seededRandom(options.seed ?? 0);
  const realRows = resampler(reference.n, options.strata?.reference, random);
  const pairedRows = resampler(first.n, options.strata?.candidate, random);
  return Array.from({ length: resamples }, () => {
    const real = selectRows(reference, realRows());
    const rows = pairedRows();
    return sets.map((s) => frechetDistance(real, selectRows(s, rows)));
  });
}

/** FD(a) - FD(b) with a paired bootstrap (`pairedFdResamples`): what both share drops out. */
export function bootstrapFdDifference(
  reference: FeatureMatrix,
  a: FeatureMatrix,
  b: FeatureMatrix,
  options: BootstrapOptions = {},
): FdDifference {
  const differences = pairedFdResamples(reference, [a, b], options).map(
    ([fa, fb]) => (fa as number) - (fb as number),
  );
  const spread = spreadOf(differences);
  return {
    ...spread,
    difference: frechetDistance(reference, a) - frechetDistance(reference, b),
    better: spread.high < 0 ? 'a' : spread.low > 0 ? 'b' : 'neither',
  };
}

/** Spearman's rank correlation of scores with the sets' FDs, and its paired bootstrap spread. */
export interface RankCorrelationSpread extends FdSpread {
  /** On the sets as given. */
  rho: number;
}

/**
 * How sure a rank correlation of `scores` (one per set: a proxy, a cost) with the sets' FD
 * is, given that FD is measured on finite samples: Spearman's rho on the sets' FDs as given
 * (`fds`) and on each paired resample of them (`resampled`, from `pairedFdResamples`). Sets
 * whose FDs lie within their sampling spread of each other swap ranks between resamples, and
 * the interval widens: the spread of the FD ranking alone, the scores taken as given. Null
 * when rho is undefined (fewer than 3 sets, or ties everywhere).
 */
export function rankCorrelationSpread(
  scores: number[],
  fds: number[],
  resampled: number[][],
): RankCorrelationSpread | null {
  if (scores.length !== fds.length)
    throw new RangeError(`${scores.length} scores for ${fds.length} sets: one per set is needed`);
  if (scores.length < 3) return null;
  const rho = spearman(scores, fds);
  if (rho === null) return null;
  // A resample whose FDs all tie has no rho: counted as 0, no rank information.
  return { rho, ...spreadOf(resampled.map((r) => spearman(scores, r) ?? 0)) };
}

/** `rankCorrelationSpread` of the sets' FDs against `reference`, resampled in pairs. */
export function bootstrapRankCorrelation(
  reference: FeatureMatrix,
  sets: FeatureMatrix[],
  scores: number[],
  options: BootstrapOptions = {},
): RankCorrelationSpread | null {
  if (scores.length !== sets.length)
    throw new RangeError(`${scores.length} scores for ${sets.length} sets: one per set is needed`);
  if (sets.length < 3) return null;
  return rankCorrelationSpread(
    scores,
    sets.map((s) => frechetDistance(reference, s)),
    pairedFdResamples(reference, sets, options),
  );
}
