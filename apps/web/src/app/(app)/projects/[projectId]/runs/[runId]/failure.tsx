'use client';

import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '../../../../../../ui/trpc.tsx';

/** How many of the run's last log lines a failure shows (the agent keeps 50 per attempt). */
const TAIL = 30;
/** What finishJob (server/domain/jobs/leases.ts) writes before an attempt's last lines. */
const ATTEMPT_HEADER = /^attempt \d+ failed: /;

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
  // The line the server puts before each failed attempt's lines repeats the reason above.
  const tail = logs.filter((l) => !ATTEMPT_HEADER.test(l.line)).slice(-TAIL);
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
      {tail.length > 0 && (
        <>
          <p className="muted small" style={{ margin: '0 0 6px' }}>
            Last {tail.length === 1 ? 'line' : `${tail.length} lines`} of its output
          </p>
          <pre
            className="logs"
            data-testid="run-failure-log"
            style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' }}
          >
            {tail.map((l) => (
              <div key={l.seq}>{l.line}</div>
            ))}
          </pre>
        </>
      )}
    </div>
  );
}
