import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { resolveAnnealHome } from '@anneal/core/home';
import { DEFAULT_LIMITS, type ImageLimits } from '../folder/decode.ts';
import { loadVersionImages } from '../folder/version.ts';
import { refContentHash } from '../hash/builtin.ts';
import type { ImageBatch } from '../images.ts';
import { loadMnist } from '../mnist/load.ts';
import { type DatasetRef, type DatasetRefInput, datasetRefSchema } from '../ref.ts';
import { generateShapes } from '../shapes/render.ts';
import { SHARD_FORMAT, type ShardManifest, shardDir, shardManifestSchema } from './layout.ts';
import { writeShardSet } from './write.ts';

export interface MaterializeOptions {
  resolution: number;
  /** Defaults to resolveAnnealHome(). */
  home?: string;
  /** Image bytes per shard before a split rolls over to the next file (default 1 GiB). */
  maxShardBytes?: number;
  /** Decoding limits for dataset versions (defaults: DEFAULT_LIMITS, as at import). */
  limits?: Partial<ImageLimits>;
}

export interface Materialized {
  dir: string;
  manifest: ShardManifest;
  /** True when the shards were already there and nothing was generated or written. */
  cached: boolean;
}

interface Splits {
  train: ImageBatch;
  heldOut: ImageBatch;
  classes: readonly string[];
}

async function generate(
  ref: DatasetRef,
  options: MaterializeOptions,
  home: string,
): Promise<Splits> {
  const { resolution } = options;
  if (ref.kind === 'version') {
    return loadVersionImages(home, ref.hash, resolution, { ...DEFAULT_LIMITS, ...options.limits });
  }
  if (ref.name === 'mnist') return loadMnist(resolution, ref.options);
  return generateShapes(resolution, ref.options);
}

/**
 * The cached shard manifest in `dir`: null when there is none, `{ corrupt }` naming why
 * when it cannot be read (a disk error or an edit; the folder is only ever renamed into
 * place complete), so the cache is rebuilt instead of failing every job on it.
 */
async function readManifest(dir: string): Promise<ShardManifest | null | { corrupt: string }> {
  const path = join(dir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { corrupt: `shard manifest ${path} is not JSON (${(err as Error).message})` };
  }
  const parsed = shardManifestSchema.safeParse(json);
  if (!parsed.success)
    return { corrupt: `shard manifest ${path} is invalid: ${parsed.error.message}` };
  return parsed.data;
}

/**
 * Makes the tensor shards for a dataset at one resolution, cached by (content hash,
 * resolution): if `<home>/datasets/<hash>/<resolution>/manifest.json` exists, nothing is
 * done. Otherwise everything is written into a temporary sibling folder and renamed into
 * place in one step, so a crash or a concurrent run never leaves half a dataset behind.
 */
export async function materialize(
  refInput: DatasetRefInput,
  options: MaterializeOptions,
): Promise<Materialized> {
  const parsed = datasetRefSchema.safeParse(refInput);
  if (!parsed.success)
    throw new AppError('BAD_REQUEST', `invalid dataset ref: ${parsed.error.message}`);
  const ref = parsed.data;
  const home = options.home ?? resolveAnnealHome();
  const { resolution } = options;
  if (!Number.isInteger(resolution) || resolution < 1) {
    throw new AppError('BAD_REQUEST', `resolution ${resolution} must be a positive integer`);
  }
  const hash = refContentHash(ref);
  const dir = shardDir(home, hash, resolution);

  const existing = await readManifest(dir);
  if (existing && !('corrupt' in existing)) return { dir, manifest: existing, cached: true };
  // A damaged cache is made again from the source, like a missing one.
  if (existing) await rm(dir, { recursive: true, force: true });

  const data = await generate(ref, options, home);
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `.tmp-${resolution}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  try {
    const common = {
      datasetHash: hash,
      resolution,
      maxShardBytes: options.maxShardBytes ?? 2 ** 30,
    };
    const train = await writeShardSet(tmp, data.train, { ...common, split: 'train' });
    const heldout = await writeShardSet(tmp, data.heldOut, { ...common, split: 'heldout' });
    const manifest = shardManifestSchema.parse({
      format: SHARD_FORMAT,
      hash,
      source: ref,
      resolution,
      height: data.train.height,
      width: data.train.width,
      channels: data.train.channels,
      classes: [...data.classes],
      splits: {
        train: { count: data.train.count, shards: train },
        heldout: { count: data.heldOut.count, shards: heldout },
      },
    });
    await writeFile(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another process finished the same dataset first; its copy is equally good.
      const code = (err as NodeJS.ErrnoException).code;
      const theirs = code === 'ENOTEMPTY' || code === 'EEXIST' ? await readManifest(dir) : null;
      if (!theirs) throw err;
      if ('corrupt' in theirs) throw new AppError('INTERNAL', theirs.corrupt, { cause: err });
      await rm(tmp, { recursive: true, force: true });
      return { dir, manifest: theirs, cached: true };
    }
    return { dir, manifest, cached: false };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
