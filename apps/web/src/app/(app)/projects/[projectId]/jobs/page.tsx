'use client';

import { type JobSpecInput, jobSpecSchema } from '@anneal/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useParams } from 'next/navigation';
import { type FormEvent, useState } from 'react';
import { errorMessage, when } from '../../../../../ui/format.ts';
import { Empty, StatusBadge, useMe } from '../../../../../ui/shell.tsx';
import { useTRPC } from '../../../../../ui/trpc.tsx';

type Form = {
  type: 'train' | 'sample';
  dataset: 'shapes' | 'mnist';
  resolution: string;
  preset: 'tiny' | 'small' | 'base';
  steps: string;
  batch: string;
  checkpointEvery: string;
  runId: string;
  n: string;
  sampleSteps: string;
};

// Small enough to finish in minutes on any Mac (and on a laptop CPU).
const DEFAULTS: Form = {
  type: 'train',
  dataset: 'mnist',
  resolution: '28',
  preset: 'tiny',
  steps: '500',
  batch: '',
  checkpointEvery: '100',
  runId: '',
  n: '16',
  sampleSteps: '20',
};

function toSpec(f: Form): JobSpecInput {
  if (f.type === 'sample')
    return {
      type: 'sample',
      spec: {
        model: { kind: 'run', runId: f.runId },
        n: Number(f.n),
        steps: Number(f.sampleSteps),
      },
    };
  return {
    type: 'train',
    spec: {
      dataset: { kind: 'builtin', name: f.dataset },
      resolution: Number(f.resolution),
      preset: f.preset,
      steps: Number(f.steps),
      ...(f.batch ? { batch: Number(f.batch) } : {}),
      checkpoint_every: Number(f.checkpointEvery),
      log_every: 1,
    },
  };
}

function NewJob({ projectId, onDone }: { projectId: string; onDone: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [form, setForm] = useState<Form>(DEFAULTS);
  const [invalid, setInvalid] = useState<string | null>(null);
  const runs = useQuery(trpc.runs.list.queryOptions({ projectId, status: 'succeeded' }));
  const create = useMutation(
    trpc.jobs.create.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries({ queryKey: trpc.jobs.list.queryKey({ projectId }) });
        onDone();
      },
    }),
  );
  const set = (k: keyof Form) => (e: { target: { value: string } }) =>
    setForm({ ...form, [k]: e.target.value });
  function submit(e: FormEvent) {
    e.preventDefault();
    // The same schema the server and the agent validate with.
    const parsed = jobSpecSchema.safeParse(toSpec(form));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      setInvalid(`${issue?.path.slice(1).join('.') || 'job'}: ${issue?.message}`);
      return;
    }
    setInvalid(null);
    create.mutate({ projectId, job: toSpec(form), maxAttempts: 3 });
  }
  return (
    <form className="card card-pad form" onSubmit={submit} style={{ marginBottom: 20 }}>
      <h2>New job</h2>
      <div className="grid grid-3">
        <label className="field">
          Type
          <select name="jobType" value={form.type} onChange={set('type')}>
            <option value="train">train</option>
            <option value="sample">sample</option>
          </select>
        </label>
        {form.type === 'train' ? (
          <>
            <label className="field">
              Dataset
              <select
                name="dataset"
                value={form.dataset}
                onChange={(e) =>
                  setForm({
                    ...form,
                    dataset: e.target.value as Form['dataset'],
                    resolution: e.target.value === 'mnist' ? '28' : '16',
                  })
                }
              >
                <option value="mnist">MNIST</option>
                <option value="shapes">shapes</option>
              </select>
            </label>
            <label className="field">
              Resolution
              <input name="resolution" value={form.resolution} onChange={set('resolution')} />
            </label>
            <label className="field">
              Preset
              <select name="preset" value={form.preset} onChange={set('preset')}>
                <option value="tiny">tiny</option>
                <option value="small">small</option>
                <option value="base">base</option>
              </select>
            </label>
            <label className="field">
              Steps
              <input name="steps" value={form.steps} onChange={set('steps')} />
            </label>
            <label className="field">
              Batch (empty: fit the agent’s memory)
              <input name="batch" value={form.batch} onChange={set('batch')} />
            </label>
            <label className="field">
              Checkpoint every
              <input
                name="checkpointEvery"
                value={form.checkpointEvery}
                onChange={set('checkpointEvery')}
              />
            </label>
          </>
        ) : (
          <>
            <label className="field">
              From the run
              <select name="runId" value={form.runId} onChange={set('runId')}>
                <option value="">choose a trained run</option>
                {runs.data?.map((r) => (
                  <option key={r.id} value={r.id}>
                    {r.name}
                  </option>
                ))}
              </select>
            </label>
            <label className="field">
              Images
              <input name="n" value={form.n} onChange={set('n')} />
            </label>
            <label className="field">
              Sampling steps
              <input name="sampleSteps" value={form.sampleSteps} onChange={set('sampleSteps')} />
            </label>
          </>
        )}
      </div>
      {(invalid || create.error) && (
        <div className="error">{invalid ?? errorMessage(create.error)}</div>
      )}
      <div className="row">
        <button className="btn btn-primary" type="submit" disabled={create.isPending}>
          Queue job
        </button>
        <button className="btn" type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function eta(job: {
  status: string;
  step: number | null;
  spec: Record<string, unknown>;
  updatedAt: string;
}) {
  const total = Number(job.spec.steps);
  if (job.status !== 'running' || !job.step || !total) return '';
  const elapsed = (Date.now() - new Date(job.updatedAt).getTime()) / 1000;
  if (elapsed <= 0 || job.step >= total) return '';
  const left = (elapsed / job.step) * (total - job.step);
  return left < 60 ? `${Math.ceil(left)} s left` : `${Math.ceil(left / 60)} min left`;
}

export default function JobsPage() {
  const { projectId } = useParams<{ projectId: string }>();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { canEdit } = useMe();
  const [creating, setCreating] = useState(false);
  const jobs = useQuery({ ...trpc.jobs.list.queryOptions({ projectId }), refetchInterval: 1000 });
  const refresh = () =>
    queryClient.invalidateQueries({ queryKey: trpc.jobs.list.queryKey({ projectId }) });
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
            <p>Queue a training or sampling job; a connected agent picks it up.</p>
          </Empty>
        </div>
      ) : (
        <div className="card">
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
                const total = Number(j.spec.steps) || 1;
                const pct =
                  j.type === 'train'
                    ? Math.min(100, Math.round(((j.step ?? 0) / total) * 100))
                    : j.status === 'succeeded'
                      ? 100
                      : 0;
                return (
                  <tr key={j.id} data-job={j.id}>
                    <td>
                      {j.runId ? (
                        <Link href={`/projects/${projectId}/runs/${j.runId}`}>{j.type}</Link>
                      ) : (
                        j.type
                      )}
                      <div className="muted small mono">{j.id.slice(0, 8)}</div>
                    </td>
                    <td>
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
                        {j.type === 'train' ? `${j.step ?? 0} / ${total} steps` : ''} {eta(j)}
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
