import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgreementResult } from './agreement.ts';
import { type AttentionBenchResult, attentionSection } from './attention.ts';
import type { CeilingResult, ProfileResult } from './ceiling.ts';
import { dataParallelSection } from './data-parallel.ts';
import { distillationSection } from './distillation.ts';
import type { InteropResult } from './interop.ts';
import type { MemoryFitResult } from './memory-fit.ts';
import { multiResolutionSection } from './multi-resolution.ts';
import { progressiveSection } from './progressive.ts';
import { complexity, plan, schedules } from './report-adaptive.ts';
import { fdCell, fmt, header, mib, type ResultFile, table } from './report-format.ts';
import type {
  QualityMetrics,
  SamplerTableResult,
  SolverComparison,
  TableRow,
} from './sampler-table.ts';
import type { SamplingResult, ToTargetResult } from './sampling.ts';
import { searchSection } from './search.ts';
import type { TrainingCaseResult } from './training.ts';

export { gapShare } from './report-adaptive.ts';
export type { ResultFile } from './report-format.ts';

export function writeResult(dir: string, file: ResultFile): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${file.name}.json`);
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`);
  return path;
}

export function readResults(dir: string): ResultFile[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ResultFile);
}

function training(f: ResultFile<TrainingCaseResult[]>): string {
  return f.result
    .map((t) => {
      const rows = t.contenders.map((c) => [
        c.impl,
        c.params.toLocaleString('en-US'),
        fmt(c.step_ms_median),
        c.round_medians_ms.map((x) => fmt(x, 0)).join(' / '),
        fmt(c.images_per_s),
        fmt(c.engine_speedup, 2),
        `${mib(c.peak_memory_bytes)} (${c.peak_memory_source.split(' ')[0]})`,
        c.blas.join(', ') || '-',
        c.load_avg_1m.map((x) => fmt(x, 1)).join(' / '),
      ]);
      return `### ${t.case.name}: preset \`${t.case.preset}\`, ${t.case.dataset} ${t.case.resolution}x${t.case.resolution}x${t.case.channels}, ${t.case.classes} classes, batch ${t.case.batch}\n\n${table(
        [
          'impl',
          'params',
          'step ms (median)',
          'round medians',
          'images/s',
          'engine speedup',
          'peak memory',
          'BLAS',
          'load 1m per run',
        ],
        rows,
      )}`;
    })
    .join('\n\n');
}

