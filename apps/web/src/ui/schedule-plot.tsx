'use client';

import type { LearnedSchedule } from '@anneal/engine/config';
import { type ChartSeries, LineChart } from './chart.tsx';

/** The positive sigmas as chart points (step i, sigma_i): the final 0 has no log. */
function points(sigmas: number[]) {
  return sigmas.filter((s) => s > 0).map((value, step) => ({ step, value }));
}

/**
 * One learned schedule: log-sigma per step beside the Karras (rho 7) and uniform schedules at
 * the same step count (the ones `anneal schedule learn` scored it against, when it recorded
 * them), on the line chart's log axis, with the errors it was scored on.
 */
export function SchedulePlot({ schedule }: { schedule: LearnedSchedule }) {
  const hand = schedule.scores.hand_crafted ?? [];
  const series: ChartSeries[] = [
    { name: 'learned', color: 'var(--accent, #2563eb)', points: points(schedule.sigmas) },
  ];
  const karras = hand.find((h) => h.schedule === 'karras');
  const uniform = hand.find((h) => h.schedule === 'uniform');
  if (karras) series.push({ name: 'karras', color: '#d97706', points: points(karras.sigmas) });
  if (uniform) series.push({ name: 'uniform', color: '#6b7280', points: points(uniform.sigmas) });
  const { learned } = schedule.scores;
  const best = hand.reduce<(typeof hand)[number] | null>(
    (b, h) => (b === null || h.heldout_error < b.heldout_error ? h : b),
    null,
  );
  return (
    <figure
      style={{ margin: '12px 0' }}
      data-testid={`schedule-${schedule.sampler}-nfe${schedule.nfe}`}
    >
      <figcaption className="small" style={{ marginBottom: 4 }}>
        {schedule.sampler} at {schedule.nfe} NFE: sigma per step (log scale). Held-out error to a{' '}
        {schedule.calibration.reference.sampler} {schedule.calibration.reference.steps}-step
        reference: learned {learned.heldout_error.toExponential(2)}
        {best
          ? `, best hand-crafted (${best.schedule}) ${best.heldout_error.toExponential(2)}`
          : ''}
        .
      </figcaption>
      <LineChart series={series} metric="sigma" height={180} defaultLog />
    </figure>
  );
}

/** Every learned schedule of a model version, by sampler then NFE. */
export function LearnedSchedules({ schedules }: { schedules: LearnedSchedule[] }) {
  const sorted = [...schedules].sort((a, b) =>
    a.sampler === b.sampler ? a.nfe - b.nfe : a.sampler.localeCompare(b.sampler),
  );
  return (
    <section style={{ marginTop: 14 }} data-testid="learned-schedules">
      <h4 style={{ margin: '8px 0' }}>Learned schedules</h4>
      {sorted.map((s) => (
        <SchedulePlot key={`${s.sampler}-${s.nfe}`} schedule={s} />
      ))}
    </section>
  );
}
