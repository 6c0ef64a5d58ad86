// The dataset a checkpoint was trained on, re-materialized from its config.json: built-ins
// by name, anything else (imported folders, control-plane versions) by content hash.
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { materialize } from '@anneal/datasets/shards';
import type { ModelConfig } from '@anneal/engine';
import type { LocalDataset } from '../dataset.ts';

export async function modelDataset(
  config: ModelConfig,
  source: string,
  home?: string,
): Promise<LocalDataset> {
  const info = config.dataset;
  if (!info)
    throw new AppError(
      'BAD_REQUEST',
      `${source} has no "dataset" entry; evaluation needs the dataset the model was trained on`,
    );
  const ref =
    info.name === 'mnist' || info.name === 'shapes'
      ? ({ kind: 'builtin', name: info.name } as const)
      : ({ kind: 'version', id: info.hash, hash: info.hash } as const);
  let m: Awaited<ReturnType<typeof materialize>>;
  try {
    m = await materialize(ref, { resolution: info.resolution, home });
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
    hash: m.manifest.hash,
    resolution: info.resolution,
    channels: m.manifest.channels,
    classes: m.manifest.classes,
    train: m.manifest.splits.train.shards.map((s) => join(m.dir, s.file)),
    heldout: m.manifest.splits.heldout.shards.map((s) => join(m.dir, s.file)),
    trainCount: m.manifest.splits.train.count,
  };
}
