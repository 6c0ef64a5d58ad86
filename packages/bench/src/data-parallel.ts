// The data-parallel benchmark of issue 18: `anneal train` on 1 and on R ranks of this machine
// (MLX's ring backend over loopback), the same model, data and effective batch, the runs
// alternating round by round. Each run's step time is the median over its timed steps
// (wall_s between logged steps, after a warm-up); the communication is the ranks' own probe:
// one all_sum of the gradient's size, timed at the start (comm_ms, comm_share). Beside it, an
// estimate for M-series Macs over Thunderbolt and 10 GbE from the gradient's size and the
// links' bandwidth: what could not be measured here.
import { type ResultFile, table } from './report-format.ts';
import { type Log, median } from './stats.ts';

/** Runs `anneal train ARGS` in env; resolves with its stdout lines (rejects on failure). */
export type TrainRunner = (args: string[], env: NodeJS.ProcessEnv) => Promise<string[]>;

export interface DataParallelOptions {
  train: TrainRunner;
  presets: string[];
  resolution: number;
  /** The effective batch, the same at every rank count (each of R ranks takes batch / R). */
  batch: number;
  /** Steps not timed (compilation, first allocations). */
  warmup: number;
  /** Steps timed per run. */
  steps: number;
  rounds: number;
  /** Rank counts to compare; the first is the reference (1: one process). */
  ranks: number[];
  /** The cores the runs share: one process gets them all, each of R ranks cores / R threads. */
  cores: number;
  /** A scratch folder per run. */
  scratch: () => string;
  log?: Log;
  onPartial?: (r: DataParallelResult) => void;
}

export interface DataParallelCase {
  preset: string;
  ranks: number;
  threads_per_rank: number;
  parameters: number;
  gradient_bytes: number;
  /** Median step time over every timed step of every round. */
  step_ms: number;
  /** Per round, its median step time (the spread across rounds). */
  round_step_ms: number[];
  images_per_s: number;
  /** Against the first rank count's run of the same preset. */
  speedup: number | null;
  /** Median of the ranks' all_sum probe (one all_sum of the gradient's size); null alone. */
  comm_ms: number | null;
  comm_share: number | null;
}

export interface LinkEstimate {
  link: string;
  /** The bandwidth assumed, Gbit/s, and the per-message latency, ms. */
  gbit_s: number;
  latency_ms: number;
  ranks: number;
  preset: string;
  /** One ring all-reduce of the gradient: 2 (R-1)/R of its bytes over the link, 2 hops. */
  allreduce_ms: number;
  /** The compute step time at which communication is a tenth of the step. */
  step_ms_for_10pct: number;
}

export interface DataParallelResult {
  resolution: number;
  batch: number;
  cases: DataParallelCase[];
  estimates: LinkEstimate[];
}

/**
 * The links of the estimate, at their nominal rates (not measured here): Thunderbolt 4 and 5
 * as IP over a Thunderbolt bridge, 10 GbE. The latency is a round figure for a TCP message
 * on such a link; the estimate is bandwidth-bound for gradients of megabytes.
 */
export const LINKS = [
  { link: 'Thunderbolt 5 (80 Gbit/s nominal)', gbit_s: 80, latency_ms: 0.05 },
  { link: 'Thunderbolt 4 (40 Gbit/s nominal)', gbit_s: 40, latency_ms: 0.05 },
  { link: '10 GbE', gbit_s: 10, latency_ms: 0.1 },
] as const;

/** The buckets the engine sums the gradients in (native trainer: up to 32 MB each). */
const BUCKET_BYTES = 32 * 1024 * 1024;

/** A ring all-reduce of `bytes` over `ranks` on a link: bandwidth term plus latency per hop. */
export function ringAllReduceMs(
  bytes: number,
  ranks: number,
  link: { gbit_s: number; latency_ms: number },
): number {
  const buckets = Math.max(1, Math.ceil(bytes / BUCKET_BYTES));
  const wire = ((2 * (ranks - 1)) / ranks) * bytes;
  return ((wire * 8) / (link.gbit_s * 1e9)) * 1000 + buckets * 2 * (ranks - 1) * link.latency_ms;
}

interface MetricsLine {
  event: 'metrics';
  step: number;
  wall_s: number;
  comm_ms?: number;
  comm_share?: number;
}

/** The metrics events of a run's stdout, and its summary's parameter count. */
function parseRun(lines: string[]): { metrics: MetricsLine[]; parameters: number } {
  const metrics: MetricsLine[] = [];
  let parameters = 0;
  for (const line of lines) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue;
    }
    const o = parsed as Record<string, unknown>;
    if (o.event === 'metrics') metrics.push(o as unknown as MetricsLine);
    else if (typeof o.parameters === 'number' && typeof o.steps === 'number')
      parameters = o.parameters;
  }
  return { metrics, parameters };
}

/** Step times (ms) of the timed steps: wall_s between consecutive logged steps past the warm-up. */
export function stepTimes(metrics: MetricsLine[], warmup: number): number[] {
  const out: number[] = [];
  for (let i = 1; i < metrics.length; i++) {
    const a = metrics[i - 1] as MetricsLine;
    const b = metrics[i] as MetricsLine;
    if (a.step < warmup || b.step !== a.step + 1) continue;
    out.push((b.wall_s - a.wall_s) * 1000);
  }
  return out;
}

