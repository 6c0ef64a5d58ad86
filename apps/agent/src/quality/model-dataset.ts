// The dataset a checkpoint was trained on, re-materialized from its config.json: by the
// ref recorded there (a built-in with its options, a version by content hash).
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import type { DatasetRef } from '@anneal/datasets/ref';
import { materialize } from '@anneal/datasets/shards';
import type { ModelConfig } from '@anneal/engine';
import type { LocalDataset } from '../dataset.ts';

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
  const ref: DatasetRef =
    info.ref ??
    (info.name === 'mnist' || info.name === 'shapes'
      ? { kind: 'builtin', name: info.name }
      : { kind: 'version', id: info.hash, hash: info.hash });
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
