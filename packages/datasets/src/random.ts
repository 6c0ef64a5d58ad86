/**
 * Seeded randomness for dataset generation and splits. Math.random is never used here:
 * every image, split and shuffle must be reproducible from (seed, stream) alone, on any
 * machine, so the content hash of a built-in dataset names exactly one set of pixels.
 */

/** One step of SplitMix32: a strong 32-bit mixer, used to derive independent seeds. */
function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A deterministic uniform generator (sfc32, Chris Doty-Humphrey's PractRand-tested design). */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number;
  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number;
}

/**
 * A generator for one independent stream: `stream` lets image i of a dataset have its own
 * sequence, so generating image i never depends on how many images came before it.
 */
export function createRng(seed: number, stream = 0): Rng {
  let a = mix32(seed >>> 0);
  let b = mix32(a ^ (stream >>> 0));
  let c = mix32(b ^ 0x6a09e667);
  let d = 1;
  const nextU32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  // Discard the first outputs: sfc32's state needs a few rounds to decorrelate from the seed.
  for (let i = 0; i < 12; i++) nextU32();
  const next = (): number => nextU32() / 4294967296;
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    range: (lo, hi) => lo + next() * (hi - lo),
  };
}

/** A permutation of 0..n-1 by Fisher-Yates, fixed by the seed. */
export function permutation(n: number, seed: number): Uint32Array {
  const rng = createRng(seed, 0x5eed);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    const t = out[i] as number;
    out[i] = out[j] as number;
    out[j] = t;
  }
  return out;
}

/** A train / held-out split of 0..n-1: both sorted ascending, disjoint, covering all of n. */
export interface Split {
  train: Uint32Array;
  heldOut: Uint32Array;
}

/** Holds out `heldOut` indices chosen by a seeded shuffle; the rest train. */
export function splitIndices(n: number, heldOut: number, seed: number): Split {
  if (!Number.isInteger(heldOut) || heldOut < 0 || heldOut >= n) {
    throw new RangeError(`held-out count ${heldOut} must be an integer in [0, ${n - 1}]`);
  }
  const perm = permutation(n, seed);
  const held = perm.slice(0, heldOut).sort();
  const train = perm.slice(heldOut).sort();
  return { train, heldOut: held };
}
