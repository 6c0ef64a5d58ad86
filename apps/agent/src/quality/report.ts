// How an evaluation is shown: a table for people, one JSON object for machines.
import { table } from '../format.ts';
import type { EvalReport } from './evaluate.ts';

const EXTRACTOR_SOURCE: Record<EvalReport['extractor']['source'], string> = {
  shipped: ', shipped',
  cache: ', cached',
  trained: ', trained now',
};

interface Head {
  sampler: string;
  steps: number;
  /** The start sigma when not the model's largest. */
  sigma_max?: number;
  /** The --schedule given (a kind, ays, learned or a file). */
  schedule?: string;
  /** The learned schedule file it resolved to. */
  schedule_file?: string;
  /** An explicit grid: a distilled student's, or the schedule's sigmas. */
  sigmas?: number[];
  /** The adaptive sampler's tolerances (undefined: the engine's defaults). */
  rtol?: number;
  atol?: number;
  seed: number;
  wall_s: number;
}

/** JSON has no Infinity (PSNR of identical images): it becomes null. */
const finite = (v: number) => (Number.isFinite(v) ? v : null);

export function qualityJson(r: EvalReport, head: Head) {
  return {
    ...head,
    n: r.n,
    nfe: r.nfe,
    ...(r.nfePerImage ? { nfe_per_image: r.nfePerImage } : {}),
    extractor: r.extractor.id,
    extractor_kind: r.extractor.kind,
    extractor_accuracy: r.extractor.heldoutAccuracy,
    extractor_cached: r.extractor.cached,
    extractor_source: r.extractor.source,
    extractor_sha256: r.extractor.weightsSha256,
    fd: r.metrics.fd,
    kid: r.metrics.kid,
    kid_std: r.metrics.kidStd,
    precision: r.metrics.precision,
    recall: r.metrics.recall,
    ...(r.fdSpread ? { fd_spread: r.fdSpread.model } : {}),
    floor_fd: r.floor.fd,
    ...(r.fdSpread ? { floor_fd_spread: r.fdSpread.floor } : {}),
    floor_kid: r.floor.kid,
    floor_precision: r.floor.precision,
    floor_recall: r.floor.recall,
    real_sets: r.realSets,
    ...(r.accuracy ? { accuracy: r.accuracy.samples, floor_accuracy: r.accuracy.floor } : {}),
    ...(r.paired
      ? {
          paired: {
            psnr: finite(r.paired.psnr),
            ssim: r.paired.ssim,
            feature_distance: r.paired.featureDistance,
            floor_feature_distance: r.paired.floorFeatureDistance,
            reference_sampler: r.paired.reference.sampler,
            reference_steps: r.paired.reference.steps,
            reference_nfe: r.paired.reference.nfe,
          },
        }
      : {}),
    ...(r.memorization ? { memorization: r.memorization } : {}),
  };
}

const f = (v: number, digits = 4) =>
  Number.isFinite(v) ? (Math.abs(v) >= 1e4 ? v.toExponential(3) : v.toFixed(digits)) : 'inf';

