'use client';

import { useQuery } from '@tanstack/react-query';
import { attemptLines } from '../../../../../../ui/attempt-logs.ts';
import { useTRPC } from '../../../../../../ui/trpc.tsx';

/** How many of an attempt's last log lines a failure shows (the agent keeps 50 per attempt). */
const TAIL = 30;
/** With several attempts, fewer of each, so the card stays readable. */
const TAIL_PER_ATTEMPT = 15;

/**
 * A failed run's reason, from its job, and the last lines the job printed (which the agent
 * sends with the failure and the server keeps as the run's logs).
 */
export function Failure({
  runId,
  status,
  logs,
}: {
  runId: string;
  status: string;
  logs: { seq: number; line: string }[];
}) {
  const trpc = useTRPC();
  const job = useQuery({
    ...trpc.runs.job.queryOptions({ runId }),
    enabled: status === 'failed',
  });
  if (status !== 'failed') return null;
  const j = job.data;
  // Every attempt's last lines: an earlier attempt may have failed differently (lost its
  // agent, then ran out of memory on the next).
  const all = attemptLines(logs, TAIL);
  const groups = all.length > 1 ? attemptLines(logs, TAIL_PER_ATTEMPT) : all;
  const count = groups.reduce((n, g) => n + g.lines.length, 0);
  return (
    <div
      className="card card-pad"
      role="alert"
      data-testid="run-failure"
      style={{ borderColor: 'var(--bad)', background: 'var(--bad-soft)' }}
    >
      <h2 style={{ marginTop: 0 }}>
        {j ? `The ${j.type} job failed` : 'This run failed'}
        {j && j.attempts > 1 ? ` after ${j.attempts} attempts` : ''}
      </h2>
      <p
        data-testid="run-failure-reason"
        style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere', margin: '0 0 10px' }}
      >
        {j?.error ?? (j ? 'No reason was recorded.' : 'It was marked failed through the API.')}
      </p>
      {count > 0 && (
        <>
          <p className="muted small" style={{ margin: '0 0 6px' }}>
            {groups.length > 1
              ? `The last lines of each of ${groups.length} attempts' output`
              : `Last ${count === 1 ? 'line' : `${count} lines`} of its output`}
          </p>
          <pre
            className="logs"
            data-testid="run-failure-log"
            style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' }}
          >
            {groups.map((g) => (
              <div key={g.lines[0]?.seq} data-attempt={g.attempt ?? undefined}>
                {groups.length > 1 && (
                  <div className="faint">
                    {g.attempt === null
                      ? '— logged before any attempt —'
                      : `— attempt ${g.attempt}: ${g.reason} —`}
                  </div>
                )}
                {g.lines.map((l) => (
                  <div key={l.seq}>{l.line}</div>
                ))}
              </div>
            ))}
          </pre>
        </>
      )}
    </div>
  );
}