function agreement(f: ResultFile<AgreementResult>): string {
  const r = f.result;
  const e = (x: number | undefined) => (x === undefined ? '-' : x.toExponential(1));
  const models = (f.options.models as string[] | undefined) ?? [];
  const rows = r.rows.map((x) => [
    `${x.model} (${x.parameterization})`,
    `${x.engine} / ${x.diffusers.replace('Scheduler', '')}`,
    x.steps,
    x.schedule,
    x.clip ? 'on' : 'off',
    e(x.max_abs),
    e(x.rms),
    x.agree === undefined ? '-' : x.agree ? 'yes' : '**no**',
    `${x.noise_tiles_engine} / ${x.noise_tiles_diffusers ?? '-'} of ${x.n}`,
    x.clip_changes_rms === undefined ? '' : fmt(x.clip_changes_rms, 3),
  ]);
  const compared = r.rows.filter((x) => x.agree !== undefined);
  const agree = compared.filter((x) => x.agree);
  const sameTiles = compared.filter((x) => x.noise_tiles_engine === x.noise_tiles_diffusers);
  const worst = (k: 'rms' | 'max_abs') => Math.max(...compared.map((x) => x[k] ?? 0));
  const ddimDefault = r.rows.filter((x) => x.rms_vs_diffusers_default_clip !== undefined);
  return [
    `Command: \`npx anneal bench --only diffusers-agreement --model ${models.join(',')}\` (bench/reference/diffusers_agreement.py; n = ${r.n} images, seed ${r.seed}, class labels i mod classes, diffusers ${r.versions.diffusers ?? '?'}, torch ${r.versions.torch ?? '?'}).`,
    '',
    "Each checkpoint is loaded into diffusers' UNet2DModel (convert_to_diffusers.py: conv kernels OHWI -> OIHW, strict load) and sampled by diffusers' own schedulers and by the engine from the same unit-normal noise z. Pairs: ddim / DDIMScheduler (eta 0), dpmpp-2m / DPMSolverMultistepScheduler (dpmsolver++, order 2), euler / EulerDiscreteScheduler, ddpm / EulerAncestralDiscreteScheduler (the same eta = 1 ancestral step; step i injects the same draw on both sides). Sigmas \"trailing\": diffusers' trailing integer timesteps (999, 899, ..., 99 at 10 steps), the same for all four schedulers, given to the engine as an explicit sigma list. Sigmas \"engine-default\": the engine's own default schedule (Karras rho 7 between the table's ends for euler and dpmpp-2m, uniform in t for ddpm), given to diffusers (Euler: `set_timesteps(sigmas=...)`; EulerAncestral and DPMSolver: `sigmas`/`timesteps` set after `set_timesteps`, t by log-sigma interpolation). The engine starts at z sigma_0 (VE); Euler and EulerAncestral (VE) start there too, DDIM and DPMSolver (VP) at z sigma_0 / sqrt(1 + sigma_0^2), its exact VP image; all end at sigma = 0, where both scalings give x0. Images are clamped to [-1, 1].",
    '',
    `Clip "off": the engine's clipDenoised off, DDIM clip_sample off (DPMSolver thresholding off; Euler has none). Clip "on": the engine's default (every denoised estimate clamped to [-1, 1]); compared only for ddim, with DDIM clip_sample=True and use_clipped_model_output=True (eps recomputed from the clipped x0, which is what clamping D amounts to). diffusers' DDIM default (use_clipped_model_output=False) keeps the network's eps beside the clipped x0, a different update: RMS from the engine, and that DDIM's noise tiles, ${ddimDefault.map((x) => `${fmt(x.rms_vs_diffusers_default_clip ?? 0, 3)} and ${x.noise_tiles_diffusers_default_clip ?? '-'} of ${x.n} (${x.model}, ${x.steps} steps)`).join('; ')}. The last column is the RMS change clipping makes to the engine's own images.`,
    '',
    `Tolerance: RMS <= ${r.tol_rms} and max abs <= ${r.tol_max} in image units (range 2): one U-Net evaluation agrees between MLX and PyTorch to ~1e-5 of its output (parity tests assert 1e-4), and a sampler of N <= 20 steps compounds N of those through an update of O(1) sensitivity; a wrong scaling, timestep or order moves images by 1e-1 to 1. Noise tile: an image whose neighbour-difference RMS exceeds ${r.noise_hf} (real MNIST digits: at most 0.45; Gaussian noise clamped to [-1, 1] from std 0.5 up: 0.64 or more).`,
    '',
    `**${agree.length} of ${compared.length} compared rows agree** (largest RMS ${e(worst('rms'))}, largest max abs ${e(worst('max_abs'))}); noise-tile counts are equal on both sides in ${sameTiles.length} of ${compared.length}.`,
    '',
    table(
      [
        'model',
        'engine / diffusers',
        'steps',
        'sigmas',
        'clip',
        'max abs',
        'RMS',
        'agree',
        'noise tiles engine / diffusers',
        'clipping changes engine (RMS)',
      ],
      rows,
    ),
  ].join('\n');
}

function interop(f: ResultFile<InteropResult[]>): string {
  return table(
    ['case', 'params diffusers', 'params engine', 'max abs error', 'tolerance', 'ok'],
    f.result.map((r) => [
      r.name,
      r.params_diffusers,
      r.params_engine,
      r.max_abs_error.toExponential(2),
      r.tolerance,
      r.ok ? 'yes' : 'NO',
    ]),
  );
}

function sampling(f: ResultFile<SamplingResult>): string {
  const r = f.result;
  return `Model: ${r.model}, ${r.parameters.toLocaleString('en-US')} parameters, ${r.resolution}x${r.resolution}. FD: ${r.quality ?? 'not measured (plugs in from `anneal eval`)'}.\n\n${table(
    ['sampler', 'steps', 'NFE / image', 'n', 'seconds (median)', 'images/s', 'FD'],
    r.samplers.map((s) => [
      s.sampler,
      s.steps,
      s.nfe_per_image,
      s.n,
      fmt(s.seconds_median, 3),
      fmt(s.images_per_s),
      fmt(s.fd, 2),
    ]),
  )}`;
}

