// Real images for evaluation, read from a dataset's tensor shards.
import type { ImageBatch } from '@anneal/datasets/images';
import { readShard } from '@anneal/datasets/shards';
import { sampleWithoutReplacement, seededRandom } from '@anneal/engine/metrics';

/** Concatenates a split's shards into one batch. */
export async function readSplit(shards: string[]): Promise<ImageBatch> {
  if (shards.length === 0) throw new RangeError('a split needs at least one shard');
  const parts = await Promise.all(shards.map((s) => readShard(s)));
  const first = parts[0] as ImageBatch;
  const count = parts.reduce((a, p) => a + p.count, 0);
  const images = new Uint8Array(parts.reduce((a, p) => a + p.images.length, 0));
  const labels = new Int32Array(count);
  let offset = 0;
  let row = 0;
  for (const p of parts) {
    if (p.height !== first.height || p.width !== first.width || p.channels !== first.channels)
      throw new RangeError(`shards of one split differ in image size: ${shards.join(', ')}`);
    images.set(p.images, offset);
    labels.set(p.labels, row);
    offset += p.images.length;
    row += p.count;
  }
  return {
    images,
    labels,
    count,
    height: first.height,
    width: first.width,
    channels: first.channels,
  };
}

/** `n` distinct indices of 0..count-1, reproducible from `seed`. */
export function pickIndices(count: number, n: number, seed: number): Int32Array {
  if (n > count) throw new RangeError(`cannot pick ${n} of ${count} images`);
  return sampleWithoutReplacement(
    Int32Array.from({ length: count }, (_, i) => i),
    n,
    seededRandom(seed),
  );
}

export function shapeOf(b: ImageBatch): [number, number, number, number] {
  return [b.count, b.height, b.width, b.channels];
}
