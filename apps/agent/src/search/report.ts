// How a search is shown: the pool's table and the winners beside the teacher for people, and
// the summary object (`--json`, DIR/summary.json) that benchmarks and the control plane read.
import { searchObjectiveKey } from '@anneal/protocol';
import { proxyCorrelation } from './correlation.ts';
import {
  type CandidateState,
  fixed,
  latencyLimit,
  objectiveMs,
  type SearchState,
  searchFront,
} from './state.ts';

const mib = (b: number | undefined) => (b === undefined ? '-' : (b / 2 ** 20).toFixed(0));

/** The pool's table (and the teacher's row), for people. */
export function searchTable(state: SearchState): string {
  const teacher = state.candidates.find((c) => c.name === state.teacher.name);
  const base = teacher?.measured ? objectiveMs(state.settings, teacher.measured) : undefined;
  const front = new Set(searchFront(state).map((c) => c.name));
  const rows = state.candidates.filter((c) => c.pool || c === teacher);
  const rungs = Math.max(0, ...rows.map((c) => c.rungs.length));
  const head = [
    'candidate',
    'params',
    'ms/step',
    'ms/img-step',
    `speedup (${state.settings.objective})`,
    'train ms',
    'peak MiB',
    ...Array.from(
      { length: rungs },
      (_, r) => `proxy @${rows.find((c) => c.rungs[r])?.rungs[r]?.iters}`,
    ),
    `FD @${state.settings.fullIters}`,
    'status',
  ];
  const body = rows.map((c: CandidateState) => [
    c === teacher ? `${c.name} (teacher)` : c.name,
    `${(c.features.parameters / 1e6).toFixed(2)}M`,
    c.measured?.latencyMs.toFixed(2) ?? '-',
    c.measured?.throughputMsPerImage.toFixed(2) ?? '-',
    c.measured && base ? `${(base / objectiveMs(state.settings, c.measured)).toFixed(2)}x` : '-',
    c.measured?.trainStepMs.toFixed(0) ?? '-',
    mib(c.measured?.trainPeakBytes),
    ...Array.from({ length: rungs }, (_, r) => c.rungs[r]?.proxy.toExponential(2) ?? ''),
    c === teacher
      ? fixed(state.teacherEval?.fd, 2).replace('n/a', '')
      : c.full?.eval
        ? fixed(c.full.eval.fd, 2)
        : '',
    c.dropped ??
      (c.full?.diverged
        ? `${c.winner ? 'winner, ' : ''}diverged in full training`
        : c.winner
          ? 'winner'
          : front.has(c.name)
            ? 'Pareto front'
            : state.phase === 'done'
              ? 'finished'
              : 'in the search'),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => String(r[i]).length)));
  const line = (r: string[]) => r.map((v, i) => v.padEnd(widths[i] as number)).join('  ');
  return [line(head), ...body.map(line)].join('\n');
}

/** The cost model's leave-one-out error in the search's objective, for people; null before its fit. */
export function costModelLine(state: SearchState): string | null {
  const throughput = state.settings.objective === 'throughput';
  const e = state.fits?.[searchObjectiveKey(state.settings.objective)]?.looError;
  if (!e) return null;
  const unit = throughput
    ? `ms per image-step at batch ${state.settings.throughputBatch}`
    : 'ms per step at batch 1';
  return `cost model (${unit}): leave-one-out error median ${(100 * e.median).toFixed(1)}%, max ${(100 * e.max).toFixed(1)}% over ${e.n} measured candidates`;
}

/** What `--json` prints and DIR/summary.json holds: the state, read for people and benchmarks. */
export function searchSummary(state: SearchState) {
  return {
    out: undefined as string | undefined,
    phase: state.phase,
    profile: state.profile,
    hardware: state.hardware,
    settings: state.settings,
    teacher: state.teacher,
    latencyLimitMs: state.candidates.some((c) => c.name === state.teacher.name && c.measured)
      ? latencyLimit(state)
      : null,
    candidates: state.candidates.length,
    measured: state.candidates.filter((c) => c.measured).length,
    predictor: state.fits,
    seconds: state.seconds,
    cpuSeconds: state.cpuSeconds ?? null,
    continuedOn: state.continuedOn ?? [],
    pool: state.candidates
      .filter((c) => c.pool)
      .map((c) => ({
        name: c.name,
        parameters: c.features.parameters,
        measured: c.measured,
        predicted: c.predicted,
        rungs: c.rungs,
        dropped: c.dropped ?? null,
        full: c.full ?? null,
        earlierFull: c.earlierFull ?? [],
      })),
    correlation: proxyCorrelation(state),
    front: searchFront(state).map((c) => c.name),
    teacherMeasured: state.candidates.find((c) => c.name === state.teacher.name)?.measured ?? null,
    remeasured: state.remeasured ?? null,
    teacherEval: state.teacherEval ?? null,
    winners: state.candidates
      .filter((c) => c.winner)
      .map((c) => ({
        name: c.name,
        unet: c.unet,
        parameters: c.features.parameters,
        measured: c.measured,
        speedup: speedupOf(state, c),
        rungs: c.rungs,
        full: c.full ?? null,
        dir: c.full?.eval ? `winners/${c.name}` : null,
      })),
  };
}

/** The teacher's measured cost over the candidate's, in the search's objective. */
function speedupOf(state: SearchState, c: CandidateState): number | null {
  const t = state.candidates.find((x) => x.name === state.teacher.name)?.measured;
  return t && c.measured
    ? objectiveMs(state.settings, t) / objectiveMs(state.settings, c.measured)
    : null;
}

/** The winners beside the teacher: FD at one setting, speed and size. */
export function winnersTable(state: SearchState): string | null {
  const winners = state.candidates.filter((c) => c.winner);
  const t = state.teacherEval;
  if (winners.length === 0 || !t) return null;
  const s = state.settings;
  const lines = [
    `FD at ${s.proxy.sampler} ${s.proxy.steps} steps, n = ${t.n}, no guidance (floor ${fixed(t.floor)}); teacher FD ${fixed(t.fd)}`,
  ];
  for (const c of winners) {
    const e = c.full?.eval;
    const speed = speedupOf(state, c);
    lines.push(
      `  ${c.name}: ${e ? `FD ${fixed(e.fd)} (${e.fd !== null && t.fd ? `${(e.fd / t.fd).toFixed(2)}x` : 'n/a'} the teacher's)` : c.full?.diverged ? 'its full training diverged, not evaluated' : 'not evaluated yet'}, ${speed ? `${speed.toFixed(2)}x faster (${s.objective})` : ''}, ${(c.features.parameters / 1e6).toFixed(2)}M parameters, ${c.full?.iters ?? c.rungs.at(-1)?.iters ?? 0} iterations`,
    );
  }
  return lines.join('\n');
}
