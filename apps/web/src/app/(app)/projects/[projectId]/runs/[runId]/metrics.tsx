'use client';

import { LineChart } from '../../../../../../ui/chart.tsx';
import { axisFor } from '../../../../../../ui/chart-scale.ts';
import { num, SERIES_COLORS } from '../../../../../../ui/format.ts';
import { resolutionStageSpans } from '../../../../../../ui/resolution-stages.ts';
import { Empty } from '../../../../../../ui/shell.tsx';

export interface MetricSeries {
  key: string;
  points: { step: number; value: number }[];
}

/** Metrics whose chart offers smoothing and a log scale. */
const NOISY = new Set(['loss', 'grad_norm']);

/** A metric's latest value in its unit (MiB/GiB, img/s, scientific learning rates). */
function latest(s: MetricSeries): string {
  const last = s.points.at(-1);
  if (!last) return '—';
  return Number.isFinite(last.value)
    ? axisFor(s.key, Math.abs(last.value)).value(last.value)
    : String(last.value);
}

/**
 * A run's metrics: tiles of the latest values and one chart per metric with a curve. Metrics
 * with a single point (an evaluation's FD, KID, ...) read as a table: a one-dot chart says
 * nothing a number does not.
 */
export function RunMetrics({ series }: { series: MetricSeries[] }) {
  if (series.length === 0)
    return (
      <div className="card">
        <Empty icon="activity" title="No metrics yet">
          <p>
            Metrics appear here as soon as the job reports them (a training run logs loss, learning
            rate, throughput and memory from its first logged step); the page updates live.
          </p>
          <p className="faint small">
            Scripts can log too: POST batches to /api/v1/runs/&lt;run&gt;/metrics.
          </p>
        </Empty>
      </div>
    );
  const curves = series.filter((s) => s.points.length > 1);
  const single = series.filter((s) => s.points.length <= 1);
  const stages = resolutionStageSpans(series);
  return (
    <>
      {stages.length > 0 && (
        <div className="card card-pad" data-testid="resolution-stages">
          <h3>Progressive resolution</h3>
          <p>
            Stage {(stages.at(-1)?.stage ?? 0) + 1}: {stages.at(-1)?.resolution} px
          </p>
          <ol className="small muted">
            {stages.map((s) => (
              <li key={s.stage}>
                {s.resolution} px, logged steps {num(s.fromStep)}–{num(s.toStep)}
              </li>
            ))}
          </ol>
        </div>
      )}
      {curves.length > 0 && (
        <div className="metric-tiles">
          {curves.map((s) => (
            <div key={s.key} className="card tile">
              <div className="label">{s.key}</div>
              <div className="value">{latest(s)}</div>
              <div className="faint small">step {num(s.points.at(-1)?.step)}</div>
            </div>
          ))}
        </div>
      )}
      {curves.length > 0 && (
        <div className="grid grid-2">
          {curves.map((s, i) => (
            <div key={s.key} className="card card-pad" data-testid={`chart-${s.key}`}>
              <h3>{s.key}</h3>
              <LineChart
                metric={s.key}
                controls={NOISY.has(s.key)}
                series={[
                  {
                    name: s.key,
                    color: SERIES_COLORS[i % SERIES_COLORS.length] as string,
                    points: s.points,
                  },
                ]}
              />
            </div>
          ))}
        </div>
      )}
      {single.length > 0 && (
        <div className="card" data-testid="metrics-table">
          <div className="card-head">
            <h2>{curves.length > 0 ? 'Other metrics' : 'Metrics'}</h2>
          </div>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Metric</th>
                  <th className="num">Value</th>
                  <th className="num">Step</th>
                </tr>
              </thead>
              <tbody>
                {single.map((s) => (
                  <tr key={s.key}>
                    <td className="mono">{s.key}</td>
                    <td className="num mono">{latest(s)}</td>
                    <td className="num muted">{num(s.points[0]?.step)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      )}
    </>
  );
}
