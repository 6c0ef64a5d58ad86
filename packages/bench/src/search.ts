// The search benchmark of issue 19: what `anneal search` measured on the reference teacher
// (the search is the benchmark: hours of measuring and training, resumable across sittings),
// recorded for bench/RESULTS.md beside the issue's targets. Nothing here measures or trains;
// it reads the search folder's summary.json (rewritten at every exit of `anneal search`), so
// a stopped search is recorded as it stands, marked incomplete.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  describeFullSchedule,
  type SearchSummary,
  searchObjectiveKey,
  searchObjectiveMs,
  searchRankText,
  searchSummarySchema,
} from '@anneal/protocol';
import { fmt, type ResultFile, table } from './report-format.ts';

export interface SearchRunRecord {
  /** The search folder, relative to the repository. */
  dir: string;
  /** The teacher's folder, relative to the repository when inside it. */
  teacher: string;
  summary: SearchSummary;
}

export interface SearchBenchResult {
  runs: SearchRunRecord[];
}

/** The issue's targets: 1.5x per sampling step at FD within 1.2x, 6 CPU-hours, 6 ranked. */
export const SEARCH_TARGETS = { speedup: 1.5, fdRatio: 1.2, cpuHours: 6, ranked: 6 } as const;

/** Reads one `anneal search` folder (`repo`: paths in the record are relative to it). */
export function readSearchRun(dir: string, repo: string): SearchRunRecord {
  const path = join(dir, 'summary.json');
  if (!existsSync(path))
    throw new Error(
      `${dir}: no summary.json (an anneal search folder has one after its first exit; \`anneal search --resume --out ${dir}\` writes it)`,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  const r = searchSummarySchema.safeParse(raw);
  if (!r.success)
    throw new Error(
      `${path} is not a search summary: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const rel = (p: string) => (p.startsWith(repo) ? relative(repo, p) || '.' : p);
  return { dir: rel(dir), teacher: rel(r.data.teacher.dir), summary: r.data };
}

type Verdict = 'met' | 'missed' | 'reported' | 'not yet measured';

type Cost = { latencyMs: number; throughputMsPerImage: number };

/** The teacher's ms over a candidate's, in one measured quantity (the search's objective unless named). */
function speedup(
  s: SearchSummary,
  cost: Cost | null | undefined,
  quantity: 'latencyMs' | 'throughputMsPerImage' = searchObjectiveKey(s.settings.objective),
): number | null {
  const t = s.teacherMeasured?.[quantity];
  const c = cost?.[quantity];
  return t && c ? t / c : null;
}

/** What the objective's ms are, in words. */
function objectiveUnit(s: SearchSummary): string {
  return s.settings.objective === 'throughput'
    ? `per image-step at batch ${s.settings.throughputBatch}`
    : 'per step at batch 1';
}

/** Issue 19's targets for one search: each with the value it reads and a verdict. */
export function searchTargets(
  s: SearchSummary,
): Array<{ target: string; value: string; verdict: Verdict }> {
  const teacherFd = s.teacherEval?.fd ?? null;
  const evaluated = s.winners.filter(
    (w) => w.full?.eval?.fd !== null && w.full?.eval?.fd !== undefined,
  );
  const rows = evaluated.map((w) => ({
    name: w.name,
    speedup: speedup(s, w.measured),
    ratio: teacherFd ? (w.full?.eval?.fd as number) / teacherFd : null,
  }));
  const ok = (r: (typeof rows)[number]) =>
    r.speedup !== null &&
    r.ratio !== null &&
    r.speedup >= SEARCH_TARGETS.speedup &&
    r.ratio <= SEARCH_TARGETS.fdRatio;
  const best = rows.find(ok) ?? rows[0];
  const cpu = s.cpuSeconds;
  const hours = cpu ? (cpu.measuring + cpu.halving + cpu.training) / 3600 : null;
  // Rungs read from an earlier search of the teacher cost this one nothing: its CPU time then
  // says what it spent, not what a search costs.
  const rungs = s.pool.flatMap((p) => [...p.rungs, ...(p.full ? [p.full] : [])]);
  const reused = rungs.filter((r) => r.reused).length;
  const c = s.correlation;
  const trained = s.phase === 'done' || s.phase === 'correlating';
  return [
    {
      target: `a winner >= ${SEARCH_TARGETS.speedup}x faster per sampling step (${s.settings.objective === 'throughput' ? `per image at batch ${s.settings.throughputBatch}, this search's objective` : 'batch 1'}) with FD <= ${SEARCH_TARGETS.fdRatio}x the teacher's`,
      value: best
        ? `${best.name}: ${fmt(best.speedup, 2)}x, FD ${fmt(best.ratio, 2)}x the teacher's`
        : '-',
      verdict: rows.some(ok) ? 'met' : !best || !trained ? 'not yet measured' : 'missed',
    },
    {
      target: `the search within ${SEARCH_TARGETS.cpuHours} CPU-hours (measuring, halving, the winners; not the correlation's extra training)`,
      value:
        hours === null
          ? 'not counted (a search from before CPU time was)'
          : `${fmt(hours, 2)} CPU-hours${cpu?.fromStart ? '' : ', counted from a resume on: the start is missing'}${trained ? '' : ' so far'}${reused ? `; ${reused} of ${rungs.length} trainings read from an earlier search` : ''}`,
      verdict:
        hours === null || !cpu?.fromStart || reused > 0
          ? 'reported'
          : hours > SEARCH_TARGETS.cpuHours
            ? 'missed'
            : trained
              ? 'met'
              : 'not yet measured',
    },
    {
      target: `the proxy's rank correlation with FD after full training, over >= ${SEARCH_TARGETS.ranked} candidates`,
      value: c
        ? `Spearman ${searchRankText(c.firstRung, c.spread?.firstRung)} (first rung), ${searchRankText(c.full, c.spread?.full)} (proxy after full training), n = ${c.n}${c.spread ? `; intervals over ${c.spread.resamples} paired resamples of the FD evaluations` : ''}`
        : '-',
      verdict: c && c.n >= SEARCH_TARGETS.ranked ? 'reported' : 'not yet measured',
    },
  ];
}

