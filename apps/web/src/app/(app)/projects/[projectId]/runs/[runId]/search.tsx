'use client';

import {
  describeFullSchedule,
  SEARCH_ARTIFACTS,
  type SearchSummary,
  searchObjectiveKey,
  searchObjectiveMs,
  searchRankText,
  searchSummarySchema,
  searchTeacherMs,
} from '@anneal/protocol';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { linearTicks, logTickLabels, logTicks, plain } from '../../../../../../ui/chart-scale.ts';
import { num } from '../../../../../../ui/format.ts';
import { useTRPC } from '../../../../../../ui/trpc.tsx';
import { SearchCost } from './search-cost.tsx';

type Candidate = SearchSummary['pool'][number];

const mib = (b: number | undefined) => (b === undefined ? '—' : (b / 2 ** 20).toFixed(0));
const lastProxy = (c: { rungs: { proxy: number | null }[] }) => c.rungs.at(-1)?.proxy ?? null;

/** A candidate's state in words, as `anneal search` prints it in its table. */
function status(s: SearchSummary, c: Candidate): string {
  if (c.dropped) return c.dropped;
  const winner = s.winners.some((w) => w.name === c.name);
  if (c.full?.diverged) return `${winner ? 'winner, ' : ''}diverged in full training`;
  if (winner) return 'winner';
  if (s.front.includes(c.name)) return 'Pareto front';
  return s.phase === 'done' ? 'finished' : 'in the search';
}

/**
 * A search job's run: the pool's table (measured cost on the agent, speedup over the teacher,
 * the proxy after each rung, what became of each), a scatter of proxy against speed with
 * the Pareto front joined and the teacher marked, and the winners beside the teacher, each
 * linked to the model version it was registered as. Read from the summary the job uploaded.
 */
export function Search({
  runId,
  artifactPaths,
  artifactUrl,
}: {
  runId: string;
  artifactPaths: string[];
  artifactUrl: (path: string) => string;
}) {
  const trpc = useTRPC();
  const has = artifactPaths.includes(SEARCH_ARTIFACTS.summary);
  const summary = useQuery({
    queryKey: ['search-summary', artifactUrl(SEARCH_ARTIFACTS.summary)],
    enabled: has,
    queryFn: async (): Promise<SearchSummary> => {
      const res = await fetch(artifactUrl(SEARCH_ARTIFACTS.summary));
      if (!res.ok) throw new Error(`search summary: HTTP ${res.status}`);
      const parsed = searchSummarySchema.safeParse(await res.json());
      if (!parsed.success)
        throw new Error(
          `the search summary is not what anneal search prints: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`,
        );
      return parsed.data;
    },
  });
  const lineage = useQuery({ ...trpc.runs.lineage.queryOptions({ runId }), enabled: has });
  if (!has) return null;
  const s = summary.data;
  const versionOf = (name: string) =>
    lineage.data?.versions.find(
      (v) => v.artifactPath === `${SEARCH_ARTIFACTS.winner(name)}model.safetensors`,
    );
  return (
    <div className="card card-pad" data-testid="search">
      <h2>Search</h2>
      {summary.error && <p className="error">{(summary.error as Error).message}</p>}
      {s && <SearchBody s={s} versionOf={versionOf} />}
    </div>
  );
}

