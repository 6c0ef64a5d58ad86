import { seededRandom } from '@anneal/engine/metrics';
import { describe, expect, it } from 'vitest';
import {
  mannWhitneyZ,
  memorizationCheck,
  nearestNeighbourDistances,
  type PixelRows,
  summarize,
} from './memorization.ts';

/** The same test data on every host. */
const random = seededRandom;

function rows(count: number, dim: number, seed: number): PixelRows {
  const r = random(seed);
  return {
    pixels: Uint8Array.from({ length: count * dim }, () => Math.floor(r() * 256)),
    count,
    dim,
  };
}

/** Copies of `source` rows with each pixel moved by up to ±`noise` grey levels. */
function perturbed(source: PixelRows, take: number, noise: number, seed: number): PixelRows {
  const r = random(seed);
  const pixels = new Uint8Array(take * source.dim);
  for (let i = 0; i < take * source.dim; i++) {
    const v = (source.pixels[i] as number) + Math.round((r() * 2 - 1) * noise);
    pixels[i] = Math.min(255, Math.max(0, v));
  }
  return { pixels, count: take, dim: source.dim };
}

describe('nearest-neighbour distances', () => {
  it('match a brute-force float computation and are 0 for an exact copy', () => {
    const train = rows(50, 12, 1);
    const queries = rows(7, 12, 2);
    const got = nearestNeighbourDistances(queries, train);
    for (let i = 0; i < queries.count; i++) {
      let best = Number.POSITIVE_INFINITY;
      for (let j = 0; j < train.count; j++) {
        let s = 0;
        for (let k = 0; k < 12; k++) {
          const d =
            ((queries.pixels[i * 12 + k] as number) - (train.pixels[j * 12 + k] as number)) / 255;
          s += d * d;
        }
        best = Math.min(best, Math.sqrt(s / 12));
      }
      expect(got[i]).toBeCloseTo(best, 12);
    }
    const copy = { pixels: train.pixels.slice(36, 48), count: 1, dim: 12 };
    expect(nearestNeighbourDistances(copy, train)[0]).toBe(0);
  });

  it('name a size mismatch and an empty reference', () => {
    expect(() => nearestNeighbourDistances(rows(1, 4, 1), rows(2, 5, 1))).toThrow(
      /differ in size: 4 .* 5/,
    );
    expect(() => nearestNeighbourDistances(rows(1, 4, 1), rows(0, 4, 1))).toThrow(/no reference/);
  });
});

describe('summaries and the rank test', () => {
  it('summarizes with interpolated quantiles', () => {
    const s = summarize(Float64Array.from({ length: 101 }, (_, i) => i));
    expect(s).toEqual({ min: 0, p1: 1, p5: 5, p25: 25, median: 50, mean: 50 });
  });

  it('gives z near 0 for one distribution and a large z when the first is shifted down', () => {
    const r = random(3);
    const a = Float64Array.from({ length: 400 }, () => r());
    const b = Float64Array.from({ length: 400 }, () => r());
    expect(Math.abs(mannWhitneyZ(a, b))).toBeLessThan(3);
    const lower = a.map((v) => v - 0.2);
    expect(mannWhitneyZ(lower, b)).toBeGreaterThan(5);
    expect(mannWhitneyZ(b, lower)).toBeLessThan(-5);
  });

  it('matches the textbook U on a small case with ties', () => {
    // a = [1, 2, 2], b = [2, 3]: ranks 1, 3, 3 | 3, 5; R_A = 7, U_A = 1, mean 3.
    // Tie-corrected variance: (6/12)(6 - (27 - 3)/20) = 2.4.
    const z = mannWhitneyZ(Float64Array.of(1, 2, 2), Float64Array.of(2, 3));
    expect(z).toBeCloseTo(2 / Math.sqrt(2.4), 12);
  });
});

describe('the memorization check', () => {
  const dim = 64;
  const train = rows(300, dim, 10);

  it('passes a model whose samples are new images of the same distribution', () => {
    const samples = rows(120, dim, 11);
    const heldout = rows(120, dim, 12);
    const r = memorizationCheck(samples, heldout, train);
    expect(r.memorized).toBe(false);
    expect(r.train).toBe(300);
    expect(r.samplesBelowHeldoutMin).toBeLessThan(5);
  });

  it('flags a model whose samples are near-copies of training images', () => {
    const samples = perturbed(train, 120, 20, 13);
    const heldout = rows(120, dim, 12);
    const r = memorizationCheck(samples, heldout, train);
    expect(r.memorized).toBe(true);
    expect(r.sets.p).toBeLessThan(0.001);
    expect(r.samples.median).toBeLessThan(r.heldout.min);
    expect(r.samplesBelowHeldoutMin).toBe(120);
  });
});