/** Relative error of the cost model (in the objective) on the pool, which it chose but was not fitted on. */
function poolError(s: SearchSummary): { median: number; max: number; n: number } | null {
  const errs = s.pool
    .flatMap((c) =>
      c.measured && c.predicted
        ? [
            Math.abs(
              (searchObjectiveMs(s.settings.objective, c.predicted) -
                searchObjectiveMs(s.settings.objective, c.measured)) /
                searchObjectiveMs(s.settings.objective, c.measured),
            ),
          ]
        : [],
    )
    .sort((a, b) => a - b);
  if (errs.length === 0) return null;
  const mid = Math.floor(errs.length / 2);
  const median =
    errs.length % 2
      ? (errs[mid] as number)
      : ((errs[mid - 1] as number) + (errs[mid] as number)) / 2;
  return { median, max: errs.at(-1) as number, n: errs.length };
}

/** A pool member's full training: its own, or (a summary from before the pool carried it) its winner's. */
function fullOf(s: SearchSummary, c: SearchSummary['pool'][number]) {
  return c.full ?? s.winners.find((w) => w.name === c.name)?.full ?? null;
}

const pct = (x: number | null | undefined) =>
  x === null || x === undefined ? '-' : `${fmt(100 * x, 1)}%`;

/**
 * The command that ran a search, its recipe spelled out: defaults change between releases
 * (the inheritance, the output weight), and a record must still say how it was made.
 */
function searchCommand(run: SearchBenchResult['runs'][number]): string {
  const st = run.summary.settings;
  // The BLAS thread count is the environment's, kept in the profile key (plan/costs.ts).
  const threads = /-blas(\d+)(?:-|$)/.exec(run.summary.profile)?.[1];
  const flags = [
    `--teacher ${run.teacher}`,
    `--out ${run.dir}`,
    ...(st.objective === 'latency' ? [] : [`--objective ${st.objective}`]),
    ...(st.latencyMs === null ? [] : [`--latency-ms ${st.latencyMs}`]),
    ...(st.latencyMs !== null || st.speedup === 1.5 ? [] : [`--speedup ${st.speedup}`]),
    `--inherit ${st.proxy.inherit}`,
    `--output-weight ${st.proxy.outputWeight}`,
    `--winners ${st.winners}`,
    `--full-iters ${st.fullIters}`,
    ...(st.fullSchedule === 'constant' ? [] : [`--full-schedule ${st.fullSchedule}`]),
  ];
  return `${threads ? `OPENBLAS_NUM_THREADS=${threads} ` : ''}npx anneal search ${flags.join(' ')} --json`;
}

