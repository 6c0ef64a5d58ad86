import { readFile } from 'node:fs/promises';
import { AppError } from '@anneal/core/errors';
import type { ImageBatch } from '../images.ts';
import { SHARD_FORMAT } from './layout.ts';
import { decodeSafetensors } from './safetensors.ts';

export interface Shard extends ImageBatch {
  metadata: Record<string, string>;
}

/** Reads one shard and checks it holds the layout the engine expects. */
export async function readShard(path: string): Promise<Shard> {
  const bytes = await readFile(path);
  let parsed: ReturnType<typeof decodeSafetensors>;
  try {
    parsed = decodeSafetensors(bytes);
  } catch (err) {
    throw new AppError('BAD_REQUEST', `shard ${path}: ${(err as Error).message}`, { cause: err });
  }
  const { tensors, metadata } = parsed;
  const images = tensors.get('images');
  const labels = tensors.get('labels');
  const fail = (why: string) => new AppError('BAD_REQUEST', `shard ${path}: ${why}`);
  if (metadata.format !== SHARD_FORMAT)
    throw fail(`format "${metadata.format}" is not ${SHARD_FORMAT}`);
  if (tensors.size !== 2 || !images || !labels)
    throw fail('expected exactly the tensors "images" and "labels"');
  if (images.dtype !== 'U8' || images.shape.length !== 4)
    throw fail('images must be U8 [N, H, W, C]');
  if (labels.dtype !== 'I32' || labels.shape.length !== 1) throw fail('labels must be I32 [N]');
  const [count, height, width, channels] = images.shape as [number, number, number, number];
  if (labels.shape[0] !== count) throw fail(`${labels.shape[0]} labels for ${count} images`);
  const view = new DataView(labels.data.buffer, labels.data.byteOffset, labels.data.byteLength);
  const labelValues = new Int32Array(count);
  for (let i = 0; i < count; i++) labelValues[i] = view.getInt32(i * 4, true);
  return {
    images: new Uint8Array(images.data),
    labels: labelValues,
    count,
    height,
    width,
    channels,
    metadata,
  };
}