function SearchBody({
  s,
  versionOf,
}: {
  s: SearchSummary;
  versionOf: (
    name: string,
  ) => { id: string; modelName: string; version: number; projectId: string } | undefined;
}) {
  const { objective } = s.settings;
  const teacherMs = searchTeacherMs(s);
  const unit = UNITS[objective];
  const rungs = Math.max(0, ...s.pool.map((c) => c.rungs.length));
  const rungIters = (r: number) => s.pool.find((c) => c.rungs[r])?.rungs[r]?.iters;
  const fit = s.predictor?.[searchObjectiveKey(objective)]?.looError;
  const t = s.teacherEval;
  const { sampler, steps } = s.settings.proxy;
  const earlier = s.pool.flatMap((c) => c.earlierFull.map((f) => ({ name: c.name, f })));
  return (
    <>
      <p className="muted small">
        Measured on <span className="mono">{s.profile}</span>: {num(s.candidates)} candidates
        counted, {num(s.measured)} measured
        {fit && fit.median !== null
          ? ` (the cost model's leave-one-out error: median ${(100 * fit.median).toFixed(1)}% over ${fit.n})`
          : ''}
        ; speed is {unit.long}; limit{' '}
        {s.latencyLimitMs !== null ? `${num(s.latencyLimitMs)} ${unit.short}` : 'not known yet'}
        {s.settings.latencyMs === null ? ` (the teacher's ÷ ${s.settings.speedup})` : ''}. The proxy
        is the mean squared distance of a candidate's samples to the teacher's from the same noise (
        {sampler}, {steps} steps); lower is better. Phase: {s.phase}.
      </p>
      <SearchCost s={s} unit={unit.short} />
      <div className="table-wrap">
        <table data-testid="search-pool">
          <thead>
            <tr>
              <th>Candidate</th>
              <th className="num">Params</th>
              <th className="num" title="ms per sampling step at batch 1">
                ms/step
              </th>
              <th className="num" title="ms per image per step at the throughput batch">
                ms/img-step
              </th>
              <th className="num" title={`The teacher's ${unit.short} over the candidate's`}>
                Speedup
              </th>
              <th className="num">Train ms</th>
              <th className="num">Peak MiB</th>
              {Array.from({ length: rungs }, (_, r) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: rungs are positions
                <th key={r} className="num">
                  Proxy @{rungIters(r)}
                </th>
              ))}
              <th
                className="num"
                title={`FD after ${s.settings.fullIters} iterations (no guidance, n = ${s.settings.evalN})`}
              >
                FD
              </th>
              <th>Status</th>
            </tr>
          </thead>
          <tbody>
            <tr className="muted">
              <td className="mono">{s.teacher.name} (teacher)</td>
              <td />
              <td className="num mono">
                {objective === 'latency' && teacherMs !== null ? teacherMs.toFixed(2) : '—'}
              </td>
              <td className="num mono">
                {objective === 'throughput' && teacherMs !== null ? teacherMs.toFixed(2) : '—'}
              </td>
              <td className="num mono">1.00×</td>
              <td />
              <td />
              {Array.from({ length: rungs }, (_, r) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: rungs are positions
                <td key={r} />
              ))}
              <td className="num mono">{t?.fd != null ? t.fd.toFixed(2) : ''}</td>
              <td>{s.front.includes(s.teacher.name) ? 'Pareto front' : ''}</td>
            </tr>
            {s.pool.map((c) => {
              const v = versionOf(c.name);
              return (
                <tr key={c.name} data-testid={`search-row-${c.name}`}>
                  <td className="mono">{c.name}</td>
                  <td className="num mono">{(c.parameters / 1e6).toFixed(2)}M</td>
                  <td className="num mono">{c.measured?.latencyMs.toFixed(2) ?? '—'}</td>
                  <td className="num mono">{c.measured?.throughputMsPerImage.toFixed(2) ?? '—'}</td>
                  <td className="num mono">
                    {c.measured && teacherMs !== null
                      ? `${(teacherMs / searchObjectiveMs(objective, c.measured)).toFixed(2)}×`
                      : '—'}
                  </td>
                  <td className="num mono">{c.measured?.trainStepMs.toFixed(0) ?? '—'}</td>
                  <td className="num mono">{mib(c.measured?.trainPeakBytes)}</td>
                  {Array.from({ length: rungs }, (_, r) => {
                    const p = c.rungs[r]?.proxy;
                    return (
                      // biome-ignore lint/suspicious/noArrayIndexKey: rungs are positions
                      <td key={r} className="num mono">
                        {p === undefined ? '' : p === null ? '—' : p.toExponential(2)}
                      </td>
                    );
                  })}
                  <td className="num mono">
                    {c.full?.eval?.fd != null ? c.full.eval.fd.toFixed(2) : ''}
                  </td>
                  <td className="wrap" style={{ minWidth: 180 }}>
                    {status(s, c)}
                    {v && (
                      <>
                        {' · '}
                        <Link
                          href={`/projects/${v.projectId}/models/${encodeURIComponent(v.modelName)}`}
                        >
                          {v.modelName} v{v.version}
                        </Link>
                      </>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {s.correlation && (
        <p className="muted small" data-testid="search-correlation">
          The proxy against FD after full training, over {s.correlation.n} candidates: Spearman{' '}
          {searchRankText(s.correlation.firstRung, s.correlation.spread?.firstRung)} at the first
          rung, {searchRankText(s.correlation.full, s.correlation.spread?.full)} after full training
          {s.correlation.spread
            ? ` (intervals over ${s.correlation.spread.resamples} paired resamples of the FD evaluations)`
            : ''}
          .
        </p>
      )}
      <SearchScatter s={s} teacherMs={teacherMs} />
      {s.winners.length > 0 && (
        <>
          <h3 style={{ marginTop: 14 }}>Winners</h3>
          <p className="muted small" data-testid="search-winners-note">
            Started from the teacher's{' '}
            {s.settings.proxy.inherit === 'narrowed'
              ? 'weights, narrowed to their channels where narrower'
              : 'tensors of the same names and shapes'}
            , taught by the teacher's output at weight {s.settings.proxy.outputWeight} beside the
            data loss, trained on to {num(s.settings.fullIters)} iterations{' '}
            {describeFullSchedule(s.settings.fullSchedule)}; FD at {sampler} {steps} steps
            {t ? `, n = ${t.n}, floor ${num(t.floor)}; the teacher's FD ${num(t.fd)}` : ''}.
          </p>
          <div className="table-wrap">
            <table data-testid="search-winners">
              <thead>
                <tr>
                  <th>Winner</th>
                  <th className="num">Speedup</th>
                  <th className="num">Iterations</th>
                  <th className="num">FD</th>
                  <th className="num">× teacher</th>
                  <th>Model version</th>
                </tr>
              </thead>
              <tbody>
                {s.winners.map((w) => {
                  const e = w.full?.eval;
                  const v = versionOf(w.name);
                  return (
                    <tr key={w.name}>
                      <td className="mono">{w.name}</td>
                      <td className="num mono">
                        {w.speedup !== null ? `${w.speedup.toFixed(2)}×` : '—'}
                      </td>
                      <td className="num mono">{num(w.full?.iters ?? w.rungs.at(-1)?.iters)}</td>
                      <td className="num mono">{e ? num(e.fd) : 'not evaluated yet'}</td>
                      <td className="num mono">
                        {e && e.fd !== null && t?.fd ? `${(e.fd / t.fd).toFixed(2)}×` : '—'}
                      </td>
                      <td>
                        {v ? (
                          <Link
                            href={`/projects/${v.projectId}/models/${encodeURIComponent(v.modelName)}`}
                            data-testid={`search-winner-${w.name}`}
                          >
                            {v.modelName} v{v.version}
                          </Link>
                        ) : (
                          '—'
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
      {earlier.length > 0 && (
        <div data-testid="search-earlier">
          <h3 style={{ marginTop: 14 }}>Earlier full trainings</h3>
          <p className="muted small">
            Replaced when the search was resumed with other full-training settings; kept for the
            record, on the same ruler.
          </p>
          <ul className="small">
            {earlier.map(({ name, f }) => (
              <li key={`${name}-${f.iters}-${f.anneal?.from ?? 'constant'}`}>
                <span className="mono">{name}</span>: {num(f.iters)} iterations
                {f.anneal ? `, rate decayed from ${f.anneal.from}` : ' at a constant rate'}: FD{' '}
                {f.eval ? num(f.eval.fd) : 'not evaluated'}
                {f.eval?.fd != null && t?.fd
                  ? ` (${(f.eval.fd / t.fd).toFixed(2)}× the teacher's)`
                  : ''}
              </li>
            ))}
          </ul>
        </div>
      )}
    </>
  );
}

/** What the search's objective counts as speed, in words. */
const UNITS = {
  latency: {
    short: 'ms/step',
    long: 'ms per sampling step at batch 1',
    axis: 'ms per sampling step (batch 1)',
  },
  throughput: {
    short: 'ms/image-step',
    long: 'ms per image per step at the throughput batch',
    axis: 'ms per image per sampling step (throughput batch)',
  },
} as const;

const W = 640;
const H = 260;
const PAD = { left: 64, right: 16, top: 14, bottom: 40 };

/**
 * Each pool candidate's latest proxy (log scale) against its measured ms per step, the
 * Pareto front's candidates joined in speed order, winners ringed, and the teacher (whose
 * proxy is 0 by definition, off a log axis) and the limit as vertical lines.
 */
function SearchScatter({ s, teacherMs }: { s: SearchSummary; teacherMs: number | null }) {
  const points = s.pool.flatMap((c) => {
    const proxy = lastProxy(c);
    return c.measured && proxy !== null && proxy > 0
      ? [{ c, x: searchObjectiveMs(s.settings.objective, c.measured), y: proxy }]
      : [];
  });
  if (points.length === 0) return null;
  const xs = [
    ...points.map((p) => p.x),
    ...(teacherMs !== null ? [teacherMs] : []),
    ...(s.latencyLimitMs !== null ? [s.latencyLimitMs] : []),
  ];
  const x0 = Math.min(...xs) * 0.9;
  const x1 = Math.max(...xs) * 1.05;
  const ly = points.map((p) => Math.log10(p.y));
  const y0 = Math.min(...ly) - 0.1;
  const y1 = Math.max(...ly) + 0.1;
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const sx = (x: number) => PAD.left + ((x - x0) / (x1 - x0 || 1)) * innerW;
  const sy = (y: number) => PAD.top + (1 - (Math.log10(y) - y0) / (y1 - y0 || 1)) * innerH;
  const yTicks = logTicks(y0, y1, 6);
  const yLabels = logTickLabels(yTicks);
  const front = points.filter((p) => s.front.includes(p.c.name)).sort((a, b) => a.x - b.x);
  const winners = new Set(s.winners.map((w) => w.name));
  const vertical = (x: number, label: string, cls: string) => (
    <g data-testid={`search-scatter-${cls}`}>
      <line
        x1={sx(x)}
        x2={sx(x)}
        y1={PAD.top}
        y2={PAD.top + innerH}
        stroke="currentColor"
        strokeDasharray={cls === 'teacher' ? '4 3' : '1 3'}
        opacity={0.7}
      />
      <text className="axis-label" x={sx(x) + 4} y={PAD.top + 10}>
        {label}
      </text>
    </g>
  );
  return (
    <figure style={{ margin: '14px 0', maxWidth: 760 }}>
      <svg
        className="chart"
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`Proxy (log scale) against ${UNITS[s.settings.objective].long} for the pool, Pareto front joined, teacher marked`}
        data-testid="search-scatter"
      >
        {yTicks.map((v, i) => (
          <g key={`y${v}`}>
            <line className="grid-line" x1={PAD.left} x2={W - PAD.right} y1={sy(v)} y2={sy(v)} />
            <text className="axis-label" x={PAD.left - 8} y={sy(v) + 4} textAnchor="end">
              {yLabels[i]}
            </text>
          </g>
        ))}
        {linearTicks(x0, x1, 6).map((v) => (
          <text key={`x${v}`} className="axis-label" x={sx(v)} y={H - 24} textAnchor="middle">
            {plain(v)}
          </text>
        ))}
        <text className="axis-title" x={PAD.left + innerW / 2} y={H - 6} textAnchor="middle">
          {UNITS[s.settings.objective].axis}
        </text>
        <text
          className="axis-title"
          transform={`translate(12 ${PAD.top + innerH / 2}) rotate(-90)`}
          textAnchor="middle"
        >
          proxy, log
        </text>
        {teacherMs !== null && vertical(teacherMs, 'teacher', 'teacher')}
        {s.latencyLimitMs !== null && vertical(s.latencyLimitMs, 'limit', 'limit')}
        {front.length > 1 && (
          <polyline
            className="series"
            stroke="var(--accent, #2563eb)"
            points={front.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}
            data-testid="search-scatter-front"
          />
        )}
        {points.map((p) => (
          <g key={p.c.name}>
            <circle
              cx={sx(p.x)}
              cy={sy(p.y)}
              r={4}
              fill={s.front.includes(p.c.name) ? 'var(--accent, #2563eb)' : '#9ca3af'}
              opacity={p.c.dropped ? 0.5 : 1}
            >
              <title>
                {p.c.name}: {p.x.toFixed(2)} {UNITS[s.settings.objective].short}, proxy{' '}
                {p.y.toExponential(2)}
                {p.c.dropped ? ` (${p.c.dropped})` : ''}
              </title>
            </circle>
            {winners.has(p.c.name) && (
              <circle
                cx={sx(p.x)}
                cy={sy(p.y)}
                r={8}
                fill="none"
                stroke="var(--accent, #2563eb)"
                data-testid={`search-scatter-winner-${p.c.name}`}
              />
            )}
          </g>
        ))}
      </svg>
      <figcaption className="muted small">
        Each candidate at its latest rung (faint: halved out earlier, at fewer iterations); the line
        joins the Pareto front of (proxy, speed, training memory); ringed: winners. The teacher's
        proxy is 0 (it is the reference), so it is a line at its speed.
      </figcaption>
    </figure>
  );
}