export async function benchDataParallel(o: DataParallelOptions): Promise<DataParallelResult> {
  const log = o.log ?? (() => {});
  const result: DataParallelResult = {
    resolution: o.resolution,
    batch: o.batch,
    cases: [],
    estimates: [],
  };
  for (const preset of o.presets) {
    const runs = new Map<number, { times: number[][]; comm: number[]; share: number[] }>();
    let parameters = 0;
    for (let round = 0; round < o.rounds; round++) {
      // Alternating the arms round by round, so drift in the machine's load falls on both.
      const order = round % 2 === 0 ? o.ranks : [...o.ranks].reverse();
      for (const ranks of order) {
        const threads = Math.max(1, Math.floor(o.cores / ranks));
        const args = [
          '--dataset',
          'shapes',
          '--resolution',
          String(o.resolution),
          '--preset',
          preset,
          '--batch',
          String(o.batch),
          '--steps',
          String(o.warmup + o.steps),
          '--log-every',
          '1',
          '--checkpoint-every',
          String(o.warmup + o.steps),
          '--sample-every',
          '0',
          '--out',
          o.scratch(),
          '--json',
          '--events',
          ...(ranks > 1 ? ['--ranks', String(ranks)] : []),
        ];
        log(
          `data-parallel: ${preset}, ${ranks} rank(s) x ${threads} thread(s), round ${round + 1}`,
        );
        const lines = await o.train(args, {
          OPENBLAS_NUM_THREADS: String(threads),
          OMP_NUM_THREADS: String(threads),
        });
        const run = parseRun(lines);
        parameters = run.parameters || parameters;
        const times = stepTimes(run.metrics, o.warmup);
        if (times.length === 0)
          throw new Error(`data-parallel: ${preset} on ${ranks} rank(s) logged no timed steps`);
        const entry = runs.get(ranks) ?? { times: [], comm: [], share: [] };
        entry.times.push(times);
        const timed = run.metrics.filter((m) => m.step > o.warmup);
        for (const m of timed) {
          if (typeof m.comm_ms === 'number') entry.comm.push(m.comm_ms);
          if (typeof m.comm_share === 'number') entry.share.push(m.comm_share);
        }
        runs.set(ranks, entry);
      }
    }
    const reference = runs.get(o.ranks[0] as number);
    const referenceMs = reference ? median(reference.times.flat()) : Number.NaN;
    for (const ranks of o.ranks) {
      const r = runs.get(ranks);
      if (!r) continue;
      const stepMs = median(r.times.flat());
      result.cases.push({
        preset,
        ranks,
        threads_per_rank: Math.max(1, Math.floor(o.cores / ranks)),
        parameters,
        gradient_bytes: parameters * 4,
        step_ms: stepMs,
        round_step_ms: r.times.map((t) => median(t)),
        images_per_s: o.batch / (stepMs / 1000),
        speedup: ranks === o.ranks[0] ? null : referenceMs / stepMs,
        comm_ms: r.comm.length ? median(r.comm) : null,
        comm_share: r.share.length ? median(r.share) : null,
      });
    }
    for (const link of LINKS)
      for (const ranks of [2, 3, 4]) {
        const ms = ringAllReduceMs(parameters * 4, ranks, link);
        result.estimates.push({
          ...link,
          ranks,
          preset,
          allreduce_ms: ms,
          step_ms_for_10pct: 10 * ms,
        });
      }
    o.onPartial?.(result);
  }
  return result;
}

const f = (x: number | null, digits: number) =>
  x === null || !Number.isFinite(x) ? '-' : x.toFixed(digits);

export function dataParallelSection(file: ResultFile<DataParallelResult>): string {
  const r = file.result;
  const m = file.machine;
  const rows = r.cases.map((c) => [
    c.preset,
    c.ranks,
    c.threads_per_rank,
    `${(c.gradient_bytes / 2 ** 20).toFixed(1)} MiB`,
    f(c.step_ms, 1),
    c.round_step_ms.map((x) => x.toFixed(0)).join(' / '),
    f(c.images_per_s, 1),
    c.speedup === null ? '1 (reference)' : `${f(c.speedup, 2)}x`,
    f(c.comm_ms, 2),
    c.comm_share === null ? '-' : `${(100 * c.comm_share).toFixed(1)}%`,
  ]);
  const est = r.estimates.map((e) => [
    e.preset,
    e.link,
    e.ranks,
    f(e.allreduce_ms, 2),
    f(e.step_ms_for_10pct, 0),
  ]);
  return [
    `\`anneal train\` on shapes at ${r.resolution} px, effective batch ${r.batch} at every rank count (each of R ranks takes ${r.batch}/R), one process against \`--ranks R\` on this machine (MLX's ring backend over loopback) on ${m.cpu_model} (${m.cores_logical} logical cores): one process gets every core's BLAS thread, each of R ranks its share. Step time: the median over the timed steps of every round (the rounds' own medians beside it); the arms alternate round by round. Communication: the ranks' probe, one all_sum of the gradient's size timed across the group (a share of the step's time). On one machine the ranks split the same cores, so this measures the cost of the group, not a speed-up: the speed-up of data parallelism comes from more machines.`,
    '',
    table(
      [
        'preset',
        'ranks',
        'threads/rank',
        'gradient',
        'step ms',
        'per round',
        'images/s',
        'vs 1 process',
        'all_sum ms',
        'comm share',
      ],
      rows,
    ),
    '',
    'Estimate for M-series Macs (not measured here: no Macs or Thunderbolt on this machine). One ring all-reduce of the float32 gradient moves 2(R-1)/R of its bytes through each link, in the engine\'s 32 MB buckets with 2(R-1) messages each; the links at their nominal rates, with a round per-message latency. "Step for 10%" is the compute step time at which that all-reduce is a tenth of the step: a Mac whose step takes longer scales nearly linearly, one whose step is shorter spends more than a tenth of it communicating.',
    '',
    table(['preset', 'link', 'Macs', 'all-reduce ms', 'step ms for 10%'], est),
  ].join('\n');
}
