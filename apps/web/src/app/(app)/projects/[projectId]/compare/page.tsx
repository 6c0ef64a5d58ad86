'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useParams, useSearchParams } from 'next/navigation';
import { Suspense, useState } from 'react';
import { LineChart } from '../../../../../ui/chart.tsx';
import { axisFor } from '../../../../../ui/chart-scale.ts';
import { errorMessage, num, SERIES_COLORS } from '../../../../../ui/format.ts';
import { ParamValue } from '../../../../../ui/param-value.tsx';
import { Empty, StatusBadge } from '../../../../../ui/shell.tsx';
import { useTRPC } from '../../../../../ui/trpc.tsx';

function Compare() {
  const { projectId } = useParams<{ projectId: string }>();
  const runIds = (useSearchParams().get('runs') ?? '').split(',').filter(Boolean);
  const trpc = useTRPC();
  const [showAll, setShowAll] = useState(false);
  const data = useQuery({
    ...trpc.runs.compare.queryOptions({ runIds }),
    enabled: runIds.length >= 2,
  });
  if (runIds.length < 2 || data.error)
    return (
      <div className="card">
        <Empty icon="activity" title="Pick runs to compare">
          <p>
            {data.error
              ? errorMessage(data.error)
              : 'Select two or more runs in the runs table, then press Compare.'}
          </p>
          <Link href={`/projects/${projectId}`}>Back to runs</Link>
        </Empty>
      </div>
    );
  const d = data.data;
  if (!d) return null;
  const keys = showAll ? d.allKeys : d.differing;
  // A dataset version a param names reads as "digits v2", as on the run's page.
  const datasetLabels = Object.fromEntries(
    d.runs.flatMap((r) =>
      r.datasetVersionId && r.datasetLabel ? [[r.datasetVersionId, r.datasetLabel]] : [],
    ),
  );
  const metricKeys = [...new Set(d.runs.flatMap((r) => r.metrics.map((m) => m.key)))].sort();
  // Curves only where some run has one; single points (evaluations) are read in the table below.
  const curveKeys = metricKeys.filter((k) =>
    d.runs.some((r) => (r.metrics.find((m) => m.key === k)?.points.length ?? 0) > 1),
  );
  const color = (i: number) => SERIES_COLORS[i % SERIES_COLORS.length] as string;
  return (
    <div className="stack">
      <div className="row">
        <Link href={`/projects/${projectId}`} className="muted small">
          ← All runs
        </Link>
      </div>
      <div className="card">
        <div className="card-head">
          <h2>Params</h2>
          <label className="row small muted">
            <input
              type="checkbox"
              checked={showAll}
              onChange={(e) => setShowAll(e.target.checked)}
            />{' '}
            Show identical params
          </label>
        </div>
        <div className="table-wrap">
          <table data-testid="compare-params">
            <thead>
              <tr>
                <th>Param</th>
                {d.runs.map((r, i) => (
                  <th key={r.id}>
                    <span style={{ color: color(i) }}>●</span> {r.name}{' '}
                    <StatusBadge status={r.status} />
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => (
                <tr key={k} className={d.differing.includes(k) ? 'diff' : ''}>
                  <td className="mono">{k}</td>
                  {d.runs.map((r) => (
                    <td key={r.id} className="mono">
                      {k in r.params ? (
                        <ParamValue value={r.params[k]} ctx={{ projectId, datasetLabels }} />
                      ) : (
                        <span className="faint">—</span>
                      )}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          {keys.length === 0 && <div className="empty muted">These runs share every param.</div>}
        </div>
      </div>
      <div className="grid grid-2">
        {curveKeys.map((key) => (
          <div key={key} className="card card-pad" data-testid={`compare-chart-${key}`}>
            <h3>{key}</h3>
            <LineChart
              metric={key}
              controls={key === 'loss' || key === 'grad_norm'}
              series={d.runs.flatMap((r, i) => {
                const s = r.metrics.find((m) => m.key === key);
                return s ? [{ name: r.name, color: color(i), points: s.points }] : [];
              })}
            />
          </div>
        ))}
      </div>
      {metricKeys.length > 0 && (
        <div className="card">
          <div className="card-head">
            <h2>Latest values</h2>
          </div>
          <table>
            <thead>
              <tr>
                <th>Metric</th>
                {d.runs.map((r) => (
                  <th key={r.id} className="num">
                    {r.name}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {metricKeys.map((key) => (
                <tr key={key}>
                  <td className="mono">{key}</td>
                  {d.runs.map((r) => {
                    const v = r.metrics.find((m) => m.key === key)?.points.at(-1)?.value;
                    return (
                      <td key={r.id} className="num mono">
                        {v === undefined ? num(v) : axisFor(key, Math.abs(v)).value(v)}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

export default function ComparePage() {
  return (
    <Suspense>
      <Compare />
    </Suspense>
  );
}