/**
 * Rows of two kinds: `simple` ones (a flat prototype, one of 3, ±6 grey levels) and busy ones
 * (a checkerboard, ±60 grey levels), which lie much farther from their nearest neighbours.
 */
function mixture(count: number, simpleShare: number, dim: number, seed: number): PixelRows {
  const r = random(seed);
  const prototypes = [40, 128, 215];
  const pixels = new Uint8Array(count * dim);
  for (let i = 0; i < count; i++) {
    const simple = r() < simpleShare;
    const level = prototypes[Math.floor(r() * 3)] as number;
    for (let k = 0; k < dim; k++)
      pixels[i * dim + k] = simple
        ? level + Math.round((r() * 2 - 1) * 6)
        : (k % 2 ? 30 : 225) + Math.round((r() * 2 - 1) * 60);
  }
  return { pixels, count, dim };
}

const concat = (a: PixelRows, b: PixelRows): PixelRows => {
  const pixels = new Uint8Array((a.count + b.count) * a.dim);
  pixels.set(a.pixels);
  pixels.set(b.pixels, a.pixels.length);
  return { pixels, count: a.count + b.count, dim: a.dim };
};

/** Noisy images around a few flat levels; `noise` sets how busy they are. */
function textured(count: number, noise: number, dim: number, seed: number): PixelRows {
  const r = random(seed);
  const pixels = new Uint8Array(count * dim);
  for (let i = 0; i < count; i++) {
    const level = 60 + 30 * Math.floor(r() * 5);
    for (let k = 0; k < dim; k++) pixels[i * dim + k] = level + Math.round((r() * 2 - 1) * noise);
  }
  return { pixels, count, dim };
}

describe('the set test: nearer the images trained on than unseen ones?', () => {
  const dim = 48;

  it('passes a model that favours simple images, which the whole-dataset test flags', () => {
    const train = mixture(1200, 0.5, dim, 20);
    const heldout = mixture(400, 0.5, dim, 21);
    // New images (no copies), nine in ten of them simple: they land nearer the training set
    // only because simple images lie nearer their neighbours.
    const r = memorizationCheck(mixture(400, 0.9, dim, 22), heldout, train);
    expect(r.z).toBeGreaterThan(5);
    // Two held-out sets of 200 against six training sets of 200.
    expect(r.sets).toMatchObject({ size: 200, heldoutSets: 2, trainSets: 6, dof: 6 });
    expect(r.sets.p).toBeGreaterThan(0.01);
    expect(r.copies.p).toBeGreaterThan(0.05);
    expect(r.memorized).toBe(false);
  });

  it('passes a model whose images are smoother than the data, which the whole-dataset test flags', () => {
    const train = textured(1200, 40, dim, 30);
    const heldout = textured(400, 40, dim, 31);
    // The same levels, a quarter of the data's noise: nearer every real image, seen or not.
    const r = memorizationCheck(textured(400, 10, dim, 32), heldout, train);
    expect(r.z).toBeGreaterThan(5);
    expect(r.samples.median).toBeLessThan(r.heldout.median);
    expect(r.sets.p).toBeGreaterThan(0.01);
    // Flatter samples stand out from no single training image: their ratios rise toward 1.
    expect(r.copies.samples.median).toBeGreaterThan(r.copies.heldout.median);
    expect(r.copies.count).toBe(0);
    expect(r.memorized).toBe(false);
  });

  it('flags near-copies of training images among new ones', () => {
    const train = mixture(1200, 0.5, dim, 20);
    const heldout = mixture(400, 0.5, dim, 21);
    // Half the samples are near-copies of training images, in the same mix as the data.
    const copies = perturbed(train, 200, 3, 23);
    const r = memorizationCheck(concat(copies, mixture(200, 0.5, dim, 24)), heldout, train);
    expect(r.sets.t).toBeGreaterThan(5);
    expect(r.sets.p).toBeLessThan(0.001);
    expect(r.sets.toTrain).toBeLessThan(r.sets.toHeldout);
    expect(r.memorized).toBe(true);
  });

  it('holds its size without copies: about 5% of null replicates reach p < 0.05', () => {
    // 60 models that draw new images of the data's own distribution; Binomial(60, 0.05) has
    // mean 3 and P(X >= 10) = 0.0004, so a miscalibrated test shows here. (The copy test's p
    // is discrete: at 40 against 40, p < 0.05 needs 5 samples below every held-out ratio,
    // a 2.7% chance, so its bound catches gross errors only; the exact-copy case checks p.)
    let rejections = 0;
    let copyRejections = 0;
    for (let k = 0; k < 60; k++) {
      const r = memorizationCheck(
        rows(40, 16, 1000 + k),
        rows(40, 16, 2000 + k),
        rows(200, 16, 3000 + k),
      );
      if (r.sets.p < 0.05) rejections++;
      if (r.copies.p < 0.05) copyRejections++;
    }
    expect(rejections).toBeLessThan(10);
    expect(copyRejections).toBeLessThan(10);
  });

  it('sizes the sets by the smaller side', () => {
    const r = memorizationCheck(rows(30, 8, 40), rows(50, 8, 41), rows(20, 8, 42));
    expect(r.sets).toMatchObject({ size: 10, heldoutSets: 2, trainSets: 2, dof: 2 });
    expect(() => memorizationCheck(rows(30, 8, 40), rows(1, 8, 41), rows(20, 8, 42))).toThrow(
      /at least 2 held-out/,
    );
  });
});

