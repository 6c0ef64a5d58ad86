'use client';

import { type SearchSummary, searchMeasureDrift } from '@anneal/protocol';

const hours = (seconds: number) => (seconds / 3600).toFixed(2);

/**
 * What the search cost in CPU-hours by phase, the profiles it went on on after its costs were
 * measured, and a warning when the teacher measured differently at the end of the measuring
 * than at its start (the machine's speed changed, and every cost and the limit with it).
 */
export function SearchCost({ s, unit }: { s: SearchSummary; unit: string }) {
  const cpu = s.cpuSeconds;
  const drifted = searchMeasureDrift(s.settings.objective, s.teacherMeasured, s.remeasured);
  return (
    <>
      {cpu && (
        <p className="muted small" data-testid="search-cost">
          CPU time: {hours(cpu.measuring + cpu.halving + cpu.training)} CPU-hours (measuring{' '}
          {hours(cpu.measuring)}, halving {hours(cpu.halving)}, the winners {hours(cpu.training)})
          {cpu.correlating > 0
            ? `, and ${hours(cpu.correlating)} training for the proxy's correlation`
            : ''}
          {cpu.fromStart ? '' : ', counted from a resume on: the start is missing'}.
          {s.continuedOn.length > 0 &&
            ` Went on after its measurements on ${s.continuedOn.map((c) => `${c.profile} (from ${c.phase})`).join(', ')}: training and scoring, which do not depend on the hardware.`}
        </p>
      )}
      {drifted && (
        <p className="error small" data-testid="search-drift">
          The teacher measured {drifted.first.toFixed(2)} {unit} first and{' '}
          {drifted.again.toFixed(2)} once the pool was ({drifted.pct}): the machine's speed changed
          while measuring (another process, thermal limits), so the costs and the limit are off by
          up to that much. Search again on an otherwise idle machine.
        </p>
      )}
    </>
  );
}
