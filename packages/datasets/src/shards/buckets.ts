import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { resolveAnnealHome } from '@anneal/core/home';
import { z } from 'zod';
import { DEFAULT_LIMITS, decodeImageTo, type ImageLimits, imageSize } from '../folder/decode.ts';
import type { ImageBatch } from '../images.ts';
import type { DatasetRef } from '../ref.ts';
import { getObject, getVersion } from '../store.ts';
import { datasetsRoot, SHARD_FORMAT, type ShardManifest, shardManifestSchema } from './layout.ts';
import { writeShardSet } from './write.ts';

/**
 * Multi-resolution buckets (issue 16 §1): a dataset version of mixed sizes and aspects
 * becomes one set of shards per bucket shape instead of one square, so nothing is cropped
 * to a square or squashed. A bucket's sides are multiples of the U-Net's downsampling factor
 * 2^(levels-1) and its pixel count is near target^2 (SDXL's aspect buckets, at multiples of 64
 * around 1024^2 for its deeper net, are the same idea).
 */
export interface BucketShape {
  height: number;
  width: number;
}

/** Aspect ratios (width / height) beyond this either way get the most extreme bucket. */
export const MAX_BUCKET_ASPECT = 2;

/**
 * Candidate shapes: for each width a multiple of `factor`, the multiple-of-`factor` height
 * whose pixel count is nearest target^2, kept when the count is within 1/4 of target^2 and
 * the aspect within MAX_BUCKET_ASPECT; ordered by aspect (width / height), the square first
 * among equals. The square target x target is always one (target itself a multiple).
 */
export function bucketShapes(target: number, factor: number): BucketShape[] {
  if (!Number.isInteger(factor) || factor < 1)
    throw new RangeError(`factor ${factor} must be >= 1`);
  if (target % factor !== 0)
    throw new RangeError(`target ${target} is not a multiple of the factor ${factor}`);
  const area = target * target;
  const out: BucketShape[] = [];
  for (let width = factor; width <= target * MAX_BUCKET_ASPECT; width += factor) {
    const height = Math.max(factor, Math.round(area / width / factor) * factor);
    const aspect = width / height;
    if (aspect > MAX_BUCKET_ASPECT || aspect < 1 / MAX_BUCKET_ASPECT) continue;
    if (Math.abs(width * height - area) > area / 4) continue;
    if (!out.some((s) => s.width === width && s.height === height)) out.push({ height, width });
  }
  return out.sort((a, b) => a.width / a.height - b.width / b.height);
}

/** The shape whose aspect is nearest `aspect` (width / height) in log space. */
export function nearestBucket(shapes: readonly BucketShape[], aspect: number): number {
  let best = 0;
  let bestGap = Number.POSITIVE_INFINITY;
  shapes.forEach((s, i) => {
    const gap = Math.abs(Math.log(s.width / s.height) - Math.log(aspect));
    if (gap < bestGap - 1e-12) {
      best = i;
      bestGap = gap;
    }
  });
  return best;
}

/**
 * Each image's bucket: the nearest aspect among `shapes`; then, while a bucket holds fewer
 * than `minCount` training images (the trainer draws whole batches from one bucket), the
 * smallest such bucket is dropped and its images go to the nearest remaining one. Returns
 * the buckets kept (in shape order) and each image's index into them.
 */
export function assignBuckets(
  aspects: readonly number[],
  isTrain: readonly boolean[],
  shapes: readonly BucketShape[],
  minCount: number,
): { shapes: BucketShape[]; bucketOf: number[] } {
  let kept = [...shapes];
  for (;;) {
    const bucketOf = aspects.map((a) => nearestBucket(kept, a));
    const counts = kept.map((_, b) => bucketOf.filter((x, i) => x === b && isTrain[i]).length);
    const used = kept.filter((_, b) => (counts[b] as number) > 0 || kept.length === 1);
    if (used.length < kept.length) {
      kept = used;
      continue;
    }
    const small = counts
      .map((c, b) => ({ c, b }))
      .filter(({ c }) => c < minCount)
      .sort((x, y) => x.c - y.c)[0];
    if (!small || kept.length === 1) return { shapes: kept, bucketOf };
    kept = kept.filter((_, b) => b !== small.b);
  }
}

const bucketIndexSchema = z.object({
  format: z.literal('anneal.buckets.v1'),
  target: z.number().int(),
  factor: z.number().int(),
  min_count: z.number().int(),
  buckets: z.array(
    z.object({ height: z.number().int(), width: z.number().int(), dir: z.string() }),
  ),
});

export interface MaterializedBucket extends BucketShape {
  dir: string;
  manifest: ShardManifest;
}

export interface MaterializeBucketsOptions {
  /** The run's resolution: buckets hold about target^2 pixels. */
  target: number;
  /** 2^(levels-1) of the U-Net. */
  factor: number;
  /** Fewest training images per bucket (the largest batch a bucket will be drawn with). */
  minCount: number;
  home?: string;
  limits?: Partial<ImageLimits>;
  maxShardBytes?: number;
}

