import { join } from 'node:path';
import { z } from 'zod';
import { datasetRefSchema } from '../ref.ts';

/**
 * The contract with the C++ engine, which `mlx::core::load_safetensors` each shard and
 * samples batches natively:
 *   <ANNEAL_HOME>/datasets/<contentHash>/<resolution>/
 *     manifest.json                      (shardManifestSchema)
 *     train-00000.safetensors, ...       (one or more per split, numbered from 0)
 *     heldout-00000.safetensors, ...
 * Each shard holds exactly two tensors:
 *   `labels` I32 [N]         class index, -1 when the dataset has no labels
 *   `images` U8  [N, H, W, C] NHWC, row-major, C = 1 (grey) or 3 (RGB)
 * (labels first so both tensors start 4-byte aligned), and `__metadata__` strings:
 * format, dataset_hash, resolution, split, channels, shard_index, shard_count.
 */
export const SHARD_FORMAT = 'anneal.shard.v1';
export const SPLITS = ['train', 'heldout'] as const;
export type SplitName = (typeof SPLITS)[number];

export function shardFileName(split: SplitName, index: number): string {
  return `${split}-${String(index).padStart(5, '0')}.safetensors`;
}

export function datasetsRoot(home: string): string {
  return join(home, 'datasets');
}

export function shardDir(home: string, hash: string, resolution: number): string {
  return join(datasetsRoot(home), hash, String(resolution));
}

const shardEntrySchema = z
  .object({
    file: z.string().regex(/^(train|heldout)-\d{5}\.safetensors$/),
    count: z.number().int().min(0),
    /** sha256 of the shard file, so a consumer can verify what it loads. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

const splitSchema = z
  .object({ count: z.number().int().min(0), shards: z.array(shardEntrySchema) })
  .strict();

export const shardManifestSchema = z
  .object({
    format: z.literal(SHARD_FORMAT),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    source: datasetRefSchema,
    resolution: z.number().int().min(1),
    height: z.number().int().min(1),
    width: z.number().int().min(1),
    channels: z.union([z.literal(1), z.literal(3)]),
    /** Class names by label; empty when the dataset has no labels (labels are then -1). */
    classes: z.array(z.string()),
    splits: z.object({ train: splitSchema, heldout: splitSchema }).strict(),
  })
  .strict();

export type ShardManifest = z.infer<typeof shardManifestSchema>;
