import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import type { ImageBatch } from '../images.ts';
import { selectImages } from '../images.ts';
import { splitIndices } from '../random.ts';
import {
  MNIST_CHANNELS,
  MNIST_CLASSES,
  MNIST_COUNT,
  MNIST_RESOLUTIONS,
  type MnistOptionsInput,
  mnistOptionsSchema,
} from './options.ts';

const NATIVE = 28;
const PIXELS = NATIVE * NATIVE;

let cached: ImageBatch | undefined;

/**
 * All 10,000 digits at 28x28, in the package's order (grouped by digit). The `mnist`
 * package stores one JSON file per digit, `{"data": [...]}`: a flat list of 28*28 floats
 * per image, row-major, in [0, 1] rounded to 3 decimals. The originals were bytes, and
 * 3 decimals are finer than 1/255, so round(v * 255) recovers each byte exactly.
 * We read the files rather than call the package, whose accessors use Math.random.
 */
export function loadMnistDigits(): ImageBatch {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('mnist/package.json'));
  const perDigit: number[][] = [];
  for (let digit = 0; digit < 10; digit++) {
    const file = join(root, 'src', 'digits', `${digit}.json`);
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown };
    if (!Array.isArray(parsed.data) || parsed.data.length % PIXELS !== 0) {
      throw new AppError(
        'INTERNAL',
        `mnist package file ${file}: expected {"data": [k * 784 numbers]}`,
      );
    }
    perDigit.push(parsed.data as number[]);
  }
  const count = perDigit.reduce((n, d) => n + d.length / PIXELS, 0);
  if (count !== MNIST_COUNT) {
    throw new AppError('INTERNAL', `mnist package holds ${count} digits, expected ${MNIST_COUNT}`);
  }
  const images = new Uint8Array(count * PIXELS);
  const labels = new Int32Array(count);
  let at = 0;
  perDigit.forEach((data, digit) => {
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
        throw new AppError(
          'INTERNAL',
          `mnist digit ${digit} file: value ${String(v)} at ${i} is outside [0, 1]`,
        );
      }
      images[at * PIXELS + i] = Math.round(v * 255);
    }
    labels.fill(digit, at, at + data.length / PIXELS);
    at += data.length / PIXELS;
  });
  cached = { images, labels, count, height: NATIVE, width: NATIVE, channels: MNIST_CHANNELS };
  return cached;
}

/** Zero-pads 28x28 digits by (size - 28) / 2 on each side. */
function pad(batch: ImageBatch, size: number): ImageBatch {
  const p = (size - NATIVE) / 2;
  const out = new Uint8Array(batch.count * size * size);
  for (let k = 0; k < batch.count; k++) {
    for (let y = 0; y < NATIVE; y++) {
      const src = batch.images.subarray(k * PIXELS + y * NATIVE, k * PIXELS + (y + 1) * NATIVE);
      out.set(src, k * size * size + (y + p) * size + p);
    }
  }
  return { ...batch, images: out, height: size, width: size };
}

export interface MnistSplit {
  train: ImageBatch;
  heldOut: ImageBatch;
  /** Indices into the package's order, for checking the split. */
  trainIndices: Uint32Array;
  heldOutIndices: Uint32Array;
  classes: readonly string[];
}

/** MNIST as uint8 NHWC [N, R, R, 1] with int32 labels, split into train and held-out by seed. */
export function loadMnist(resolution: number, options: MnistOptionsInput = {}): MnistSplit {
  if (!(MNIST_RESOLUTIONS as readonly number[]).includes(resolution)) {
    throw new AppError(
      'BAD_REQUEST',
      `MNIST resolution ${resolution} is not supported: use 28 (native) or 32 (zero-padded)`,
    );
  }
  const opts = mnistOptionsSchema.parse(options);
  const all = loadMnistDigits();
  const split = splitIndices(all.count, opts.heldOut, opts.seed);
  const sized = resolution === NATIVE ? all : pad(all, resolution);
  return {
    train: selectImages(sized, split.train),
    heldOut: selectImages(sized, split.heldOut),
    trainIndices: split.train,
    heldOutIndices: split.heldOut,
    classes: MNIST_CLASSES,
  };
}
