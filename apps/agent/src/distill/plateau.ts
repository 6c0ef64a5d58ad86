// How long a distillation stage trains: the held-out distillation loss is measured every K
// iterations on a fixed batch, and the stage stops when that loss stops improving (or at the
// iteration cap). Pure, so the rule is tested on recorded sequences.

export interface PlateauRule {
  /** Evaluations compared: the best of the last `window` against the best before them. */
  window: number;
  /** Stop when the relative improvement over the window is below this (0.01 = 1%). */
  threshold: number;
  /** Never stop on a plateau before this many iterations. */
  minIters: number;
  maxIters: number;
}

export interface HeldoutPoint {
  iter: number;
  loss: number;
}

export interface PlateauDecision {
  stop: boolean;
  /** Relative improvement over the window; null until there are window + 1 evaluations. */
  improvement: number | null;
  reason: string;
}

/**
 * Stop when the best held-out loss of the last `window` evaluations improves on the best one
 * before them by less than `threshold` (relatively), or at `maxIters`. A non-finite loss
 * stops at once: the stage diverged.
 */
export function plateauDecision(
  history: readonly HeldoutPoint[],
  rule: PlateauRule,
): PlateauDecision {
  if (!Number.isInteger(rule.window) || rule.window < 1)
    throw new RangeError(`plateau window must be an integer >= 1 (got ${rule.window})`);
  const last = history.at(-1);
  if (!last) return { stop: false, improvement: null, reason: 'no held-out loss yet' };
  if (!Number.isFinite(last.loss))
    return {
      stop: true,
      improvement: null,
      reason: `held-out loss is ${last.loss} at iteration ${last.iter}`,
    };
  if (last.iter >= rule.maxIters)
    return {
      stop: true,
      improvement: improvementOf(history, rule.window),
      reason: `reached --max-iters-per-stage ${rule.maxIters}`,
    };
  const improvement = improvementOf(history, rule.window);
  if (improvement === null || last.iter < rule.minIters)
    return { stop: false, improvement, reason: 'training' };
  if (improvement < rule.threshold)
    return {
      stop: true,
      improvement,
      reason: `held-out loss plateaued at iteration ${last.iter}: ${
        improvement >= 0
          ? `${(improvement * 100).toFixed(2)}% better over the last ${rule.window} evaluations < ${(rule.threshold * 100).toFixed(2)}%`
          : `the best of the last ${rule.window} evaluations is ${(-improvement * 100).toFixed(2)}% worse than the best before them`
      }`,
    };
  return { stop: false, improvement, reason: 'training' };
}

function improvementOf(history: readonly HeldoutPoint[], window: number): number | null {
  if (history.length < window + 1) return null;
  const split = history.length - window;
  let before = Number.POSITIVE_INFINITY;
  let recent = Number.POSITIVE_INFINITY;
  for (let i = 0; i < history.length; i++) {
    const loss = (history[i] as HeldoutPoint).loss;
    if (i < split) before = Math.min(before, loss);
    else recent = Math.min(recent, loss);
  }
  if (!(before > 0)) return 0;
  return (before - recent) / before;
}
