// bench/RESULTS.md's sections for issue 13's suites: learned vs hand-crafted schedules,
// sampling plans' predicted vs measured latency, and steps that follow content complexity.
import { basename } from 'node:path';
import { type ComplexityResult, equalFdNoise, lowNfeSentence } from './complexity.ts';
import type { PlanBenchResult } from './plan.ts';
import { fdCell, fmt, type ResultFile, table } from './report-format.ts';
import type { QualityMetrics } from './sampler-table.ts';
import type { ScheduleTableResult } from './schedule-table.ts';

/**
 * The learned row's share of the FD gap from the best hand-crafted schedule to the reference:
 * n/a when there is no gap (the best hand-crafted is at or below the reference's FD), where
 * the ratio's sign and size would mean nothing.
 */
export function gapShare(gained: number, gap: number): string {
  if (!(gap > 0))
    return 'n/a of the gap to the reference: the best hand-crafted FD is not above it';
  return `${fmt((100 * gained) / gap, 0)}% of the gap to the reference`;
}

export function schedules(
  f: ResultFile<ScheduleTableResult & { model: string; parameters: number }>,
): string {
  const r = f.result;
  const kid = (m: QualityMetrics) =>
    m.kid_std === null ? fmt(m.kid, 5) : `${fmt(m.kid, 5)} ± ${fmt(m.kid_std, 5)}`;
  const head = [
    'sampler',
    'NFE / image',
    'schedule',
    'FD',
    'KID',
    'precision',
    'recall',
    'paired MSE to reference',
    'vs best hand-crafted',
  ];
  const rows: Array<Array<string | number>> = [];
  const groups = new Map<string, typeof r.rows>();
  for (const row of r.rows) {
    const key = `${row.sampler}:${row.nfe_per_image}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  for (const group of groups.values()) {
    const hand = group.filter((g) => g.schedule !== 'learned');
    const bestFd = Math.min(...hand.map((g) => g.fd));
    const bestPaired = Math.min(...hand.map((g) => g.paired_mse));
    for (const g of group)
      rows.push([
        g.sampler,
        g.nfe_per_image,
        g.schedule,
        fdCell(g),
        kid(g),
        fmt(g.precision, 3),
        fmt(g.recall, 3),
        `${g.paired_mse.toExponential(3)} ± ${g.paired_mse_std.toExponential(2)}`,
        g.schedule === 'learned'
          ? `FD ${fmt(g.fd - bestFd, 3)} (${gapShare(bestFd - g.fd, bestFd - r.reference.fd)}), paired ${fmt(100 * (g.paired_mse / bestPaired - 1), 1)}%`
          : '',
      ]);
  }
  rows.push([
    `reference: ${r.reference.sampler} ${r.reference.steps} steps`,
    r.reference.nfe_per_image,
    '-',
    fdCell(r.reference),
    kid(r.reference),
    fmt(r.reference.precision, 3),
    fmt(r.reference.recall, 3),
    '0',
    '',
  ]);
  rows.push([
    'real vs real (floor)',
    '-',
    '-',
    fdCell(r.floor),
    kid(r.floor),
    fmt(r.floor.precision, 3),
    fmt(r.floor.recall, 3),
    '-',
    '',
  ]);
  const options = f.options as {
    model?: string;
    samplers?: string[];
    nfes?: number[];
    learn?: { n: number };
    spread?: number;
  };
  // The files live in the model's folder: named from it, whatever path the run was given.
  const learnedFile = (file: string) =>
    options.model ? `${options.model}/schedules/${basename(file)}` : file;
  return [
    `Model: ${r.model} (${r.parameters.toLocaleString('en-US')} parameters); n = ${r.n} samples per row, seed ${r.seed} for every row (identical initial noise). Quality: ${r.quality}. Paired MSE: per-image mean squared pixel difference ([-1, 1]) to ${r.reference.sampler} at ${r.reference.steps} steps (${r.reference.nfe_per_image} NFE) from the same noise, mean ± standard deviation over images. Hand-crafted: uniform (uniform in the VP table's timesteps), karras (rho 7), exponential (log-linear), ays (Align Your Steps' SD 1.5 list, log-sigmas mapped onto this model's range, interpolated log-linearly). Learned: \`anneal schedule learn\` (files: ${r.learned.map((l) => `${learnedFile(l.file)}${l.learned_now ? ' (learned for this run)' : ''}`).join(', ')}).${f.partial ? ' **Partial: the run was stopped before every row finished.**' : ''}`,
    '',
    `Command: \`npx anneal bench --only schedules --model ${options.model ?? r.model.split(':')[0]} --n ${r.n}${options.spread ? ` --spread ${options.spread}` : ''}${options.samplers ? ` --samplers ${options.samplers.join(',')}` : ''}${options.nfes ? ` --nfes ${options.nfes.join(',')}` : ''} --reference ${r.reference.sampler}:${r.reference.steps}${options.learn ? ` --learn-n ${options.learn.n}` : ''}\``,
    '',
    table(head, rows),
  ].join('\n');
}

export function plan(f: ResultFile<PlanBenchResult>): string {
  const r = f.result;
  const rows = r.rows.map((x) => [
    x.objective,
    `${x.sampler}/${x.schedule}`,
    x.nfe,
    x.batch,
    x.dtype,
    x.images,
    fmt(x.predicted_fd, 3) + (x.fd_interpolated ? ' (interp.)' : ''),
    fmt(x.predicted_ms),
    fmt(x.measured_ms),
    fmt(x.ratio, 3),
    fmt(timedSpread(x.times_ms), 2),
  ]);
  const spreads = r.rows.map((x) => timedSpread(x.times_ms)).sort((a, b) => a - b);
  const refused = r.refused.map((x) => `- ${x.objective}: ${x.message}`).join('\n');
  return `Model: ${r.model} (${r.parameters.toLocaleString('en-US')} parameters); hardware profile ${r.profile}. Quality curve: ${r.curve.points} points of ${r.curve.samplers.join(', ')} at n = ${r.curve.n}. Latency: the ${r.statistic} of ${r.repeats} timed requests after a warm-up, in the cost table and in the measured column alike. Predicted = overhead + NFE x per-NFE latency at the batch, from the cost table.${f.partial ? ' **Partial.**' : ''}\n\n${table(
    [
      'objective',
      'plan',
      'NFE',
      'batch',
      'dtype',
      'images',
      'FD (curve)',
      'predicted ms',
      'measured ms',
      'measured / predicted',
      'timed max / min',
    ],
    rows,
  )}\n\nWithin 15% of the prediction: ${r.within_15pct} of ${r.rows.length}; median |measured / predicted - 1| = ${fmt(r.median_abs_error, 3)}. The last column shows how much identical requests vary on this machine: the slowest of a row's ${r.repeats} over the fastest (median ${fmt(spreads[Math.floor(spreads.length / 2)] ?? Number.NaN, 2)} here).${refused ? `\n\nRefused:\n${refused}` : ''}`;
}

/** The slowest of a row's identical timed requests over the fastest. */
export function timedSpread(timesMs: readonly number[]): number {
  return timesMs.length ? Math.max(...timesMs) / Math.min(...timesMs) : Number.NaN;
}

export function complexity(f: ResultFile<ComplexityResult & { model: string }>): string {
  const r = f.result;
  const rho = (v: number | null | undefined) => (v === null || v === undefined ? '-' : fmt(v, 3));
  const v = r.measure.validation;
  const floor = r.floor ? ` Real-vs-real floor FD ${fdCell(r.floor)}.` : '';
  const lines = [
    `Model ${r.model}; ${r.quality}; n = ${r.n}, seed ${r.seed}, guidance ${r.guidance}.${floor}`,
    `Complexity of an image: ${r.measure.definition}.`,
    v
      ? `Validated on ${v.n} real images (${v.resolution} px) against their dials: Spearman ${rho(v.spearman.composite)} with the composite, ${rho(v.spearman.shapes_per_image)} shapes per image, ${rho(v.spearman.texture)} texture, ${rho(v.spearman.edges)} edges.`
      : 'Not validated: the model was not trained on shapes (no dials).',
    '',
    table(
      [
        'adaptive rtol',
        'atol',
        'mean NFE',
        'min..max',
        'FD',
        'rho (NFE, complexity)',
        'batch calls',
        'rows evaluated',
      ],
      r.adaptive.map((a) => [
        a.rtol,
        fmt(a.atol, 4),
        fmt(a.mean_nfe, 1),
        `${a.min_nfe}..${a.max_nfe}`,
        fdCell(a),
        rho(a.spearman_nfe_complexity),
        a.batch_calls,
        a.rows_evaluated,
      ]),
    ),
    '',
    table(
      ['fixed sampler', 'steps', 'NFE', 'FD'],
      r.fixed.map((x) => [x.sampler, x.steps, x.nfe_per_image, fdCell(x)]),
    ),
    '',
    table(
      [
        'adaptive rtol',
        'FD',
        'adaptive mean NFE',
        ...(r.equal_fd[0]?.fixed.map((x) => `${x.sampler} NFE at equal FD (saving)`) ?? []),
      ],
      r.equal_fd.map((e) => [
        e.rtol,
        fmt(e.fd, 3),
        fmt(e.adaptive_mean_nfe, 1),
        ...e.fixed.map((x) =>
          x.nfe === null
            ? 'beyond the ladder'
            : x.bound === 'at_most'
              ? `<= ${x.nfe}`
              : `${fmt(x.nfe, 1)} (${fmt(100 * (x.saving ?? 0), 0)}%)`,
        ),
      ]),
    ),
  ];
  const noise = equalFdNoise(r);
  if (noise) lines.push('', noise);
  const low = lowNfeSentence(r.low_nfe);
  if (low) lines.push('', low);
  lines.push('', '![NFE against complexity, FD against NFE](complexity.svg)');
  return lines.join('\n');
}
