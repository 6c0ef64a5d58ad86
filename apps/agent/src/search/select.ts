// How hardware-aware search narrows its candidates (issue 19 sections 3-4): the pool that
// goes on to quality measurement, successive halving on the proxy, and the Pareto front of
// quality, latency and memory. Pure.

/**
 * The pool: up to `k` of the candidates that meet the limit, spread evenly over them from
 * the largest down (by a capacity measure such as parameters), so the pool holds the
 * largest variants that fit as well as the leanest, not k near-copies of one size.
 */
export function spreadPool<T>(eligible: T[], k: number, capacity: (c: T) => number): T[] {
  const sorted = [...eligible].sort((a, b) => capacity(b) - capacity(a));
  if (sorted.length <= k) return sorted;
  if (k <= 1) return sorted.slice(0, Math.max(0, k));
  const picked = new Set<number>();
  for (let i = 0; i < k; i++) picked.add(Math.round((i * (sorted.length - 1)) / (k - 1)));
  return [...picked].map((i) => sorted[i] as T);
}

/**
 * Successive halving (Jamieson & Talwalkar 2016): rung r trains every survivor to
 * `first x eta^r` iterations in total, then keeps the best ceil(n / eta) by the proxy (lower
 * is better) for the next rung, until one rung would keep a single candidate, or `rungs`
 * rungs have run. The iterations of each rung, for a pool of `n`.
 */
export function halvingRungs(
  n: number,
  first: number,
  eta: number,
  maxRungs: number,
): { iters: number; keep: number }[] {
  if (!(eta >= 2)) throw new RangeError(`eta must be at least 2, got ${eta}`);
  const rungs: { iters: number; keep: number }[] = [];
  let alive = n;
  for (let r = 0; r < maxRungs && alive >= 1; r++) {
    const keep = r === maxRungs - 1 ? alive : Math.max(1, Math.ceil(alive / eta));
    rungs.push({ iters: Math.round(first * eta ** r), keep });
    if (alive === 1) break;
    alive = keep;
  }
  return rungs;
}

/** The best `keep` by score (lower is better; a non-finite score is worst), ties by name. */
export function survivors<T extends { name: string }>(
  scored: { c: T; score: number }[],
  keep: number,
): T[] {
  const key = (s: number) => (Number.isFinite(s) ? s : Number.POSITIVE_INFINITY);
  return [...scored]
    .sort((a, b) => key(a.score) - key(b.score) || a.c.name.localeCompare(b.c.name))
    .slice(0, keep)
    .map((s) => s.c);
}

/**
 * The points no other point dominates, every objective minimized: b dominates a when it is
 * no worse in every objective and better in one. Order kept.
 */
export function paretoFront<T>(points: T[], objectives: ((p: T) => number)[]): T[] {
  const dominates = (b: T, a: T) =>
    objectives.every((f) => f(b) <= f(a)) && objectives.some((f) => f(b) < f(a));
  return points.filter((a) => !points.some((b) => b !== a && dominates(b, a)));
}

/**
 * `k` of `items` spread evenly from the first to the last (all of them when k covers them;
 * the first when k is 1), in their order.
 */
export function evenlySpread<T>(items: T[], k: number): T[] {
  if (k >= items.length) return items;
  if (k <= 1) return items.slice(0, k);
  const picked = new Set<number>();
  for (let i = 0; i < k; i++) picked.add(Math.round((i * (items.length - 1)) / (k - 1)));
  return [...picked].sort((a, b) => a - b).map((i) => items[i] as T);
}