function toTarget(f: ResultFile<ToTargetResult & { model: string; parameters: number }>): string {
  const r = f.result;
  const ref = r.reference;
  const stated =
    r.factor === null
      ? `FD <= ${fmt(r.target_fd, 3)} (given)`
      : `FD <= ${fmt(r.target_fd, 3)} = ${r.factor} x the reference's ${fmt(ref.fd, 3)} (${ref.sampler}, ${ref.steps} steps, NFE ${ref.nfe_per_image}, ${fmt(ref.seconds, 0)} s)`;
  const rows = r.samplers.map((s) => {
    const last = s.tried[s.tried.length - 1];
    return [
      s.sampler,
      s.steps === null ? `not within ${last?.steps ?? 0} steps` : s.steps,
      s.nfe_per_image ?? '-',
      fmt(s.seconds, 0),
      s.tried.map((t) => `${t.nfe_per_image}: ${fmt(t.fd, 3)}`).join(', '),
    ];
  });
  return `![FD against NFE per sampler; the dashed line is the target](to-target.svg)\n\nModel: ${r.model} (${r.parameters.toLocaleString('en-US')} parameters); n = ${r.n} samples per run, one seed for all runs. FD: ${r.quality}. Target: ${stated}.${f.partial ? ' **Partial: the run was stopped before every sampler finished.**' : ''}\n\n${table(
    ['sampler', 'steps to target', 'NFE / image', 'wall s (n images)', 'ladder tried (NFE: FD)'],
    rows,
  )}`;
}

function teacherSamplers(
  f: ResultFile<SamplerTableResult & { model: string; parameters: number }>,
): string {
  const r = f.result;
  const acc = (m: QualityMetrics) => (m.accuracy === null ? '-' : fmt(m.accuracy, 3));
  const kid = (m: QualityMetrics) =>
    m.kid_std === null ? fmt(m.kid, 5) : `${fmt(m.kid, 5)} ± ${fmt(m.kid_std, 5)}`;
  const row = (t: TableRow) => [
    t.sampler,
    t.steps,
    t.nfe_per_image,
    fdCell(t),
    kid(t),
    fmt(t.precision, 3),
    fmt(t.recall, 3),
    acc(t),
    fmt(t.seconds, 0),
    fmt(t.images_per_s, 2),
  ];
  const floor = (m: QualityMetrics) => [
    'real vs real (floor)',
    '-',
    '-',
    fdCell(m),
    kid(m),
    fmt(m.precision, 3),
    fmt(m.recall, 3),
    acc(m),
    '-',
    '-',
  ];
  const head = [
    'sampler',
    'steps',
    'NFE / image',
    'FD',
    'KID',
    'precision',
    'recall',
    'class accuracy',
    'wall s (n images)',
    'images/s',
  ];
  const options = f.options as {
    model?: string;
    seed?: number;
    guidance?: number;
    spread?: number;
  };
  const lines = [
    `Model: ${r.model} (${r.parameters.toLocaleString('en-US')} parameters); n = ${r.n} samples per row, seed ${r.seed} for every row (identical initial noise), guidance ${r.guidance}. Quality: ${r.quality}.${f.partial ? ' **Partial: the run was stopped before every row finished.**' : ''}`,
    '',
    `Command: \`npx anneal bench --only teacher-samplers --model ${options.model ?? r.model.split(':')[0]} --n ${r.n}${options.spread ? ` --spread ${options.spread}` : ''}${r.reference ? ` --reference ${r.reference.sampler}:${r.reference.steps} --reference-n ${r.reference.n}` : ''}${r.grid ? ` --grid ${r.grid.path}` : ''}\``,
    '',
    table(head, [...r.rows.map(row), floor(r.floor)]),
  ];
  if (r.comparisons && r.comparisons.length > 0) {
    const nearer = (c: SolverComparison) =>
      c.better === 'a' ? c.a.sampler : c.better === 'b' ? 'ddpm' : 'neither (within the spread)';
    lines.push(
      '',
      'Deterministic solvers against ancestral DDPM at the same nominal NFE, paired: both rows start from the same noise, and each bootstrap resample draws the same rows of both and of the real set, so the interval is that of the difference itself.',
      '',
      table(
        [
          'NFE',
          'solver (steps)',
          'FD solver',
          'FD ddpm',
          'difference',
          '90% interval',
          'nearer the real images',
        ],
        r.comparisons.map((c) => [
          c.nfe,
          `${c.a.sampler} (${c.a.steps})`,
          fmt(c.a.fd, 3),
          fmt(c.b.fd, 3),
          fmt(c.difference, 3),
          `${fmt(c.low, 3)} .. ${fmt(c.high, 3)}`,
          nearer(c),
        ]),
      ),
    );
  }
  if (r.reference) {
    const ref = r.reference;
    lines.push(
      '',
      `Reference: ${ref.sampler} at ${ref.steps} steps, n = ${ref.n} (${ref.quality}).`,
      '',
      table(head, [row(ref), floor(ref.floor)]),
    );
  }
  if (r.grid)
    lines.push(
      '',
      `![Samples at ${r.grid.nfe} NFE, one sampler per row](../${r.grid.path})`,
      '',
      `Samples at ${r.grid.nfe} NFE, the first ${r.grid.count} of each row from the same noise, one sampler per row (top to bottom: ${r.grid.samplers.join(', ')}).`,
    );
  return lines.join('\n');
}

