// The metrics behave as rulers must (DESIGN.md section 4): FD and KID rise monotonically
// with corruption strength, real vs real sits at the floor, and sample order is irrelevant.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ImageBatch, selectImages } from '@anneal/datasets/images';
import { materialize } from '@anneal/datasets/shards';
import { FeatureExtractor } from '@anneal/engine';
import { type FeatureMatrix, frechetDistance, selectRows } from '@anneal/engine/metrics';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareFeatures } from './compare.ts';
import { addNoise, blur } from './corrupt.ts';
import { pickIndices, pickStratified, readSplit, shapeOf } from './images.ts';

const N = 300;
let extractor: FeatureExtractor;
let heldout: ImageBatch;
let trainA: ImageBatch;
let trainB: ImageBatch;
let reference: FeatureMatrix;
let trainShards: string[];

const features = async (b: ImageBatch) => (await extractor.features(b.images, shapeOf(b))).features;

beforeAll(async () => {
  const home = mkdtempSync(join(tmpdir(), 'anneal-quality-'));
  const m = await materialize(
    { kind: 'builtin', name: 'shapes', options: { count: 1400, heldOut: N } },
    { resolution: 16, home },
  );
  const shards = (split: 'train' | 'heldout') =>
    m.manifest.splits[split].shards.map((s) => join(m.dir, s.file));
  extractor = await FeatureExtractor.obtain({
    datasetHash: m.manifest.hash,
    trainShards: shards('train'),
    heldoutShards: shards('heldout'),
    config: {
      kind: 'classifier',
      resolution: 16,
      inChannels: 3,
      channels: [16, 32],
      featureDim: 32,
      groups: 8,
      numClasses: 5,
    },
    training: {
      steps: 150,
      batchSize: 32,
      lr: 3e-3,
      warmupSteps: 10,
      weightDecay: 1e-4,
      gradClip: 1,
      noise: 0.3,
      shift: 0,
      seed: 0,
    },
    home,
  });
  heldout = await readSplit(shards('heldout'));
  trainShards = shards('train');
  const train = await readSplit(trainShards);
  const order = pickIndices(train.count, 2 * N, 1);
  trainA = selectImages(train, order.subarray(0, N));
  trainB = selectImages(train, order.subarray(N));
  reference = await features(heldout);
});

function increasing(values: number[]): boolean {
  return values.every((v, i) => i === 0 || v > (values[i - 1] as number));
}

