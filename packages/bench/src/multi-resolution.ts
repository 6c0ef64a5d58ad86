// Issue 16's third target: one multi-resolution model (trained on a version's aspect buckets)
// scored on each of its buckets, each against that bucket's held-out images beside its own
// floor; the FD/floor ratios across the buckets must lie within 1.5x of each other. The
// agent measures (`anneal eval`'s ruler per bucket); this file says what is recorded and how
// RESULTS.md reads it.
import { fmt, type ResultFile, table } from './report-format.ts';

/** The issue's bound on the largest FD/floor ratio over the smallest. */
export const MULTI_RESOLUTION_SPREAD_TARGET = 1.5;

export interface BucketQuality {
  height: number;
  width: number;
  /** The bucket's images in the version: what it trained on, and its held-out real images. */
  train_images: number;
  heldout_images: number;
  n: number;
  fd: number;
  /** Bootstrap standard deviations (null without --spread). */
  fd_std: number | null;
  floor_fd: number;
  floor_std: number | null;
  /** fd / floor_fd: the bucket's distance from real-vs-real. */
  ratio: number;
  /** Class-conditional models: the extractor's accuracy on the samples and on real images. */
  accuracy: { samples: number; floor: number } | null;
  extractor: string;
  real_sets: string;
  /** Sampling's wall time from its first step (0: every chunk was read from the cache). */
  sample_s: number;
}

export interface MultiResolutionResult {
  /** The model, as RESULTS.md names it, and how it was trained. */
  model: string;
  training: {
    steps: number | null;
    wall_s: number | null;
    batch: number | null;
    preset: string | null;
    dataset: string;
  };
  sampler: string;
  steps: number;
  buckets: BucketQuality[];
}

/**
 * The largest FD/floor ratio over the smallest, and, from each bucket's spread, the same
 * spread with each ratio moved one standard deviation towards the others (the least it could
 * be under sampling noise) and away (the most): how firmly the reading stands. Null until two
 * buckets are scored.
 */
export function ratioSpread(buckets: readonly BucketQuality[]): {
  spread: number;
  low: number | null;
  high: number | null;
  met: boolean;
} | null {
  if (buckets.length < 2) return null;
  const ratios = buckets.map((b) => b.ratio);
  const max = Math.max(...ratios);
  const min = Math.min(...ratios);
  // A ratio's own standard deviation from FD's and the floor's (first order, independent).
  const sd = (b: BucketQuality) =>
    b.fd_std === null || b.floor_std === null
      ? null
      : b.ratio * Math.hypot(b.fd_std / b.fd, b.floor_std / b.floor_fd);
  const sds = buckets.map(sd);
  const known = sds.every((s) => s !== null);
  const top = buckets[ratios.indexOf(max)] as BucketQuality;
  const bottom = buckets[ratios.indexOf(min)] as BucketQuality;
  const st = sd(top) ?? 0;
  const sb = sd(bottom) ?? 0;
  return {
    spread: max / min,
    low: known ? Math.max(1, (max - st) / (min + sb)) : null,
    high: known && min - sb > 0 ? (max + st) / (min - sb) : null,
    met: max / min <= MULTI_RESOLUTION_SPREAD_TARGET,
  };
}

export function multiResolutionSection(f: ResultFile<MultiResolutionResult>): string {
  const r = f.result;
  const t = r.training;
  const trained = [
    t.preset ? `${t.preset} preset` : null,
    t.steps !== null ? `${t.steps.toLocaleString('en-US')} steps` : null,
    t.batch !== null ? `batch ${t.batch}` : null,
    t.wall_s !== null ? `${fmt(t.wall_s / 3600, 2)} h of training here` : null,
  ]
    .filter(Boolean)
    .join(', ');
  const conditional = r.buckets.some((b) => b.accuracy !== null);
  const rows = r.buckets.map((b) => [
    `${b.height}x${b.width}`,
    `${b.train_images.toLocaleString('en-US')} / ${b.heldout_images.toLocaleString('en-US')}`,
    b.n,
    b.fd_std === null ? fmt(b.fd, 3) : `${fmt(b.fd, 3)} ± ${fmt(b.fd_std, 3)}`,
    b.floor_std === null ? fmt(b.floor_fd, 3) : `${fmt(b.floor_fd, 3)} ± ${fmt(b.floor_std, 3)}`,
    fmt(b.ratio, 2),
    ...(conditional
      ? [b.accuracy ? `${fmt(b.accuracy.samples, 3)} (${fmt(b.accuracy.floor, 3)})` : '-']
      : []),
    b.real_sets,
  ]);
  const s = ratioSpread(r.buckets);
  const reading = s
    ? `FD/floor from ${fmt(Math.min(...r.buckets.map((b) => b.ratio)), 2)} to ${fmt(Math.max(...r.buckets.map((b) => b.ratio)), 2)}: the largest is **${fmt(s.spread, 2)}x** the smallest (target <= ${MULTI_RESOLUTION_SPREAD_TARGET}x: **${s.met ? 'met' : 'missed'}**${
        s.low !== null
          ? `; one bootstrap standard deviation either way: ${fmt(s.low, 2)}x to ${s.high === null ? 'unbounded' : `${fmt(s.high, 2)}x`}`
          : ''
      }).`
    : 'One bucket scored so far: no spread to read yet.';
  return `One model trained on every aspect bucket of a folder of mixed sizes (\`${r.model}\`; ${t.dataset}${trained ? `; ${trained}` : ''}), scored on each bucket as \`anneal eval\` scores it: ${r.sampler} at ${r.steps} steps, samples of the bucket's shape against that bucket's held-out images, with the bucket's own extractor and its own real-vs-real floor. ${f.partial ? '_Partial: the run stopped before every bucket was scored._ ' : ''}Reproduce: \`npx anneal bench --only multi-resolution --model ${r.model}${typeof f.options.n === 'number' ? ` --n ${f.options.n}` : ''}${f.options.spread ? ` --spread ${f.options.spread}` : ''}\`.\n\n${table(
    [
      'bucket (HxW)',
      'train / held-out images',
      'n',
      'FD',
      'floor FD',
      'FD / floor',
      ...(conditional ? ['class accuracy (floor)'] : []),
      'real sets',
    ],
    rows,
  )}\n\n${reading}`;
}
