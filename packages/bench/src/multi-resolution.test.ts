import { describe, expect, it } from 'vitest';
import {
  type BucketQuality,
  type MultiResolutionResult,
  multiResolutionSection,
  ratioSpread,
} from './multi-resolution.ts';
import type { ResultFile } from './report-format.ts';

const bucket = (
  height: number,
  width: number,
  fd: number,
  floor: number,
  std: number | null = null,
): BucketQuality => ({
  height,
  width,
  train_images: 3000,
  heldout_images: 320,
  n: 300,
  fd,
  fd_std: std,
  floor_fd: floor,
  floor_std: std,
  ratio: fd / floor,
  accuracy: null,
  extractor: 'x',
  real_sets: 'class-stratified',
  sample_s: 1,
});

describe('ratioSpread', () => {
  it('is the largest FD/floor ratio over the smallest, read against 1.5x', () => {
    const s = ratioSpread([
      bucket(44, 24, 0.6, 0.3),
      bucket(32, 32, 0.5, 0.25),
      bucket(24, 44, 0.9, 0.3),
    ]);
    // Ratios 2, 2, 3.
    expect(s?.spread).toBeCloseTo(1.5, 12);
    expect(s?.met).toBe(true);
    expect(s?.low).toBeNull();
    expect(ratioSpread([bucket(32, 32, 0.5, 0.25), bucket(24, 44, 0.93, 0.3)])?.met).toBe(false);
    expect(ratioSpread([bucket(32, 32, 0.5, 0.25)])).toBeNull();
  });

  it('widens by one standard deviation of each end ratio either way', () => {
    // Ratios 2 (fd 0.4 +- 0.04, floor 0.2 +- 0.04) and 4 (0.8, 0.2 +- 0.04).
    const s = ratioSpread([bucket(32, 32, 0.4, 0.2, 0.04), bucket(24, 44, 0.8, 0.2, 0.04)]);
    const sd = (r: number, fd: number) => r * Math.hypot(0.04 / fd, 0.04 / 0.2);
    const sLow = sd(2, 0.4);
    const sHigh = sd(4, 0.8);
    expect(s?.spread).toBeCloseTo(2, 12);
    expect(s?.low).toBeCloseTo((4 - sHigh) / (2 + sLow), 12);
    expect(s?.high).toBeCloseTo((4 + sHigh) / (2 - sLow), 12);
  });
});

describe('multiResolutionSection', () => {
  const file = (
    result: MultiResolutionResult,
    partial = false,
  ): ResultFile<MultiResolutionResult> => ({
    name: 'multi-resolution',
    machine: {} as ResultFile['machine'],
    load_avg_end: [0, 0, 0],
    seconds: 1,
    options: { n: 300, spread: 50 },
    ...(partial ? { partial } : {}),
    result,
  });
  const result: MultiResolutionResult = {
    model: 'models/m',
    training: { steps: 4000, wall_s: 7200, batch: 32, preset: 'small', dataset: 'folder:x' },
    sampler: 'dpmpp-2m',
    steps: 20,
    buckets: [
      bucket(44, 24, 0.6, 0.3, 0.05),
      { ...bucket(32, 32, 0.5, 0.25, 0.05), accuracy: { samples: 0.9, floor: 0.98 } },
    ],
  };

  it('tables each bucket beside its floor, with the ratio spread and how to reproduce it', () => {
    const md = multiResolutionSection(file(result));
    expect(md).toContain('small preset, 4,000 steps, batch 32, 2.00 h of training here');
    expect(md).toContain(
      '| 44x24 | 3,000 / 320 | 300 | 0.600 ± 0.050 | 0.300 ± 0.050 | 2.00 | - | class-stratified |',
    );
    expect(md).toContain('| 0.900 (0.980) |');
    expect(md).toMatch(/the largest is \*\*1\.00x\*\* the smallest \(target <= 1\.5x: \*\*met\*\*/);
    expect(md).toContain(
      'npx anneal bench --only multi-resolution --model models/m --n 300 --spread 50',
    );
    expect(md).not.toContain('Partial');
  });

  it('says when the run stopped part way, and that one bucket has no spread', () => {
    const md = multiResolutionSection(
      file({ ...result, buckets: result.buckets.slice(0, 1) }, true),
    );
    expect(md).toContain('_Partial: the run stopped before every bucket was scored._');
    expect(md).toContain('One bucket scored so far');
  });
});
