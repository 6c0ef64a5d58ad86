import type { FeatureMatrix } from './linalg.ts';

/**
 * Row indices of `x` in lexicographic order of the rows' values. Metrics that draw random
 * subsets draw them from this order, so their result does not depend on the order the
 * samples arrived in.
 */
export function canonicalOrder(x: FeatureMatrix): Int32Array {
  const { dim: d, data } = x;
  const idx = Array.from({ length: x.n }, (_, i) => i);
  idx.sort((i, j) => {
    for (let k = 0; k < d; k++) {
      const diff = (data[i * d + k] as number) - (data[j * d + k] as number);
      if (diff !== 0) return diff;
    }
    return 0;
  });
  return Int32Array.from(idx);
}

/** mulberry32: a small seeded generator, enough to pick subsets reproducibly. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The first `k` entries of a seeded Fisher-Yates shuffle of `from`. */
export function sampleWithoutReplacement(
  from: ArrayLike<number>,
  k: number,
  random: () => number,
): Int32Array {
  const a = Int32Array.from(from as ArrayLike<number>);
  if (k > a.length) throw new RangeError(`cannot draw ${k} of ${a.length} without replacement`);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (a.length - i));
    const t = a[i] as number;
    a[i] = a[j] as number;
    a[j] = t;
  }
  return a.slice(0, k);
}