export function searchSection(f: ResultFile<SearchBenchResult>): string {
  const parts: string[] = [];
  for (const run of f.result.runs) {
    const s = run.summary;
    const st = s.settings;
    const rungs = Math.max(0, ...s.pool.map((c) => c.rungs.length));
    const loo = s.predictor?.[searchObjectiveKey(s.settings.objective)]?.looError;
    const pe = poolError(s);
    const cpu = s.cpuSeconds;
    parts.push(
      `### ${run.dir}: the teacher ${run.teacher} on ${s.profile}${s.phase === 'done' ? '' : ` — incomplete: phase ${s.phase}`}`,
      '',
      `${s.candidates} candidates counted, ${s.measured} measured; objective ${st.objective}, limit ${fmt(s.latencyLimitMs, 2)} ms ${objectiveUnit(s)} (${st.latencyMs === null ? `the teacher's / ${st.speedup}` : 'given'}); pool ${st.pool}, each started from the teacher's ${st.proxy.inherit === 'narrowed' ? 'weights, narrowed to its channels where narrower' : 'tensors of the same names and shapes'}, taught by the teacher's output at weight ${st.proxy.outputWeight} beside the data loss, successive halving from ${st.firstIters} iterations, eta ${st.eta}, ${st.rungs} rungs; proxy: the mean squared distance to the teacher's samples from the same noise (${st.proxy.sampler}, ${st.proxy.steps} steps, n = ${st.proxy.n}); winners trained to ${st.fullIters} iterations ${describeFullSchedule(st.fullSchedule)}, FD at n = ${st.evalN} without guidance. Command: \`${searchCommand(run)}\`, resumed with \`--resume\` across sittings${st.correlate ? ` (\`--correlate ${st.correlate}\` for the rank correlation)` : ''}.`,
      '',
      `Cost model (ms ${objectiveUnit(s)}): leave-one-out error median ${pct(loo?.median)}, max ${pct(loo?.max)} over ${loo?.n ?? 0} measured; on the pool it chose (out of sample) median ${pct(pe?.median)}, max ${pct(pe?.max)} over ${pe?.n ?? 0}.${cpu ? ` CPU time: measuring ${fmt(cpu.measuring / 3600, 2)} h, halving ${fmt(cpu.halving / 3600, 2)} h, the winners ${fmt(cpu.training / 3600, 2)} h, the correlation's ${fmt(cpu.correlating / 3600, 2)} h${cpu.fromStart ? '' : ' (counted from a resume on)'}.` : ''}`,
      '',
      table(
        ['target', 'value', 'verdict'],
        searchTargets(s).map((t) => [t.target, t.value, t.verdict]),
      ),
      '',
    );
    const t = s.teacherMeasured;
    const head = [
      'candidate',
      'params',
      'ms/step (batch 1)',
      'speedup (batch 1)',
      `ms/img-step (batch ${st.throughputBatch})`,
      `speedup (batch ${st.throughputBatch})`,
      `train ms (batch ${st.trainBatch})`,
      'train peak MiB',
      ...Array.from({ length: rungs }, (_, r) => {
        const iters = s.pool.find((c) => c.rungs[r])?.rungs[r]?.iters;
        return `proxy @${iters}`;
      }),
      `FD @${st.fullIters}`,
      'status',
    ];
    const mibOf = (b: number | undefined) => (b === undefined ? '-' : fmt(b / 2 ** 20, 0));
    const winners = new Set(s.winners.map((w) => w.name));
    const front = new Set(s.front);
    const rows: Array<Array<string | number>> = [
      [
        `${s.teacher.name} (teacher)`,
        '-',
        fmt(t?.latencyMs, 2),
        '1.00x',
        fmt(t?.throughputMsPerImage, 2),
        '1.00x',
        fmt(t?.trainStepMs, 0),
        mibOf(t?.trainPeakBytes),
        ...Array.from({ length: rungs }, () => ''),
        fmt(s.teacherEval?.fd, 3),
        front.has(s.teacher.name) ? 'Pareto front' : '',
      ],
      ...s.pool.map((c) => [
        c.name,
        `${fmt(c.parameters / 1e6, 2)}M`,
        fmt(c.measured?.latencyMs, 2),
        `${fmt(speedup(s, c.measured, 'latencyMs'), 2)}x`,
        fmt(c.measured?.throughputMsPerImage, 2),
        `${fmt(speedup(s, c.measured, 'throughputMsPerImage'), 2)}x`,
        fmt(c.measured?.trainStepMs, 0),
        mibOf(c.measured?.trainPeakBytes),
        ...Array.from({ length: rungs }, (_, r) => {
          const p = c.rungs[r]?.proxy;
          return p === undefined ? '' : p === null ? '-' : p.toExponential(2);
        }),
        fmt(fullOf(s, c)?.eval?.fd, 3).replace(/^-$/, ''),
        fullOf(s, c)?.diverged
          ? `${winners.has(c.name) ? 'winner, ' : ''}diverged in full training`
          : winners.has(c.name)
            ? 'winner'
            : (c.dropped ?? (front.has(c.name) ? 'Pareto front' : 'in the search')),
      ]),
    ];
    parts.push(table(head, rows), '');
    const e = s.teacherEval;
    if (e) {
      const evaluated = [
        { name: `${s.teacher.name} (teacher)`, eval: e, cost: t },
        ...s.pool.flatMap((c) => {
          const done = fullOf(s, c)?.eval;
          return done
            ? [
                {
                  name: `${c.name}${winners.has(c.name) ? ' (winner)' : ''}`,
                  eval: done,
                  cost: c.measured,
                },
              ]
            : [];
        }),
      ];
      parts.push(
        `FD against the real-vs-real floor (${fmt(e.floor, 3)} at n = ${e.n}), each at ${st.proxy.sampler} ${st.proxy.steps} steps from the same noise, no guidance:`,
        '',
        table(
          [
            'model',
            `speedup (${st.objective === 'throughput' ? `batch ${st.throughputBatch}` : 'batch 1'})`,
            'FD',
            "FD / teacher's",
            'FD / floor',
            'KID',
            'precision / recall',
            'class accuracy',
          ],
          evaluated.map((m) => [
            m.name,
            `${fmt(speedup(s, m.cost), 2)}x`,
            fmt(m.eval.fd, 3),
            e.fd && m.eval.fd !== null ? `${fmt(m.eval.fd / e.fd, 2)}x` : '-',
            e.floor && m.eval.fd !== null ? `${fmt(m.eval.fd / e.floor, 1)}x` : '-',
            fmt(m.eval.kid, 4),
            `${fmt(m.eval.precision, 3)} / ${fmt(m.eval.recall, 3)}`,
            fmt(m.eval.classAccuracy, 3),
          ]),
        ),
        '',
      );
    }
    // Full trainings a resume's new settings replaced stay on record beside the current ones.
    const earlier = s.pool.flatMap((c) =>
      c.earlierFull.map((f) => ({ name: c.name, f, now: fullOf(s, c) })),
    );
    if (earlier.length > 0)
      parts.push(
        'Full trainings under earlier settings (replaced on a resume; FD on the same ruler):',
        '',
        table(
          ['candidate', 'iterations', 'rate past the rungs', 'FD then', "FD / teacher's", 'FD now'],
          earlier.map(({ name, f, now }) => [
            name,
            f.iters,
            f.anneal ? `cosine ${f.anneal.from} -> ${f.anneal.to}` : 'constant',
            fmt(f.eval?.fd, 3),
            e?.fd && f.eval?.fd ? `${fmt(f.eval.fd / e.fd, 2)}x` : '-',
            fmt(now?.eval?.fd, 3),
          ]),
        ),
        '',
      );
  }
  return parts.join('\n').trimEnd();
}
