/**
 * Writes the sample grids under docs/datasets/ that show what the built-in datasets look
 * like: MNIST at 32 and shapes at 32 for a few complexity settings, one setting per row
 * pair. Run with `npm run grids -w @anneal/datasets`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@anneal/core/home';
import sharp from 'sharp';
import { type ImageBatch, selectImages, tileGrid } from '../src/images.ts';
import { loadMnist } from '../src/mnist/load.ts';
import type { ShapesOptionsInput } from '../src/shapes/options.ts';
import { renderShapes } from '../src/shapes/render.ts';

const outDir = join(repoRoot, 'docs', 'datasets');
const SCALE = 3;

async function writeGrid(
  batch: ImageBatch,
  cols: number,
  rows: number,
  file: string,
): Promise<void> {
  const grid = tileGrid(batch, cols, rows);
  await sharp(grid.images, {
    raw: { width: grid.width, height: grid.height, channels: grid.channels as 1 | 3 },
  })
    .resize(grid.width * SCALE, grid.height * SCALE, { kernel: 'nearest' })
    .png()
    .toFile(join(outDir, file));
  console.log(`wrote docs/datasets/${file}`);
}

function concat(batches: ImageBatch[]): ImageBatch {
  const first = batches[0] as ImageBatch;
  const images = new Uint8Array(batches.reduce((n, b) => n + b.images.length, 0));
  let at = 0;
  for (const b of batches) {
    images.set(b.images, at);
    at += b.images.length;
  }
  const count = batches.reduce((n, b) => n + b.count, 0);
  return { ...first, images, labels: new Int32Array(count), count };
}

mkdirSync(outDir, { recursive: true });
// The package groups digits by class; a stride through the split shows every digit.
const mnist = loadMnist(32).train;
const stride = Math.floor(mnist.count / 128);
await writeGrid(
  selectImages(
    mnist,
    Array.from({ length: 128 }, (_, i) => i * stride),
  ),
  16,
  8,
  'mnist-32.png',
);

const settings: ShapesOptionsInput[] = [
  {},
  { shapesPerImage: 3, texture: 'striped', edges: 'hard' },
  { shapesPerImage: 2, texture: 'noise', edges: 'soft' },
  { shapesPerImage: 5, texture: 'flat', edges: 'antialiased' },
];
const rows = settings.map((o) =>
  renderShapes(
    32,
    o,
    Array.from({ length: 32 }, (_, i) => i),
  ),
);
await writeGrid(concat(rows), 16, 8, 'shapes-32.png');