const PHASE_NAMES: Record<string, string> = {
  forward_ms: 'forward',
  backward_ms: 'backward ((fwd+bwd) - fwd)',
  optimizer_direct_ms: 'optimizer alone (AdamW, timed directly)',
  step_ms: 'whole step',
};

function ceiling(f: ResultFile<{ ceiling: CeilingResult; profile: ProfileResult[] }>): string {
  const { ceiling: c, profile } = f.result;
  const parts = [
    `float32 ${c.matmul.n}x${c.matmul.n} matmul, the engine (MLX + its BLAS) in its own process at the contenders' thread count: **${fmt(c.matmul.gflops)} GFLOP/s**. ${profile
      .map(
        (p) =>
          `During the ${p.case} profile, 1024x1024 matmul: MLX Python ${fmt(p.mlx.matmul_1024_gflops)}, PyTorch ${fmt(p.torch.matmul_1024_gflops)} GFLOP/s.`,
      )
      .join(' ')}`,
    table(
      ['case', 'impl', 'fwd GFLOP / image', 'images/s', 'achieved GFLOP/s', 'of matmul'],
      c.training.map((r) => [
        r.case,
        r.impl,
        fmt(r.forward_gflop_per_image, 3),
        fmt(r.images_per_s),
        fmt(r.achieved_gflops),
        `${fmt(r.fraction_of_matmul * 100)}%`,
      ]),
    ),
  ];
  for (const p of profile) {
    // step - (fwd+bwd) subtracts noisy times of separately compiled graphs (negative under
    // load); the JSON keeps it as optimizer_ms, the table shows AdamW timed on its own.
    const phases = ['forward_ms', 'backward_ms', 'optimizer_direct_ms', 'step_ms'];
    parts.push(
      `Step profile, ${p.case}, batch ${p.batch} (ms, median of ${p.repeats} timed calls):\n\n${table(
        ['phase', 'MLX', 'PyTorch', 'MLX / PyTorch'],
        phases.map((k) => [
          PHASE_NAMES[k] ?? k,
          fmt(p.mlx.phases[k]),
          fmt(p.torch.phases[k]),
          fmt((p.mlx.phases[k] ?? 0) / (p.torch.phases[k] ?? 1), 2),
        ]),
      )}`,
    );
    const fams = Object.keys(p.mlx.families_ms);
    parts.push(
      `Op families in isolation at the U-Net's shapes, forward + backward (ms):\n\n${table(
        ['family', 'ops', 'fwd GFLOP', 'MLX', 'PyTorch', 'MLX / PyTorch'],
        fams.map((k) => [
          k,
          p.mlx.families_ops[k] ?? 0,
          fmt(p.mlx.families_gflop_fwd[k], 3),
          fmt(p.mlx.families_ms[k]),
          fmt(p.torch.families_ms[k]),
          fmt((p.mlx.families_ms[k] ?? 0) / (p.torch.families_ms[k] ?? 1), 2),
        ]),
      )}`,
    );
  }
  return parts.join('\n\n');
}

