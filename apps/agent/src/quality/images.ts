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

/** The images of each class `pickStratified` needs for n rows: class c sits on rows c, c + K, .... */
function perClass(classes: number, n: number): number[] {
  return Array.from(
    { length: classes },
    (_, c) => Math.floor(n / classes) + (c < n % classes ? 1 : 0),
  );
}

/** Whether `labels` hold enough images of every class for `pickStratified(labels, classes, n)`. */
export function stratifiable(labels: Int32Array, classes: number, n: number): boolean {
  const counts = new Array<number>(classes).fill(0);
  for (const label of labels)
    if (label >= 0 && label < classes) counts[label] = (counts[label] as number) + 1;
  return perClass(classes, n).every((need, c) => need <= (counts[c] as number));
}

/**
 * `n` distinct indices whose row i has class i mod `classes`: the layout in which the engine
 * draws class-conditional samples. Each class's images are taken in an order reproducible from
 * `seed`. A random draw's class proportions wander (at n = 500 of MNIST, by a few images per
 * class), and FD on a classifier's features follows them; drawing the real sets in the samples'
 * layout takes that noise out of both the floor and every sample set's FD.
 */
export function pickStratified(
  labels: Int32Array,
  classes: number,
  n: number,
  seed: number,
): Int32Array {
  if (!(Number.isInteger(classes) && classes > 0))
    throw new RangeError(`classes must be a positive integer, got ${classes}`);
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] as number;
    if (label < 0 || label >= classes)
      throw new RangeError(`image ${i} has label ${label}, outside 0..${classes - 1}`);
    (byClass[label] as number[]).push(i);
  }
  const random = seededRandom(seed);
  const needs = perClass(classes, n);
  const order = byClass.map((ix, c) => {
    const need = needs[c] as number;
    if (need > ix.length)
      throw new RangeError(
        `n = ${n} needs ${need} images of class ${c} (row i has class i mod ${classes}); the split has ${ix.length}`,
      );
    return sampleWithoutReplacement(Int32Array.from(ix), need, random);
  });
  return Int32Array.from(
    { length: n },
    (_, i) => (order[i % classes] as Int32Array)[Math.floor(i / classes)] as number,
  );
}