export function qualityTable(r: EvalReport, head: Head): string {
  const acc = r.extractor.heldoutAccuracy;
  const lines = [
    r.nfePerImage
      ? `${head.sampler} (rtol ${head.rtol ?? 'default'}, atol ${head.atol ?? 'default'}), NFE per image mean ${r.nfePerImage.mean.toFixed(1)}, min ${r.nfePerImage.min}, max ${r.nfePerImage.max}, N = ${r.n}, seed ${head.seed}`
      : `${head.sampler}, ${head.steps} steps (${r.nfe} NFE)${head.schedule ? `, schedule ${head.schedule_file ?? head.schedule}` : ''}, N = ${r.n}, seed ${head.seed}`,
    `extractor ${r.extractor.id} (${r.extractor.kind}${acc === null ? '' : `, held-out accuracy ${(acc * 100).toFixed(2)}%`}${EXTRACTOR_SOURCE[r.extractor.source]}, weights ${r.extractor.weightsSha256.slice(0, 12)}); real sets ${r.realSets}`,
    '',
    table([
      ['metric', 'model       floor (real vs real)'],
      ['FD', `${f(r.metrics.fd).padEnd(11)} ${f(r.floor.fd)}`],
      ...(r.fdSpread
        ? ([
            [
              '  spread',
              `± ${f(r.fdSpread.model.std).padEnd(9)} ± ${f(r.fdSpread.floor.std)}   (bootstrap std over ${r.fdSpread.model.resamples} resamples; 90%: ${f(r.fdSpread.model.low)}-${f(r.fdSpread.model.high)} and ${f(r.fdSpread.floor.low)}-${f(r.fdSpread.floor.high)})`,
            ],
          ] as Array<[string, string]>)
        : []),
      [
        'KID',
        `${f(r.metrics.kid, 5).padEnd(11)} ${f(r.floor.kid, 5)}${r.metrics.kidStd === null ? '' : `   (± ${f(r.metrics.kidStd, 5)} over subsets)`}`,
      ],
      ['precision', `${f(r.metrics.precision, 3).padEnd(11)} ${f(r.floor.precision, 3)}`],
      ['recall', `${f(r.metrics.recall, 3).padEnd(11)} ${f(r.floor.recall, 3)}`],
      ...(r.accuracy
        ? ([
            ['class accuracy', `${f(r.accuracy.samples, 3).padEnd(11)} ${f(r.accuracy.floor, 3)}`],
          ] as Array<[string, string]>)
        : []),
    ]),
  ];
  if (r.paired) {
    const p = r.paired;
    lines.push(
      '',
      `paired with ${p.reference.sampler}, ${p.reference.steps} steps (${p.reference.nfe} NFE), same noise:`,
      table([
        ['PSNR', `${f(p.psnr, 2)} dB`],
        ['SSIM', f(p.ssim, 4)],
        [
          'feature distance',
          `${f(p.featureDistance)}   (unrelated real images: ${f(p.floorFeatureDistance)})`,
        ],
      ]),
    );
  }
  if (r.memorization) {
    const m = r.memorization;
    const row = (name: string, d: typeof m.samples): [string, string] => [
      name,
      [d.min, d.p1, d.p5, d.p25, d.median].map((v) => f(v, 4).padEnd(8)).join(' '),
    ];
    lines.push(
      '',
      `nearest training image (RMS pixel distance in [0, 1], ${m.train} training images):`,
      table([
        ['', 'min      p1       p5       p25      median'],
        row('samples', m.samples),
        row('held-out', m.heldout),
      ]),
      `${m.samplesBelowHeldoutMin} samples nearer than any held-out image; rank test over the whole dataset z = ${f(m.z, 2)} (positive: samples closer)`,
      `set test: the samples' mean distance to the nearest image of each of ${m.sets.heldoutSets} held-out and ${m.sets.trainSets} training sets of ${m.sets.size}: ${f(m.sets.toHeldout, 4)} held-out, ${f(m.sets.toTrain, 4)} training; t = ${f(m.sets.t, 2)} (${m.sets.dof} dof), p = ${f(m.sets.p, 4)}`,
      `copy test: nearest training image's distance over the mean of the next ${m.copies.neighbours} (0: an exact copy):`,
      table([
        ['', 'min      p1       p5       p25      median'],
        row('samples', m.copies.samples),
        row('held-out', m.copies.heldout),
      ]),
      `${m.copies.count} samples below every held-out image (${f(m.copies.expected, 2)} expected without copies), p = ${f(m.copies.p, 4)}${m.copies.blind ? '; a held-out image duplicates a training image, so this test cannot see copies on this data' : ''}`,
      `(p < 0.005 in either test: the set test sees copies once they are about a tenth of the samples, the copy test a handful): ${m.memorized ? 'MEMORIZATION' : 'no sign of memorization'}`,
    );
  }
  lines.push('', `done in ${head.wall_s.toFixed(1)} s`);
  return lines.join('\n');
}