function memoryFit(f: ResultFile<MemoryFitResult>): string {
  const r = f.result;
  const fit = r.fit
    ? ` Fitted on the ${r.fit.fitted} rows not held out (\`fitMemoryFactors\`, memory-fit.ts): least squares ${fmt(r.fit.activation_lsq, 2)} per walk byte and ${fmt(r.fit.attention_lsq, 2)} per attention byte, scaled to cover the worst fitted row with a ${fmt(r.fit.margin * 100, 0)}% margin: ${fmt(r.fit.activation_factor, 2)} and ${fmt(r.fit.attention_factor, 2)}; the estimate used ${fmt(r.factors.activation, 2)} and ${fmt(r.factors.attention, 2)}.`
    : '';
  return `Each row: training steps of a preset on random images (float32, CPU backend, compiled), MLX's peak since before the Trainer was built (warm-up included, the rollback snapshot a state of its own: what the budget check reads), against the engine's estimate (\`estimateTrainingMemory\`: weights, gradients, AdamW, EMA, the update's second copy, the rollback snapshot and the Model's own weights, a factor x the layer walk's activations less attention scores, a factor x fused attention's bytes, 10% workspace). Ratio = measured / estimate: above 1 the estimate is short. Ratio over the rows: ${fmt(r.ratio_min, 2)} to ${fmt(r.ratio_max, 2)}.${fit}\n\n${table(
    [
      'preset',
      'px',
      'batch',
      'micro-batch x steps',
      'held out',
      'state',
      'activations',
      'estimate',
      'measured peak',
      'ratio',
    ],
    r.rows.map((x) => [
      x.preset,
      x.resolution,
      x.batch,
      `${x.micro_batch} x ${x.accumulationSteps}`,
      x.holdout ? 'yes' : '',
      mib(x.state_bytes),
      mib(x.activation_bytes),
      mib(x.estimate_bytes),
      mib(x.measured_peak_bytes),
      fmt(x.ratio, 2),
    ]),
  )}`;
}

interface ServingRow {
  sampler: string;
  steps: number;
  n: number;
  in_process_ms: { p50: number; p95: number };
  served_ms: { p50: number; p95: number; p99: number };
  server_latency_p50_ms: number;
  child_generate_p50_ms: number;
  overhead_p50_ms: number;
  overhead_p50_ratio: number;
}

function serving(f: ResultFile<{ target_overhead_ratio: number; rows: ServingRow[] }>): string {
  const { rows, target_overhead_ratio: target } = f.result;
  return `Generate requests through a deployment (REST -> server -> agent's WebSocket -> \`anneal serve\` child -> PNGs uploaded -> answer) against the same request on the same model already loaded in-process (sample + PNG encode), alternated request by request, ${f.options.rounds} timed requests each after warm-up; model \`${f.options.model}\`, one BLAS thread each. Target: p50 overhead <= ${(target * 100).toFixed(0)}%. Reproduce: \`npm run bench:serving\`.\n\n${table(
    [
      'sampler',
      'steps',
      'n',
      'in-process p50 ms',
      'served p50 ms',
      'served p95 / p99 ms',
      'server-side p50 ms',
      'child p50 ms',
      'overhead p50',
      'target',
    ],
    rows.map((r) => [
      r.sampler,
      r.steps,
      r.n,
      fmt(r.in_process_ms.p50),
      fmt(r.served_ms.p50),
      `${fmt(r.served_ms.p95)} / ${fmt(r.served_ms.p99)}`,
      fmt(r.server_latency_p50_ms),
      fmt(r.child_generate_p50_ms),
      `+${fmt(r.overhead_p50_ms)} ms (${fmt(r.overhead_p50_ratio * 100)}%)`,
      r.overhead_p50_ratio <= target ? 'met' : 'missed',
    ]),
  )}`;
}

