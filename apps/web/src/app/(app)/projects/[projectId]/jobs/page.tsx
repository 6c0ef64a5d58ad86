'use client';

import { jobTotalSteps } from '@anneal/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import Link from 'next/link';
import { useParams } from 'next/navigation';
import { useEffect, useState } from 'react';
import { errorMessage, when } from '../../../../../ui/format.ts';
import { etaText, type LiveProgress, nextProgress } from '../../../../../ui/job-eta.ts';
import { jobTitle } from '../../../../../ui/params.ts';
import { Empty, StatusBadge, useMe } from '../../../../../ui/shell.tsx';
import { useTRPC } from '../../../../../ui/trpc.tsx';
import { NewJob } from './new-job-form.tsx';

/** What an evaluate job's phases are called on its progress line. */
const PHASES: Record<string, string> = {
  extractor: 'training the feature extractor',
  sample: 'sampling',
  scoring: 'scoring',
  reference: 'sampling the reference',
  memorization: 'scoring nearest neighbours',
};

export default function JobsPage() {
  const { projectId } = useParams<{ projectId: string }>();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { canEdit } = useMe();
  const [creating, setCreating] = useState(false);
  const jobs = useQuery(trpc.jobs.list.queryOptions({ projectId }));
  const refresh = () =>
    queryClient.invalidateQueries({ queryKey: trpc.jobs.list.queryKey({ projectId }) });
  const [live, setLive] = useState<Record<string, LiveProgress>>({});
  // The time left counts down between events, on a 1 s tick while a job is running.
  const [clock, setClock] = useState(() => Date.now());
  const running = jobs.data?.some((j) => j.status === 'running') ?? false;
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => setClock(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [running]);
  // Status and progress arrive over server-sent events; the list refetches only when a
  // job's status changes, progress updates the row in place.
  const stream = useSubscription(
    trpc.jobs.watch.subscriptionOptions(
      { projectId },
      {
        onData: (e) => {
          // Read the cache, not this render's data: the handler outlives the render.
          const list = queryClient.getQueryData(trpc.jobs.list.queryKey({ projectId }));
          const row = e.jobId ? list?.find((j) => j.id === e.jobId) : undefined;
          if (!row || (e.status !== undefined && e.status !== row.status)) void refresh();
          const { jobId, step, total, phase, etaS, etaLowerBound } = e;
          if (!jobId || step === undefined || total === undefined) return;
          const receivedAt = Date.now();
          setClock(receivedAt);
          setLive((prev) => ({
            ...prev,
            [jobId]: nextProgress(
              prev[jobId],
              { step, total, phase, etaS, etaLowerBound, at: e.at },
              receivedAt,
            ),
          }));
        },
      },
    ),
  );
  const cancel = useMutation(trpc.jobs.cancel.mutationOptions({ onSuccess: refresh }));
  const retry = useMutation(trpc.jobs.retry.mutationOptions({ onSuccess: refresh }));
  return (
    <>
      {creating ? (
        <NewJob projectId={projectId} onDone={() => setCreating(false)} />
      ) : (
        canEdit && (
          <div className="row" style={{ marginBottom: 14 }}>
            <button className="btn btn-primary" type="button" onClick={() => setCreating(true)}>
              New job
            </button>
          </div>
        )
      )}
      {(cancel.error || retry.error) && (
        <div className="error">{errorMessage(cancel.error ?? retry.error)}</div>
      )}
      {jobs.data?.length === 0 ? (
        <div className="card">
          <Empty icon="cpu" title="No jobs yet">
            <p>
              {canEdit
                ? 'Press New job above to train a model on MNIST, shapes or an uploaded dataset, or to sample, evaluate or benchmark one; a connected agent picks it up and its progress shows here live.'
                : 'Editors queue training, sampling and evaluation jobs here; a connected agent picks them up and their progress shows here live.'}
            </p>
            <p className="muted small">
              From a terminal:{' '}
              <code>
                npx anneal submit train --project {'<name>'} --dataset mnist --steps 500 --wait
              </code>
              , or POST to /api/v1/projects/{projectId}/jobs.
            </p>
          </Empty>
        </div>
      ) : (
        <div className="card table-wrap" data-live={stream.status === 'pending' ? 'on' : 'off'}>
          <table>
            <thead>
              <tr>
                <th>Job</th>
                <th>Status</th>
                <th>Progress</th>
                <th>Attempts</th>
                <th>Created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {jobs.data?.map((j) => {
                const now = live[j.id];
                // Before the agent reports, the steps the spec names (a train job's).
                const planned = jobTotalSteps(j.type, j.spec);
                const total = now?.total ?? planned ?? 1;
                const step = now?.step ?? (planned !== null ? (j.step ?? 0) : 0);
                const pct =
                  j.status === 'succeeded'
                    ? 100
                    : Math.min(100, Math.round((step / Math.max(1, total)) * 100));
                return (
                  <tr key={j.id} data-job={j.id}>
                    <td className="wrap job-title" data-testid="job-title">
                      {jobTitle(j.type, j.spec, {
                        projectId,
                        datasetLabels:
                          j.datasetLabel && typeof j.spec.dataset === 'object'
                            ? {
                                [String((j.spec.dataset as { id?: string }).id).toLowerCase()]:
                                  j.datasetLabel,
                              }
                            : undefined,
                      }).parts.map((p, i) => (
                        // Parts can repeat ("tiny" preset and "tiny" dataset): key by place.
                        // biome-ignore lint/suspicious/noArrayIndexKey: the parts list is fixed per job
                        <span key={i}>
                          {i > 0 && <span className="faint"> · </span>}
                          {i === 0 && j.runId ? (
                            <Link href={`/projects/${projectId}/runs/${j.runId}`}>{p.text}</Link>
                          ) : p.href ? (
                            <Link href={p.href}>{p.text}</Link>
                          ) : (
                            p.text
                          )}
                        </span>
                      ))}
                      <div className="muted small mono">{j.id.slice(0, 8)}</div>
                    </td>
                    <td className="wrap">
                      <StatusBadge status={j.status} />
                      {j.waiting && j.status === 'queued' && (
                        <div className="muted small">waiting: {j.waiting}</div>
                      )}
                      {j.error && j.status !== 'succeeded' && (
                        <div className="muted small">{j.error}</div>
                      )}
                    </td>
                    <td style={{ minWidth: 200 }}>
                      <progress
                        max={100}
                        value={pct}
                        aria-label="progress"
                        style={{ width: '100%' }}
                      />
                      <div className="muted small">
                        {now?.phase ? `${PHASES[now.phase] ?? now.phase}: ` : ''}
                        {now || planned !== null ? `${step} / ${total} steps` : ''}{' '}
                        {etaText(now, j.status, clock)}
                      </div>
                    </td>
                    <td className="mono">
                      {j.attempts} / {j.maxAttempts}
                    </td>
                    <td className="muted">{when(j.createdAt)}</td>
                    <td>
                      {canEdit && ['queued', 'leased', 'running'].includes(j.status) && (
                        <button
                          className="btn btn-sm"
                          type="button"
                          onClick={() => cancel.mutate({ jobId: j.id })}
                        >
                          Cancel
                        </button>
                      )}
                      {canEdit && ['failed', 'cancelled'].includes(j.status) && (
                        <button
                          className="btn btn-sm"
                          type="button"
                          onClick={() => retry.mutate({ jobId: j.id })}
                        >
                          Retry
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
