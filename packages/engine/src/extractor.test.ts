import { cpSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { materialize } from '@anneal/datasets/shards';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type ExtractorConfig,
  type ExtractorTraining,
  extractorKey,
  FeatureExtractor,
  shippedExtractorDirs,
} from './extractor.ts';

const home = mkdtempSync(join(tmpdir(), 'anneal-extractor-'));
let data: { hash: string; train: string[]; heldout: string[] };

const config: ExtractorConfig = {
  kind: 'classifier',
  resolution: 16,
  inChannels: 3,
  channels: [16, 32],
  featureDim: 32,
  groups: 8,
  numClasses: 5,
};
const training: ExtractorTraining = {
  steps: 150,
  batchSize: 32,
  lr: 3e-3,
  warmupSteps: 10,
  weightDecay: 1e-4,
  gradClip: 1,
  noise: 0.3,
  shift: 0,
  seed: 0,
};

beforeAll(async () => {
  const m = await materialize(
    { kind: 'builtin', name: 'shapes', options: { count: 1200, heldOut: 200 } },
    { resolution: 16, home },
  );
  data = {
    hash: m.manifest.hash,
    train: m.manifest.splits.train.shards.map((s) => join(m.dir, s.file)),
    heldout: m.manifest.splits.heldout.shards.map((s) => join(m.dir, s.file)),
  };
});

