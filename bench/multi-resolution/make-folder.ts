// The multi-resolution benchmark's data (issue 16 §1 and its target): a folder of mixed sizes
// and aspects made from the 10,000 digits of the `mnist` package, each digit used once, so a
// held-out image never shares a digit with a training image. A third are the digit itself
// (28x28), a third a 28x56 strip with the digit at a random horizontal place, a third a 56x28
// strip with it at a random vertical place; subfolders name the digit (class-conditional).
// Deterministic: the same seed writes the same bytes.
//
//   npx tsx bench/multi-resolution/make-folder.ts OUT_DIR [--seed 0]
//
// then `anneal train --dataset folder:OUT_DIR --multi-resolution --resolution 32 ...`: at 32 px
// with the small preset (sides multiples of 4) the strips fall into the 24x44 and 44x24 buckets
// and the squares into 32x32 (bench/RESULTS.md, "Multi-resolution").
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadMnistDigits } from '@anneal/datasets/mnist';
import sharp from 'sharp';
import { createRng, permutation } from '../../packages/datasets/src/random.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { seed: { type: 'string', default: '0' } },
});
const out = positionals[0];
if (!out) throw new Error('usage: make-folder.ts OUT_DIR [--seed N]');
const seed = Number(values.seed);
const digits = loadMnistDigits();
const side = digits.height;
const order = permutation(digits.count, seed);
const kinds = ['square', 'wide', 'tall'] as const;
const counts = { square: 0, wide: 0, tall: 0 };

for (const [k, index] of order.entries()) {
  const kind = kinds[Math.floor((k * kinds.length) / digits.count)] as (typeof kinds)[number];
  const label = digits.labels[index] as number;
  const pixels = digits.images.subarray(index * side * side, (index + 1) * side * side);
  const height = kind === 'tall' ? 2 * side : side;
  const width = kind === 'wide' ? 2 * side : side;
  const canvas = new Uint8Array(height * width);
  // The digit's offset along the strip, uniform over every place it fits whole.
  const at = kind === 'square' ? 0 : createRng(seed, index).int(0, side);
  const [dy, dx] = kind === 'tall' ? [at, 0] : [0, at];
  for (let y = 0; y < side; y++)
    canvas.set(pixels.subarray(y * side, (y + 1) * side), (y + dy) * width + dx);
  const dir = join(resolve(out), String(label));
  mkdirSync(dir, { recursive: true });
  const png = await sharp(canvas, { raw: { width, height, channels: 1 } })
    .png()
    .toBuffer();
  writeFileSync(join(dir, `${kind}-${String(index).padStart(5, '0')}.png`), png);
  counts[kind]++;
}
console.log(`wrote ${digits.count} images to ${resolve(out)}: ${JSON.stringify(counts)}`);