describe('the copy test: a few samples that copy single training images', () => {
  const dim = 48;
  const train = mixture(1200, 0.5, dim, 20);
  const heldout = mixture(400, 0.5, dim, 21);

  it('flags 8 near-copies among 400 samples, which the set test cannot see', () => {
    const r = memorizationCheck(
      concat(perturbed(train, 8, 3, 40), mixture(392, 0.5, dim, 41)),
      heldout,
      train,
    );
    expect(r.sets.p).toBeGreaterThan(0.01);
    expect(r.copies.neighbours).toBe(50);
    expect(r.copies.count).toBeGreaterThanOrEqual(8);
    expect(r.copies.expected).toBeCloseTo(400 / 401, 12);
    expect(r.copies.p).toBeLessThan(0.005);
    expect(r.memorized).toBe(true);
  });

  it('passes the same samples without the copies', () => {
    const r = memorizationCheck(mixture(400, 0.5, dim, 41), heldout, train);
    expect(r.copies.p).toBeGreaterThan(0.05);
    expect(r.memorized).toBe(false);
  });

  it('gives an exact copy ratio 0 and p as the chance that the smallest ratios are all samples', () => {
    const small = rows(200, 16, 50);
    const samples = concat(
      { pixels: small.pixels.slice(0, 3 * 16), count: 3, dim: 16 },
      rows(37, 16, 51),
    );
    const r = memorizationCheck(samples, rows(40, 16, 52), small);
    expect(r.copies.samples.min).toBe(0);
    expect(r.copies.heldout.min).toBeGreaterThan(0);
    // The 3 copies, and no other sample below every held-out ratio: p = 40/80 x 39/79 x 38/78.
    expect(r.copies.count).toBe(3);
    expect(r.copies.p).toBeCloseTo((40 * 39 * 38) / (80 * 79 * 78), 15);
  });

  it("divides by the mean of the next k distances, all of a small training set's", () => {
    // 10 training images: k = 9 takes every one after the nearest. Checked by brute force.
    const train = rows(10, 16, 60);
    const samples = rows(5, 16, 61);
    const r = memorizationCheck(samples, rows(6, 16, 62), train);
    expect(r.copies.neighbours).toBe(9);
    const ratios = Array.from({ length: samples.count }, (_, i) => {
      const d = Array.from({ length: train.count }, (_, j) => {
        let s = 0;
        for (let x = 0; x < 16; x++) {
          const v = (samples.pixels[i * 16 + x] as number) - (train.pixels[j * 16 + x] as number);
          s += v * v;
        }
        return Math.sqrt(s);
      }).sort((a, b) => a - b);
      return (d[0] as number) / (d.slice(1).reduce((a, b) => a + b, 0) / 9);
    }).sort((a, b) => a - b);
    expect(r.copies.samples.min).toBeCloseTo(ratios[0] as number, 10);
    expect(r.copies.samples.median).toBeCloseTo(ratios[2] as number, 10);
    expect(r.copies.samples.mean).toBeCloseTo(ratios.reduce((a, b) => a + b, 0) / 5, 10);
  });

  it('says when a held-out image duplicates a training image (the test cannot see copies then)', () => {
    const train = rows(200, 16, 70);
    const heldout = concat(
      { pixels: train.pixels.slice(0, 16), count: 1, dim: 16 },
      rows(39, 16, 71),
    );
    const r = memorizationCheck(
      concat({ pixels: train.pixels.slice(16, 32), count: 1, dim: 16 }, rows(39, 16, 72)),
      heldout,
      train,
    );
    expect(r.copies.heldout.min).toBe(0);
    expect(r.copies.count).toBe(0);
    expect(r.copies.blind).toBe(true);
    expect(memorizationCheck(rows(40, 16, 72), rows(40, 16, 71), train).copies.blind).toBe(false);
  });
});
