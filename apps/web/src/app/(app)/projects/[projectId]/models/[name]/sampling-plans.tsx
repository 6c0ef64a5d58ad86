'use client';

// A model version's sampling plans (issue 13 section 3): the quality curve its plan jobs
// measured (FD against NFE per sampler, schedule and dtype, with the real-vs-real floor), and
// the plan chosen on each hardware profile, predicted beside measured.
import { type QualityCurve, qualityCurveSchema } from '@anneal/engine/config';
import { type PlanRecord, planRecordSchema } from '@anneal/protocol';
import Link from 'next/link';
import { useId } from 'react';
import { type ChartSeries, LineChart } from '../../../../../../ui/chart.tsx';
import { num, when } from '../../../../../../ui/format.ts';

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#b07aa1', '#edc948'];

/** One line per (sampler, schedule, dtype), NFE on x; the floor as a flat line across. */
export function curveSeries(curve: QualityCurve): ChartSeries[] {
  const groups = new Map<string, { step: number; value: number }[]>();
  for (const p of curve.points) {
    const name = `${p.sampler}/${p.schedule}${p.dtype === 'float32' ? '' : ` ${p.dtype}`}`;
    groups.set(name, [...(groups.get(name) ?? []), { step: p.nfe, value: p.fd }]);
  }
  const series = [...groups.entries()].map(([name, points], i) => ({
    name,
    color: PALETTE[i % PALETTE.length] as string,
    points: points.sort((a, b) => a.step - b.step),
  }));
  const nfes = curve.points.map((p) => p.nfe);
  const floor = curve.points[0]?.floor;
  if (floor !== undefined && nfes.length > 0)
    series.push({
      name: 'floor (real vs real)',
      color: '#9aa0a6',
      points: [
        { step: Math.min(...nfes), value: floor },
        { step: Math.max(...nfes), value: floor },
      ],
    });
  return series;
}

function objectiveText(p: PlanRecord): string {
  const o = p.objective;
  if (o.kind === 'latency') return `latency ≤ ${num(o.latencyMs)} ms, ${o.batch} image(s)`;
  if (o.kind === 'throughput') return `≥ ${num(o.imagesPerSecond)} images/s`;
  return `FD ≤ ${num(o.maxFd)}, ${o.batch} image(s)`;
}

export function SamplingPlans({
  projectId,
  curve: rawCurve,
  plans: rawPlans,
}: {
  projectId: string;
  curve: unknown;
  plans: Record<string, unknown> | undefined;
}) {
  const headingId = useId();
  const curve = qualityCurveSchema.safeParse(rawCurve);
  const plans = Object.entries(rawPlans ?? {}).flatMap(([profile, raw]) => {
    const p = planRecordSchema.safeParse(raw);
    return p.success ? [[profile, p.data] as const] : [];
  });
  if (!curve.success && plans.length === 0) return null;
  return (
    <section style={{ marginTop: 14 }} data-testid="sampling-plans" aria-labelledby={headingId}>
      <h4 id={headingId} style={{ margin: '0 0 4px' }}>
        Sampling plans
      </h4>
      {curve.success && (
        <>
          <div className="muted small">
            FD against NFE (n = {curve.data.n}, seed {curve.data.seed}
            {curve.data.guidance !== 1 ? `, guidance ${curve.data.guidance}` : ''}; measured{' '}
            {when(curve.data.measuredAt)})
          </div>
          <LineChart series={curveSeries(curve.data)} metric="fd" xTitle="NFE" />
        </>
      )}
      {plans.length > 0 && (
        <table style={{ marginTop: 14 }} data-testid="plans">
          <caption className="muted small" style={{ textAlign: 'left' }}>
            The plan chosen per hardware profile, predicted beside measured
          </caption>
          <thead>
            <tr>
              <th>Hardware profile</th>
              <th>Objective</th>
              <th>Plan</th>
              <th>Latency: predicted / measured</th>
              <th>FD: curve / measured</th>
            </tr>
          </thead>
          <tbody>
            {plans.map(([profile, p]) => (
              <tr key={profile}>
                <td className="mono small">{profile}</td>
                <td>
                  <Link href={`/projects/${projectId}/runs/${p.run_id}`}>{objectiveText(p)}</Link>
                  <div className="muted small">{when(p.at)}</div>
                </td>
                <td className="mono small">
                  {p.sampler}/{p.schedule}, {p.steps} steps ({p.nfe} NFE), batch {p.batch},{' '}
                  {p.dtype}
                </td>
                <td className="mono">
                  {num(p.predicted.latencyMs)} ms /{' '}
                  {p.measured
                    ? `${num(p.measured.latencyMs)} ms (×${num(p.measured.latencyRatio)})`
                    : '—'}
                </td>
                <td className="mono">
                  {num(p.predicted.fd)}
                  {p.predicted.fdInterpolated ? ' (interp.)' : ''} /{' '}
                  {p.measured?.fd !== undefined ? num(p.measured.fd) : '—'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
