import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { type ImageBatch, imageBytes } from '../images.ts';
import { SHARD_FORMAT, type SplitName, shardFileName } from './layout.ts';
import { encodeHeader, type Tensor } from './safetensors.ts';

/** Int32 labels as little-endian bytes, whatever the host's byte order. */
function labelBytes(labels: Int32Array): Uint8Array {
  const out = new Uint8Array(labels.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < labels.length; i++) view.setInt32(i * 4, labels[i] as number, true);
  return out;
}

export interface WrittenShard {
  file: string;
  count: number;
  sha256: string;
}

export interface ShardSetOptions {
  split: SplitName;
  datasetHash: string;
  resolution: number;
  /** Upper bound on image bytes per shard; at least one image goes in each shard. */
  maxShardBytes: number;
}

/** Writes one shard file (new, exclusive) and returns its sha256. */
async function writeShardFile(
  path: string,
  tensors: Array<[string, Tensor]>,
  metadata: Record<string, string>,
) {
  const head = encodeHeader(tensors, metadata);
  const hash = createHash('sha256').update(head);
  const fh = await open(path, 'wx');
  try {
    await fh.write(head);
    for (const [, t] of tensors) {
      hash.update(t.data);
      await fh.write(t.data);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

/**
 * Writes a split as numbered shards into `dir`. An empty split still gets one shard with
 * N = 0, so the engine can always open `<split>-00000`.
 */
export async function writeShardSet(
  dir: string,
  batch: ImageBatch,
  opts: ShardSetOptions,
): Promise<WrittenShard[]> {
  const per = imageBytes(batch);
  const perShard = Math.max(1, Math.floor(opts.maxShardBytes / per));
  const shardCount = Math.max(1, Math.ceil(batch.count / perShard));
  const written: WrittenShard[] = [];
  for (let s = 0; s < shardCount; s++) {
    const start = s * perShard;
    const end = Math.min(batch.count, start + perShard);
    const n = end - start;
    const tensors: Array<[string, Tensor]> = [
      ['labels', { dtype: 'I32', shape: [n], data: labelBytes(batch.labels.subarray(start, end)) }],
      [
        'images',
        {
          dtype: 'U8',
          shape: [n, batch.height, batch.width, batch.channels],
          data: batch.images.subarray(start * per, end * per),
        },
      ],
    ];
    const metadata = {
      format: SHARD_FORMAT,
      dataset_hash: opts.datasetHash,
      resolution: String(opts.resolution),
      split: opts.split,
      channels: String(batch.channels),
      shard_index: String(s),
      shard_count: String(shardCount),
    };
    const file = shardFileName(opts.split, s);
    const sha256 = await writeShardFile(join(dir, file), tensors, metadata);
    written.push({ file, count: n, sha256 });
  }
  return written;
}