const SECTIONS: Record<string, { title: string; render: (f: ResultFile<never>) => string }> = {
  training: { title: 'Training throughput', render: training },
  interop: { title: 'Interop: `anneal import diffusers` through the engine', render: interop },
  sampling: { title: 'Sampling', render: sampling },
  ceiling: { title: "The machine's ceiling and where the step's time goes", render: ceiling },
  'to-target': { title: 'Sampling: NFE and wall time to reach a stated FD', render: toTarget },
  'diffusers-agreement': { title: 'Engine vs diffusers samplers (issue 11)', render: agreement },
  'teacher-samplers': {
    title: 'Samplers on the reference teacher (issue 11)',
    render: teacherSamplers,
  },
  plan: { title: 'Sampling plans: predicted vs measured latency (issue 13)', render: plan },
  complexity: { title: 'Steps that follow content complexity (issue 13)', render: complexity },
  schedules: { title: 'Learned vs hand-crafted schedules (issue 13)', render: schedules },
  'memory-fit': {
    title: 'Training memory: the estimate against the measured peak (issue 16)',
    render: memoryFit,
  },
  attention: {
    title: 'The attention operation alone: fused, sliced and linear (issue 16)',
    render: (f: ResultFile<AttentionBenchResult>) =>
      attentionSection(
        f.result,
        `${f.machine.cpu_model} (${f.machine.cores_logical} logical cores), backend ${f.machine.backend}, MLX ${f.machine.versions['mlx (engine)'] ?? '-'}`,
      ),
  },
  progressive: {
    title: 'Progressive vs fixed resolution: training time to a stated FD (issue 16)',
    render: progressiveSection,
  },
  'multi-resolution': {
    title: 'One multi-resolution model across its aspect buckets: FD/floor per bucket (issue 16)',
    render: multiResolutionSection,
  },
  distillation: {
    title: 'Distillation on the reference teacher: progressive and consistency (issue 12)',
    render: distillationSection,
  },
  search: {
    title: 'Hardware-aware U-Net search on the reference teacher (issue 19)',
    render: searchSection,
  },
  serving: { title: 'Serving: generate latency through a deployment (issue 17)', render: serving },
  'data-parallel': {
    title: 'Data-parallel training: 1 -> 2 ranks here, and an estimate for Macs (issue 18)',
    render: dataParallelSection,
  },
};