describe('quality metrics on shapes', () => {
  it('FD and KID rise monotonically with noise', async () => {
    const levels = [0, 0.05, 0.1, 0.2, 0.4];
    const fd: number[] = [];
    const kid: number[] = [];
    for (const std of levels) {
      const m = compareFeatures(reference, await features(addNoise(trainA, std, 7)), {
        kidSubsets: 3,
      });
      fd.push(m.fd);
      kid.push(m.kid);
    }
    console.info(`FD vs noise std ${levels.join('/')}: ${fd.map((v) => v.toFixed(3)).join(' ')}`);
    expect(increasing(fd)).toBe(true);
    expect(increasing(kid)).toBe(true);
    expect(fd.at(-1)).toBeGreaterThan(5 * (fd[0] as number));
  });

  it('FD rises monotonically with blur', async () => {
    // Up to sigma = resolution / 8. Past that the 16 px shapes become flat colour fields and
    // this small extractor's FD falls again (measured: 22.6 at sigma 2, 17.2 at 2.5, 12.2 at
    // 3): beyond recognition, features no longer order the damage.
    const sigmas = [0, 0.5, 1, 1.5, 2];
    const fd: number[] = [];
    for (const s of sigmas) fd.push(frechetDistance(reference, await features(blur(trainA, s))));
    console.info(`FD vs blur sigma ${sigmas.join('/')}: ${fd.map((v) => v.toFixed(3)).join(' ')}`);
    expect(increasing(fd)).toBe(true);
  });

  it('real vs real sits at the floor; precision and recall near 1', async () => {
    const floor = compareFeatures(reference, await features(trainA), { kidSubsets: 3 });
    const other = compareFeatures(reference, await features(trainB), { kidSubsets: 3 });
    const noisy = compareFeatures(reference, await features(addNoise(trainA, 0.1, 3)), {
      kidSubsets: 3,
    });
    expect(other.fd).toBeLessThan(1.5 * floor.fd);
    expect(other.fd).toBeGreaterThan(floor.fd / 1.5);
    expect(noisy.fd).toBeGreaterThan(1.5 * Math.max(floor.fd, other.fd));
    expect(Math.abs(other.kid)).toBeLessThan(noisy.kid);
    expect(other.precision).toBeGreaterThan(0.85);
    expect(other.recall).toBeGreaterThan(0.85);
  });

  it('class-stratified real sets: FD between two of them wanders less than between random sets', async () => {
    // A random draw's class counts wander, and FD on a classifier's features follows them;
    // drawn in the layout a conditional model's samples come in (row i of class i mod K), the
    // counts are fixed and what is left is the spread within each class.
    const train = await readSplit(trainShards);
    const fd = async (pick: (split: ImageBatch, seed: number) => Int32Array, seed: number) =>
      frechetDistance(
        await features(selectImages(heldout, pick(heldout, seed))),
        await features(selectImages(train, pick(train, seed + 100))),
      );
    const n = 100;
    const random = (split: ImageBatch, seed: number) => pickIndices(split.count, n, seed);
    const stratified = (split: ImageBatch, seed: number) =>
      pickStratified(split.labels, 5, n, seed);
    const spread = (v: number[]) => {
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) };
    };
    const seeds = [0, 1, 2, 3, 4, 5, 6, 7];
    const r = spread(await Promise.all(seeds.map((s) => fd(random, s))));
    const st = spread(await Promise.all(seeds.map((s) => fd(stratified, s))));
    // Measured here: random mean 0.46, std 0.39; stratified mean 0.059, std 0.027 (8 draws of
    // 100): ratios of 15 and 8, so the bounds sit a factor of 4 or more inside them.
    expect(st.std).toBeLessThan(r.std / 3);
    expect(st.mean).toBeLessThan(r.mean / 2);
  });

  it('does not depend on sample order', async () => {
    const f = await features(trainA);
    const permuted = selectRows(f, pickIndices(f.n, f.n, 99));
    const a = compareFeatures(reference, f, { kidSubsets: 3 });
    const b = compareFeatures(reference, permuted, { kidSubsets: 3 });
    // Every metric reads its rows in a canonical order, so the same features in another
    // order give bit-identical results (IEEE double arithmetic in JS is the same on every
    // CPU); a tolerance here would only hide an order dependence.
    expect(b).toEqual(a);
    // And the extractor: a permuted batch gives the permuted features. These come from MLX
    // in float32 through BLAS kernels whose blocking (and so summation order) may depend on
    // a row's position in the batch and on the CPU. A length-K dot product's rounding error
    // is at most K u |x||w| (u = 2^-24); the classifier's longest reductions are its 3x3
    // convolutions over 32 channels (K = 288), and fewer than 8 layers stack them, so the
    // bound used is 8 * 288 * u of the largest feature (1.4e-4 relative). A batch that mixes
    // images up moves features by their own scale.
    const idx = pickIndices(trainA.count, trainA.count, 5);
    const g = await features(selectImages(trainA, idx));
    const expected = selectRows(f, idx);
    const scale = Math.max(...Array.from(f.data, Math.abs));
    let worst = 0;
    for (let i = 0; i < g.data.length; i++)
      worst = Math.max(worst, Math.abs((g.data[i] as number) - (expected.data[i] as number)));
    expect(worst).toBeLessThanOrEqual(8 * 288 * 2 ** -24 * scale);
  });
});
