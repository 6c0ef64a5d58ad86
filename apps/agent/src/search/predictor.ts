// The cost predictor of hardware-aware search (issue 19 section 2): fitted on the candidates
// measured on this device, it prunes the rest before anything else is measured. A cost is
// modelled as a non-negative sum of what the network does (a fixed overhead, FLOPs, bytes of
// saved activations, attention's token pairs): each term is work the device pays for, so no
// coefficient may be negative, which keeps predictions for unmeasured shapes from going wild
// where an unconstrained fit would trade one feature against another.

/** What the engine counts of a candidate without running it (Model.cost(), the layer walk). */
export interface CostFeatures {
  forwardFlopsPerImage: number;
  activationBytesPerImage: number;
  /**
   * Per image: softmax attention's query-key pairs summed over attention layers (tokens^2 x
   * heads), or linear attention's tokens x head size^2 (what each computes beyond its
   * projections, which FLOPs count).
   */
  attentionWork: number;
  parameters: number;
}

export const FEATURE_NAMES = [
  'overhead',
  'forwardFlopsPerImage',
  'activationBytesPerImage',
  'attentionWork',
] as const;

export interface FittedCost {
  /** One coefficient per FEATURE_NAMES entry, in the units of the target per unit of feature. */
  coefficients: number[];
  /** Leave-one-out relative error |predicted / measured - 1| over the fitted points. */
  looError: { median: number; max: number; n: number };
}

function row(f: CostFeatures): number[] {
  return [1, f.forwardFlopsPerImage, f.activationBytesPerImage, f.attentionWork];
}

/**
 * Non-negative least squares by cyclic coordinate descent on column-scaled features (each
 * column divided by its largest value, so the steps are comparable), minimizing the squared
 * relative error: rows are divided by the measured value, since costs span orders of
 * magnitude and a 10% miss matters as much on a small candidate as on a large one.
 */
export function fitNonNegative(xs: number[][], ys: number[], sweeps = 2000): number[] {
  const m = xs[0]?.length ?? 0;
  if (xs.length === 0 || ys.length !== xs.length) throw new RangeError('fitNonNegative: no data');
  if (ys.some((y) => !(y > 0))) throw new RangeError('fitNonNegative: costs must be positive');
  const scale = Array.from(
    { length: m },
    (_, j) => Math.max(...xs.map((r) => Math.abs(r[j] as number))) || 1,
  );
  const a = xs.map((r, i) => r.map((v, j) => v / (scale[j] as number) / (ys[i] as number)));
  const b = ys.map(() => 1);
  const beta = Array(m).fill(0) as number[];
  const residual = [...b];
  const norms = Array.from({ length: m }, (_, j) =>
    a.reduce((s, r) => s + (r[j] as number) ** 2, 0),
  );
  for (let sweep = 0; sweep < sweeps; sweep++) {
    let moved = 0;
    for (let j = 0; j < m; j++) {
      if (!((norms[j] as number) > 0)) continue;
      const g = a.reduce((s, r, i) => s + (r[j] as number) * (residual[i] as number), 0);
      const next = Math.max(0, (beta[j] as number) + g / (norms[j] as number));
      const d = next - (beta[j] as number);
      if (d === 0) continue;
      beta[j] = next;
      a.forEach((r, i) => {
        residual[i] = (residual[i] as number) - d * (r[j] as number);
      });
      moved = Math.max(moved, Math.abs(d));
    }
    if (moved < 1e-12) break;
  }
  return beta.map((v, j) => v / (scale[j] as number));
}

export function predictCost(fit: Pick<FittedCost, 'coefficients'>, f: CostFeatures): number {
  return row(f).reduce((s, v, j) => s + v * (fit.coefficients[j] as number), 0);
}

/** Fits a cost on measured candidates and reports its leave-one-out error. */
export function fitCost(points: { features: CostFeatures; value: number }[]): FittedCost {
  if (points.length < 2)
    throw new RangeError(`a cost fit needs at least 2 measured candidates, got ${points.length}`);
  const xs = points.map((p) => row(p.features));
  const ys = points.map((p) => p.value);
  const coefficients = fitNonNegative(xs, ys);
  const errors = points.map((p, i) => {
    const beta = fitNonNegative(
      xs.filter((_, k) => k !== i),
      ys.filter((_, k) => k !== i),
    );
    return Math.abs(predictCost({ coefficients: beta }, p.features) / p.value - 1);
  });
  const sorted = [...errors].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return {
    coefficients,
    looError: { median, max: sorted[sorted.length - 1] as number, n: points.length },
  };
}
