/**
 * A batch of images as the engine wants them: uint8 NHWC, row-major, plus int32 labels
 * (-1 where a dataset has no labels).
 */
export interface ImageBatch {
  images: Uint8Array;
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
  channels: number;
}

export function imageBytes(batch: Pick<ImageBatch, 'height' | 'width' | 'channels'>): number {
  return batch.height * batch.width * batch.channels;
}

/** Copies the listed images (in that order) into a new batch. */
export function selectImages(batch: ImageBatch, indices: ArrayLike<number>): ImageBatch {
  const per = imageBytes(batch);
  const images = new Uint8Array(indices.length * per);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const src = indices[i] as number;
    if (src < 0 || src >= batch.count)
      throw new RangeError(`image index ${src} outside 0..${batch.count - 1}`);
    images.set(batch.images.subarray(src * per, (src + 1) * per), i * per);
    labels[i] = batch.labels[src] as number;
  }
  return { ...batch, images, labels, count: indices.length };
}

/**
 * Tiles the first rows*cols images into one HWC image with a 1-pixel gap, for looking at
 * a dataset (sample grids under docs/).
 */
export function tileGrid(batch: ImageBatch, cols: number, rows: number): ImageBatch {
  const { height: h, width: w, channels: c } = batch;
  const gh = rows * (h + 1) + 1;
  const gw = cols * (w + 1) + 1;
  const out = new Uint8Array(gh * gw * c).fill(128);
  const per = imageBytes(batch);
  for (let k = 0; k < Math.min(rows * cols, batch.count); k++) {
    const oy = Math.floor(k / cols) * (h + 1) + 1;
    const ox = (k % cols) * (w + 1) + 1;
    for (let y = 0; y < h; y++) {
      const src = batch.images.subarray(k * per + y * w * c, k * per + (y + 1) * w * c);
      out.set(src, ((oy + y) * gw + ox) * c);
    }
  }
  return { images: out, labels: new Int32Array(0), count: 1, height: gh, width: gw, channels: c };
}