/** bench/RESULTS.md from every results file: regenerated, never edited by hand. */
export function renderResults(files: ResultFile[]): string {
  // The machine line describes the first section's run (a later suite may run elsewhere and
  // says so in its own section).
  const order = Object.keys(SECTIONS);
  const rank = (f: ResultFile) => (order.includes(f.name) ? order.indexOf(f.name) : order.length);
  const first = [...files].sort((a, b) => rank(a) - rank(b))[0]?.machine;
  const lines = [
    '# Benchmark results',
    '',
    'Generated by `npm run bench` (or `anneal bench`) from bench/results/*.json; do not edit.',
    '',
  ];
  if (first) {
    lines.push(
      `Machine: ${first.cpu_model} (${first.cores_logical} logical cores, ${mib(first.memory_bytes)}), backend ${first.backend}, ${first.os}.`,
      `Engine BLAS: ${first.engine_blas}; MLX Python BLAS: ${first.mlx_python_blas}.`,
      `Versions: ${Object.entries(first.versions)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}.`,
      '',
    );
  }
  // Sections in the order the benchmarks run, whatever the file names sort to.
  const sorted = [...files].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  for (const f of sorted) {
    const section = SECTIONS[f.name];
    if (!section) continue;
    lines.push(
      `## ${section.title}`,
      '',
      header(f),
      '',
      section.render(f as ResultFile<never>),
      '',
    );
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#b07aa1'];

/**
 * FD against NFE per sampler (both axes log), the target as a dashed line: the to-target
 * table as a picture. Written as to-target.svg beside RESULTS.md.
 */
export function toTargetSvg(r: ToTargetResult): string {
  const W = 640;
  const H = 360;
  const m = { left: 56, right: 120, top: 20, bottom: 44 };
  const points = r.samplers.flatMap((s) => s.tried);
  const fds = [...points.map((p) => p.fd), r.target_fd, r.reference.fd].filter((x) => x > 0);
  const nfes = points.map((p) => p.nfe_per_image);
  const [x0, x1] = [
    Math.log10(Math.min(...nfes, r.reference.nfe_per_image)),
    Math.log10(Math.max(...nfes, r.reference.nfe_per_image)),
  ];
  const [y0, y1] = [Math.log10(Math.min(...fds)), Math.log10(Math.max(...fds))];
  const pad = (a: number, b: number) => (b - a || 1) * 0.08;
  const X = (nfe: number) =>
    m.left +
    ((Math.log10(nfe) - x0 + pad(x0, x1)) / (x1 - x0 + 2 * pad(x0, x1))) * (W - m.left - m.right);
  const Y = (fd: number) =>
    H -
    m.bottom -
    ((Math.log10(fd) - y0 + pad(y0, y1)) / (y1 - y0 + 2 * pad(y0, y1))) * (H - m.top - m.bottom);
  const ticks = (lo: number, hi: number) => {
    const out: number[] = [];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++)
      for (const d of [1, 2, 5]) {
        const v = d * 10 ** e;
        if (Math.log10(v) >= lo - 1e-9 && Math.log10(v) <= hi + 1e-9) out.push(v);
      }
    // A narrow range between round numbers still gets its ends labelled.
    if (out.length < 2)
      out.push(Number((10 ** lo).toPrecision(2)), Number((10 ** hi).toPrecision(2)));
    return [...new Set(out)];
  };
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    '<title>FD against NFE per sampler; the dashed line is the target</title>',
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  for (const v of ticks(x0, x1))
    parts.push(
      `<line x1="${X(v)}" x2="${X(v)}" y1="${m.top}" y2="${H - m.bottom}" stroke="#eee"/>`,
      `<text x="${X(v)}" y="${H - m.bottom + 14}" text-anchor="middle">${v}</text>`,
    );
  for (const v of ticks(y0, y1))
    parts.push(
      `<line x1="${m.left}" x2="${W - m.right}" y1="${Y(v)}" y2="${Y(v)}" stroke="#eee"/>`,
      `<text x="${m.left - 6}" y="${Y(v) + 4}" text-anchor="end">${v}</text>`,
    );
  parts.push(
    `<text x="${(m.left + W - m.right) / 2}" y="${H - 8}" text-anchor="middle">NFE per image (log)</text>`,
    `<text transform="translate(14 ${(m.top + H - m.bottom) / 2}) rotate(-90)" text-anchor="middle">FD (log), n = ${r.n}</text>`,
    `<line x1="${m.left}" x2="${W - m.right}" y1="${Y(r.target_fd)}" y2="${Y(r.target_fd)}" stroke="#333" stroke-dasharray="5 4"/>`,
    `<text x="${m.left + 4}" y="${Y(r.target_fd) - 5}">target FD ${fmt(r.target_fd, 2)}</text>`,
    // The reference run that stated the target.
    `<rect x="${X(r.reference.nfe_per_image) - 4}" y="${Y(r.reference.fd) - 4}" width="8" height="8" fill="none" stroke="#333" stroke-width="1.5"/>`,
    `<text x="${X(r.reference.nfe_per_image) - 8}" y="${Y(r.reference.fd) + 16}" text-anchor="end">reference (${r.reference.sampler}, ${r.reference.steps} steps)</text>`,
  );
  r.samplers.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = s.tried.map((t) => `${X(t.nfe_per_image).toFixed(1)},${Y(t.fd).toFixed(1)}`);
    parts.push(
      `<polyline points="${pts.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`,
    );
    for (const t of s.tried)
      parts.push(
        `<circle cx="${X(t.nfe_per_image).toFixed(1)}" cy="${Y(t.fd).toFixed(1)}" r="3" fill="${color}"/>`,
      );
    parts.push(
      `<rect x="${W - m.right + 8}" y="${m.top + 16 * i}" width="10" height="10" fill="${color}"/>`,
      `<text x="${W - m.right + 22}" y="${m.top + 9 + 16 * i}">${s.sampler}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