describe('FeatureExtractor', () => {
  it('trains a shapes classifier, reports held-out accuracy, and is reused from the cache', async () => {
    const steps: number[] = [];
    const first = await FeatureExtractor.obtain({
      datasetHash: data.hash,
      trainShards: data.train,
      heldoutShards: data.heldout,
      config,
      training,
      home,
      onProgress: (s) => steps.push(s),
    });
    expect(first.cached).toBe(false);
    expect(steps.at(-1)).toBe(150);
    expect(first.metadata.heldoutCount).toBe(200);
    // Five shapes at 16x16 are easy; chance is 20%.
    expect(first.metadata.heldoutAccuracy).toBeGreaterThan(0.75);
    expect(first.dir).toBe(join(home, 'extractors', first.id));
    const mtime = statSync(first.weightsPath).mtimeMs;

    const again = await FeatureExtractor.obtain({
      datasetHash: data.hash,
      trainShards: data.train,
      heldoutShards: data.heldout,
      config,
      training,
      home,
      onProgress: () => {
        throw new Error('a cached extractor must not be retrained');
      },
    });
    expect(again.cached).toBe(true);
    expect(again.id).toBe(first.id);
    expect(statSync(again.weightsPath).mtimeMs).toBe(mtime);

    // Features: deterministic, one row per image, and logits agree with the held-out labels.
    const pixels = new Uint8Array(4 * 16 * 16 * 3).fill(40);
    const a = await again.features(pixels, [4, 16, 16, 3]);
    const b = await again.features(pixels, [4, 16, 16, 3]);
    expect(a.features.n).toBe(4);
    expect(a.features.dim).toBe(32);
    expect(a.logits.length).toBe(4 * 5);
    expect([...a.features.data]).toEqual([...b.features.data]);
    await expect(again.features(new Uint8Array(8 * 8 * 3), [1, 8, 8, 3])).rejects.toThrow(
      /\[N, 16, 16, 3\]/,
    );
  });

  it('prefers a shipped extractor to the cache and to training, and names its weights', async () => {
    const options = {
      datasetHash: data.hash,
      trainShards: data.train,
      heldoutShards: data.heldout,
      config,
      training,
      onProgress: () => {
        throw new Error('a shipped extractor must not be retrained');
      },
    };
    const cached = await FeatureExtractor.obtain({ ...options, home, onProgress: undefined });
    // The same recipe "retrained elsewhere": the cache holds other weights under the same id.
    const elsewhere = mkdtempSync(join(tmpdir(), 'anneal-extractor-elsewhere-'));
    const other = join(elsewhere, 'extractors', cached.id);
    cpSync(cached.dir, other, { recursive: true });
    const weights = readFileSync(join(other, 'extractor.safetensors'));
    const last = weights.length - 1;
    weights.writeUInt8(weights.readUInt8(last) ^ 1, last);
    writeFileSync(join(other, 'extractor.safetensors'), weights);

    const shippedDir = mkdtempSync(join(tmpdir(), 'anneal-extractor-shipped-'));
    cpSync(cached.dir, join(shippedDir, cached.id), { recursive: true });
    const shipped = await FeatureExtractor.obtain({
      ...options,
      home: elsewhere,
      shipped: [join(tmpdir(), 'no-such-folder'), shippedDir],
    });
    expect(shipped.source).toBe('shipped');
    expect(shipped.cached).toBe(true);
    expect(shipped.weightsSha256).toBe(cached.weightsSha256);
    const local = await FeatureExtractor.obtain({ ...options, home: elsewhere, shipped: [] });
    expect(local.source).toBe('cache');
    expect(local.weightsSha256).not.toBe(shipped.weightsSha256);

    // ANNEAL_EXTRACTORS replaces the repository's folder; empty means none.
    expect(shippedExtractorDirs({ ANNEAL_EXTRACTORS: `/a${delimiter}/b` })).toEqual(['/a', '/b']);
    expect(shippedExtractorDirs({ ANNEAL_EXTRACTORS: '' })).toEqual([]);
    expect(shippedExtractorDirs({})[0]).toMatch(/models[\\/]extractors$/);

    // A folder holding another id's extractor is refused, not measured with.
    const wrong = mkdtempSync(join(tmpdir(), 'anneal-extractor-wrong-'));
    cpSync(cached.dir, join(wrong, cached.id), { recursive: true });
    const meta = JSON.parse(readFileSync(join(wrong, cached.id, 'extractor.json'), 'utf8'));
    writeFileSync(
      join(wrong, cached.id, 'extractor.json'),
      JSON.stringify({ ...meta, id: 'f'.repeat(24) }),
    );
    await expect(FeatureExtractor.obtain({ ...options, home, shipped: [wrong] })).rejects.toThrow(
      /holds extractor f{24}, not/,
    );
  });

  it('keys the cache by dataset, config, training and seed', () => {
    const k = extractorKey(data.hash, config, training);
    expect(extractorKey(data.hash, { ...config }, { ...training })).toBe(k);
    expect(extractorKey(data.hash, config, { ...training, seed: 1 })).not.toBe(k);
    expect(extractorKey(data.hash, config, { ...training, shift: 2 })).not.toBe(k);
    expect(extractorKey(data.hash, { ...config, featureDim: 64 }, training)).not.toBe(k);
    expect(extractorKey('0'.repeat(64), config, training)).not.toBe(k);
  });

  it('trains with random shifts: a different network from the same seed, still learning', async () => {
    const options = {
      datasetHash: data.hash,
      trainShards: data.train,
      heldoutShards: data.heldout,
    };
    const losses: number[] = [];
    const shifted = await FeatureExtractor.obtain({
      ...options,
      config,
      training: { ...training, shift: 3 },
      home,
      onProgress: (_s, _t, loss) => losses.push(loss),
    });
    const plain = await FeatureExtractor.obtain({ ...options, config, training, home });
    expect(shifted.id).not.toBe(plain.id);
    expect(shifted.metadata.training.shift).toBe(3);
    // Same init and batches; only the shifts differ, so the held-out loss must too.
    expect(shifted.metadata.heldoutLoss).not.toBe(plain.metadata.heldoutLoss);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-20))).toBeLessThan(mean(losses.slice(0, 20)));
    expect(shifted.metadata.heldoutAccuracy).toBeGreaterThan(0.4);
  });

  it('trains a denoising autoencoder for unlabelled data', async () => {
    const losses: number[] = [];
    const ae = await FeatureExtractor.obtain({
      datasetHash: data.hash,
      trainShards: data.train,
      heldoutShards: data.heldout,
      config: { ...config, kind: 'autoencoder', numClasses: 0 },
      training: { ...training, steps: 20 },
      home,
      onProgress: (_s, _t, loss) => losses.push(loss),
    });
    expect(ae.metadata.heldoutAccuracy).toBeNull();
    expect(ae.metadata.heldoutLoss).toBeLessThan(losses[0] as number);
    const f = await ae.features(new Uint8Array(2 * 16 * 16 * 3), [2, 16, 16, 3]);
    expect(f.features.dim).toBe(32);
    expect(f.logits.length).toBe(0);
  });

  it('rejects a classifier without classes, naming the field', async () => {
    await expect(
      FeatureExtractor.obtain({
        datasetHash: data.hash,
        trainShards: data.train,
        heldoutShards: data.heldout,
        config: { ...config, numClasses: 0 },
        training,
        home,
      }),
    ).rejects.toThrow(/num_classes/);
  });
});
