// The dataset a checkpoint was trained on, re-materialized from its config.json: by the
// ref recorded there (a built-in with its options, a version by content hash).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { resolveAnnealHome } from '@anneal/core/home';
import { importFolder } from '@anneal/datasets/folder';
import type { DatasetRef } from '@anneal/datasets/ref';
import { materialize, materializeBuckets } from '@anneal/datasets/shards';
import { versionManifestPath } from '@anneal/datasets/store';
import type { ModelConfig } from '@anneal/engine';
import type { LocalDataset } from '../dataset.ts';

/** The dataset ref a checkpoint recorded (older ones: a built-in by name, or a version by hash). */
function recordedRef(info: NonNullable<ModelConfig['dataset']>): DatasetRef {
  return (
    info.ref ??
    (info.name === 'mnist' || info.name === 'shapes'
      ? { kind: 'builtin', name: info.name }
      : { kind: 'version', id: info.hash, hash: info.hash })
  );
}

/**
 * A folder's version is kept in ANNEAL_HOME's store by the run that imported it. On another
 * machine (or a fresh ANNEAL_HOME) the same folder at the recorded path is imported again:
 * the same files make the same version, which is checked against the recorded hash.
 */
async function importAgain(
  info: NonNullable<ModelConfig['dataset']>,
  ref: DatasetRef,
  source: string,
  home?: string,
): Promise<void> {
  if (ref.kind !== 'version' || !info.name.startsWith('folder:')) return;
  if (existsSync(versionManifestPath(home ?? resolveAnnealHome(), ref.hash))) return;
  const folder = info.name.slice('folder:'.length);
  if (!existsSync(folder)) return;
  const report = await importFolder(folder, { home });
  if (report.ref.hash !== ref.hash)
    throw new AppError(
      'CONFLICT',
      `${source}: the folder ${folder} now makes dataset version ${report.ref.hash}, but the model was trained on ${ref.hash}`,
    );
}

export async function modelDataset(
  config: ModelConfig,
  source: string,
  home?: string,
  /** Materialize at this resolution instead of the one the model was trained at. */
  resolution?: number,
): Promise<LocalDataset> {
  const info = config.dataset;
  if (!info)
    throw new AppError(
      'BAD_REQUEST',
      `${source} has no "dataset" entry; evaluation needs the dataset the model was trained on`,
    );
  // The recorded ref keeps a built-in's options; checkpoints from before it was recorded
  // name a built-in (with default options) or a version by its hash.
  const ref = recordedRef(info);
  await importAgain(info, ref, source, home);
  let m: Awaited<ReturnType<typeof materialize>>;
  try {
    m = await materialize(ref, { resolution: resolution ?? info.resolution, home });
  } catch (err) {
    throw new AppError(
      'NOT_FOUND',
      `${source}: dataset "${info.name}" (hash ${info.hash}) cannot be materialized: ${(err as Error).message}`,
    );
  }
  if (m.manifest.hash !== info.hash)
    throw new AppError(
      'CONFLICT',
      `${source}: dataset "${info.name}" now hashes to ${m.manifest.hash}, but the model was trained on ${info.hash}`,
    );
  return {
    name: info.name,
    ref: m.manifest.source,
    hash: m.manifest.hash,
    resolution: resolution ?? info.resolution,
    channels: m.manifest.channels,
    classes: m.manifest.classes,
    train: m.manifest.splits.train.shards.map((s) => join(m.dir, s.file)),
    heldout: m.manifest.splits.heldout.shards.map((s) => join(m.dir, s.file)),
    trainCount: m.manifest.splits.train.count,
  };
}

/**
 * A multi-resolution checkpoint's aspect buckets (config.json's `buckets`), each its own
 * dataset: the version sorted as training sorted it, so each bucket's held-out images are the
 * real images of that aspect. Keyed "HxW". Throws BAD_REQUEST for a model without buckets and
 * CONFLICT when the version now sorts into other shapes.
 */
export async function modelBucketDatasets(
  config: ModelConfig,
  source: string,
  home?: string,
): Promise<Map<string, LocalDataset>> {
  const info = config.dataset;
  const sorting = config.buckets;
  if (!info || !sorting)
    throw new AppError(
      'BAD_REQUEST',
      `${source} has no "buckets" entry: only a multi-resolution model (trained with --multi-resolution) has aspect buckets`,
    );
  const ref = recordedRef(info);
  await importAgain(info, ref, source, home);
  let made: Awaited<ReturnType<typeof materializeBuckets>>;
  try {
    made = await materializeBuckets(ref, {
      target: sorting.target,
      factor: sorting.factor,
      minCount: sorting.min_count,
      home,
    });
  } catch (err) {
    throw new AppError(
      err instanceof AppError ? err.code : 'NOT_FOUND',
      `${source}: dataset "${info.name}" (hash ${info.hash}) cannot be sorted into its buckets: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const name = (s: { height: number; width: number }) => `${s.height}x${s.width}`;
  const now = made.map(name).join(', ');
  const then = sorting.shapes.map(name).join(', ');
  if (now !== then)
    throw new AppError(
      'CONFLICT',
      `${source}: dataset "${info.name}" now sorts into buckets ${now}, but the model was trained on ${then}`,
    );
  const out = new Map<string, LocalDataset>();
  for (const b of made)
    out.set(name(b), {
      name: info.name,
      ref,
      hash: info.hash,
      resolution: b.height,
      ...(b.width !== b.height ? { width: b.width } : {}),
      bucket: `buckets-${sorting.target}-${sorting.factor}-${sorting.min_count}/${name(b)}`,
      channels: b.manifest.channels,
      classes: b.manifest.classes,
      train: b.manifest.splits.train.shards.map((s) => join(b.dir, s.file)),
      heldout: b.manifest.splits.heldout.shards.map((s) => join(b.dir, s.file)),
      trainCount: b.manifest.splits.train.count,
      heldoutCount: b.manifest.splits.heldout.count,
    });
  return out;
}
