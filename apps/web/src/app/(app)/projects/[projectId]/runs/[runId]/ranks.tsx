'use client';

import { useQuery } from '@tanstack/react-query';
import { when } from '../../../../../../ui/format.ts';
import { useTRPC } from '../../../../../../ui/trpc.tsx';
import type { MetricSeries } from './metrics.tsx';

const last = (series: MetricSeries[], key: string) =>
  series.find((s) => s.key === key)?.points.at(-1)?.value;

/**
 * A rank's state in the run's latest attempt, in words, from the run's status and whether
 * every rank of the group is ready (then they train).
 */
function rankState(
  m: { readyAt: string | null; finishedAt: string | null },
  status: string,
  allReady: boolean,
) {
  if (m.finishedAt) return `finished ${when(m.finishedAt)}`;
  if (status === 'succeeded') return 'finished';
  if (status === 'running' || status === 'leased') {
    if (!m.readyAt) return 'fetching its inputs';
    return allReady ? 'training' : 'ready, waiting for the others';
  }
  // Queued again after this attempt ended (a rank failed or stopped answering), or over.
  const ended = m.readyAt ? 'stopped with its attempt' : 'never ready';
  return status === 'queued' ? `${ended}; the job waits for a new group` : `${ended} (${status})`;
}

/**
 * A data-parallel run's group: the ranks of the current attempt (agent, address on MLX's
 * ring, state), each rank's throughput (the group's images/s over the ranks: the ranks step
 * together) and the communication share of the step; earlier attempts below.
 */
export function Ranks({
  runId,
  series,
  status,
}: {
  runId: string;
  series: MetricSeries[];
  /** The run's status: what the latest attempt's ranks are doing. */
  status: string;
}) {
  const trpc = useTRPC();
  const group = useQuery(trpc.runs.group.queryOptions({ runId }));
  const g = group.data;
  if (!g) return null;
  const [current, ...earlier] = g.attempts;
  const allReady = current?.members.every((m) => m.readyAt !== null) ?? false;
  const imagesPerS = last(series, 'images_per_s');
  const commShare = last(series, 'comm_share');
  const commMs = last(series, 'comm_ms');
  return (
    <div className="card card-pad" data-testid="run-ranks">
      <h2>Ranks</h2>
      <p className="muted small">
        Data-parallel over {g.ranks} agents on MLX's ring backend, one rank each; rank 0 writes the
        checkpoints and metrics.
        {imagesPerS !== undefined &&
          ` The group trains ${imagesPerS.toFixed(1)} images/s, ${(imagesPerS / g.ranks).toFixed(1)} per rank.`}
        {commShare !== undefined &&
          ` Communication: one all_sum of the gradient takes ${commMs?.toFixed(1)} ms, ${(100 * commShare).toFixed(0)}% of a step.`}
      </p>
      {!current ? (
        <p className="muted" data-testid="run-ranks-waiting">
          Not leased yet: the job waits for {g.ranks} agents to be free at once.
        </p>
      ) : (
        <table data-testid="run-ranks-table">
          <thead>
            <tr>
              <th className="num">Rank</th>
              <th>Agent</th>
              <th>Address</th>
              <th>State</th>
              <th className="num">images/s</th>
            </tr>
          </thead>
          <tbody>
            {current.members.map((m) => (
              <tr key={m.rank}>
                <td className="num">{m.rank}</td>
                <td>{m.agent ?? '(removed)'}</td>
                <td className="mono">{m.address ?? '—'}</td>
                <td>{rankState(m, status, allReady)}</td>
                <td className="num">
                  {imagesPerS !== undefined ? (imagesPerS / g.ranks).toFixed(1) : '—'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {current && (
        <p className="faint small">
          Attempt {current.attempt}, leased {when(current.members[0]?.leasedAt)}.
          {earlier.length > 0 &&
            ` Earlier: ${earlier
              .map(
                (a) => `attempt ${a.attempt} on ${a.members.map((m) => m.agent ?? '?').join(', ')}`,
              )
              .join(
                '; ',
              )} (one rank lost ends the attempt for all; the next resumes from the last checkpoint).`}
        </p>
      )}
    </div>
  );
}