/**
 * Materializes a dataset version (which keeps its original files) into bucket shards, cached
 * under `<home>/datasets/<hash>/buckets-<target>-<factor>-<minCount>/<H>x<W>/` (each folder a
 * standard shard set with its manifest). Each image goes to the bucket of nearest aspect,
 * resized to cover it and center-cropped (never squashed nor padded, whatever the version's
 * square fit policy). Built-in datasets are square: refused.
 */
export async function materializeBuckets(
  ref: DatasetRef,
  options: MaterializeBucketsOptions,
): Promise<MaterializedBucket[]> {
  if (ref.kind !== 'version')
    throw new AppError(
      'BAD_REQUEST',
      `multi-resolution buckets need a dataset version of mixed sizes (an imported folder); the built-in ${ref.name} is square`,
    );
  const home = options.home ?? resolveAnnealHome();
  const { target, factor, minCount } = options;
  const root = join(datasetsRoot(home), ref.hash, `buckets-${target}-${factor}-${minCount}`);
  const cached = await readBucketIndex(root);
  if (cached) return cached;

  const manifest = await getVersion(home, ref.hash);
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const held = new Set(manifest.heldOut);
  const fail = (relpath: string, err: Error) =>
    new AppError('BAD_REQUEST', `dataset ${ref.hash} file "${relpath}": ${err.message}`, {
      cause: err,
    });
  // One file at a time (sizes first, pixels per bucket after): a version can be larger than
  // memory as files, never as decoded buckets.
  const files = [];
  for (const f of manifest.files) {
    const size = await imageSize(await getObject(home, f.sha256), limits).catch((err: Error) => {
      throw fail(f.relpath, err);
    });
    files.push({ ...f, aspect: size.width / size.height, train: !held.has(f.relpath) });
  }
  const { shapes, bucketOf } = assignBuckets(
    files.map((f) => f.aspect),
    files.map((f) => f.train),
    bucketShapes(target, factor),
    minCount,
  );
  const parent = dirname(root);
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `.tmp-buckets-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  try {
    const index: z.infer<typeof bucketIndexSchema> = {
      format: 'anneal.buckets.v1',
      target,
      factor,
      min_count: minCount,
      buckets: [],
    };
    for (const [b, shape] of shapes.entries()) {
      const mine = files.filter((_, i) => bucketOf[i] === b);
      const batch = async (group: typeof mine): Promise<ImageBatch> => {
        const per = shape.height * shape.width * 3;
        const images = new Uint8Array(group.length * per);
        const labels = new Int32Array(group.length).fill(-1);
        for (const [i, f] of group.entries()) {
          const pixels = await decodeImageTo(
            await getObject(home, f.sha256),
            shape,
            'center-crop',
            limits,
          ).catch((err: Error) => {
            throw fail(f.relpath, err);
          });
          images.set(pixels, i * per);
          if (f.label !== undefined) labels[i] = f.label;
        }
        return { images, labels, count: group.length, ...shape, channels: 3 };
      };
      const train = await batch(mine.filter((f) => f.train));
      const heldOut = await batch(mine.filter((f) => !f.train));
      const name = `${shape.height}x${shape.width}`;
      const dir = join(tmp, name);
      await mkdir(dir);
      const common = {
        datasetHash: ref.hash,
        resolution: target,
        maxShardBytes: options.maxShardBytes ?? 2 ** 30,
      };
      const m = shardManifestSchema.parse({
        format: SHARD_FORMAT,
        hash: ref.hash,
        source: ref,
        resolution: target,
        ...shape,
        channels: 3,
        classes: manifest.classes,
        splits: {
          train: {
            count: train.count,
            shards: await writeShardSet(dir, train, { ...common, split: 'train' }),
          },
          heldout: {
            count: heldOut.count,
            shards: await writeShardSet(dir, heldOut, { ...common, split: 'heldout' }),
          },
        },
      });
      await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(m, null, 2)}\n`);
      index.buckets.push({ ...shape, dir: name });
    }
    await writeFile(join(tmp, 'buckets.json'), `${JSON.stringify(index, null, 2)}\n`);
    try {
      await rename(tmp, root);
    } catch (err) {
      // Another process made the same buckets first; theirs are equally good.
      const theirs = await readBucketIndex(root);
      if (!theirs) throw err;
      await rm(tmp, { recursive: true, force: true });
      return theirs;
    }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return (await readBucketIndex(root)) as MaterializedBucket[];
}

async function readBucketIndex(root: string): Promise<MaterializedBucket[] | null> {
  let index: z.infer<typeof bucketIndexSchema>;
  try {
    index = bucketIndexSchema.parse(JSON.parse(await readFile(join(root, 'buckets.json'), 'utf8')));
  } catch {
    return null;
  }
  const out: MaterializedBucket[] = [];
  for (const b of index.buckets) {
    const dir = join(root, b.dir);
    try {
      const manifest = shardManifestSchema.parse(
        JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')),
      );
      out.push({ height: b.height, width: b.width, dir, manifest });
    } catch {
      return null;
    }
  }
  return out;
}
