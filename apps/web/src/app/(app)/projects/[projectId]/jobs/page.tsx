'use client';

import { samplerNames } from '@anneal/engine/config';
import { type JobSpecInput, jobSpecSchema } from '@anneal/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import Link from 'next/link';
import { useParams } from 'next/navigation';
import { type FormEvent, useState } from 'react';
import { errorMessage, when } from '../../../../../ui/format.ts';
import { Empty, StatusBadge, useMe } from '../../../../../ui/shell.tsx';
import { useTRPC } from '../../../../../ui/trpc.tsx';

type Form = {
  type: 'train' | 'sample' | 'evaluate' | 'bench';
  dataset: 'shapes' | 'mnist';
  resolution: string;
  preset: 'tiny' | 'small' | 'base';
  steps: string;
  batch: string;
  checkpointEvery: string;
  source: 'run' | 'modelVersion';
  runId: string;
  versionId: string;
  n: string;
  sampleSteps: string;
  sampler: string;
  evalN: string;
  referenceSampler: string;
  referenceSteps: string;
  extractorSteps: string;
  extractorWidth: string;
  benchScale: 'smoke' | 'quick';
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
  source: 'run',
  runId: '',
  versionId: '',
  n: '16',
  sampleSteps: '20',
  sampler: 'dpmpp-2m',
  evalN: '500',
  referenceSampler: '',
  referenceSteps: '100',
  extractorSteps: '',
  extractorWidth: '',
  benchScale: 'quick',
};

function toSpec(f: Form): JobSpecInput {
  const model =
    f.source === 'run'
      ? ({ kind: 'run', runId: f.runId } as const)
      : ({ kind: 'modelVersion', id: f.versionId } as const);
  if (f.type === 'sample')
    return {
      type: 'sample',
      spec: { model, n: Number(f.n), steps: Number(f.sampleSteps), sampler: f.sampler as never },
    };
  if (f.type === 'evaluate')
    return {
      type: 'evaluate',
      spec: {
        model,
        n: Number(f.evalN),
        steps: Number(f.sampleSteps),
        sampler: f.sampler as never,
        ...(f.referenceSampler
          ? {
              reference_sampler: f.referenceSampler as never,
              reference_steps: Number(f.referenceSteps),
            }
          : {}),
        // Blank: the dataset's default extractor.
        ...(f.extractorSteps ? { extractor_steps: Number(f.extractorSteps) } : {}),
        ...(f.extractorWidth ? { extractor_width: Number(f.extractorWidth) } : {}),
      },
    };
  if (f.type === 'bench')
    return { type: 'bench', spec: { benchmark: 'sampling', scale: f.benchScale } };
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
  const versions = useQuery(trpc.registry.versions.queryOptions({ projectId }));
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
            <option value="evaluate">evaluate</option>
            <option value="bench">bench</option>
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
        ) : form.type === 'bench' ? (
          <label className="field">
            Sampling benchmark size
            <select name="benchScale" value={form.benchScale} onChange={set('benchScale')}>
              <option value="quick">quick (a minute or two)</option>
              <option value="smoke">smoke (seconds; numbers mean little)</option>
            </select>
          </label>
        ) : (
          <>
            <label className="field">
              Weights from
              <select name="source" value={form.source} onChange={set('source')}>
                <option value="run">a trained run</option>
                <option value="modelVersion">a model version</option>
              </select>
            </label>
            {form.source === 'run' ? (
              <label className="field">
                Run
                <select name="runId" value={form.runId} onChange={set('runId')}>
                  <option value="">choose a trained run</option>
                  {runs.data?.map((r) => (
                    <option key={r.id} value={r.id}>
                      {r.name}
                    </option>
                  ))}
                </select>
              </label>
            ) : (
              <label className="field">
                Model version
                <select name="versionId" value={form.versionId} onChange={set('versionId')}>
                  <option value="">choose a model version</option>
                  {versions.data?.map((v) => (
                    <option key={v.id} value={v.id}>
                      {v.modelName} v{v.version}
                    </option>
                  ))}
                </select>
              </label>
            )}
            <label className="field">
              Sampler
              <select name="sampler" value={form.sampler} onChange={set('sampler')}>
                {samplerNames.map((name) => (
                  <option key={name} value={name}>
                    {name}
                  </option>
                ))}
              </select>
            </label>
            <label className="field">
              Sampling steps
              <input name="sampleSteps" value={form.sampleSteps} onChange={set('sampleSteps')} />
            </label>
            {form.type === 'sample' ? (
              <label className="field">
                Images
                <input name="n" value={form.n} onChange={set('n')} />
              </label>
            ) : (
              <>
                <label className="field">
                  Samples (and real images per set)
                  <input name="evalN" value={form.evalN} onChange={set('evalN')} />
                </label>
                <label className="field">
                  Reference sampler (paired fidelity)
                  <select
                    name="referenceSampler"
                    value={form.referenceSampler}
                    onChange={set('referenceSampler')}
                  >
                    <option value="">none</option>
                    {samplerNames.map((name) => (
                      <option key={name} value={name}>
                        {name}
                      </option>
                    ))}
                  </select>
                </label>
                {form.referenceSampler && (
                  <label className="field">
                    Reference steps
                    <input
                      name="referenceSteps"
                      value={form.referenceSteps}
                      onChange={set('referenceSteps')}
                    />
                  </label>
                )}
                <label className="field">
                  Extractor steps (blank: the dataset's default)
                  <input
                    name="extractorSteps"
                    value={form.extractorSteps}
                    onChange={set('extractorSteps')}
                  />
                </label>
                <label className="field">
                  Extractor width (blank: 16)
                  <input
                    name="extractorWidth"
                    value={form.extractorWidth}
                    onChange={set('extractorWidth')}
                  />
                </label>
              </>
            )}
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

/** The latest progress an agent reported for a job, and where this phase's rate is measured from. */
type Live = { step: number; total: number; at: number; from: { step: number; at: number } };

/** Time left at the rate progress has arrived since this phase started (or this page opened). */
function eta(live: Live | undefined, status: string) {
  if (!live || status !== 'running' || live.step >= live.total) return '';
  const done = live.step - live.from.step;
  const seconds = (live.at - live.from.at) / 1000;
  if (done <= 0 || seconds <= 0) return '';
  const left = (seconds / done) * (live.total - live.step);
  return left < 60 ? `${Math.ceil(left)} s left` : `${Math.ceil(left / 60)} min left`;
}

export default function JobsPage() {
  const { projectId } = useParams<{ projectId: string }>();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { canEdit } = useMe();
  const [creating, setCreating] = useState(false);
  const jobs = useQuery(trpc.jobs.list.queryOptions({ projectId }));
  const refresh = () =>
    queryClient.invalidateQueries({ queryKey: trpc.jobs.list.queryKey({ projectId }) });
  const [live, setLive] = useState<Record<string, Live>>({});
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
          const { jobId, step, total } = e;
          if (!jobId || step === undefined || total === undefined) return;
          setLive((prev) => {
            const last = prev[jobId];
            // A new phase (evaluate: extractor, sampling, reference) restarts the rate.
            const from =
              last && last.total === total && last.step <= step ? last.from : { step, at: e.at };
            return { ...prev, [jobId]: { step, total, at: e.at, from } };
          });
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
            <p>Queue a training or sampling job; a connected agent picks it up.</p>
          </Empty>
        </div>
      ) : (
        <div className="card" data-live={stream.status === 'pending' ? 'on' : 'off'}>
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
                const total = now?.total ?? (j.type === 'train' ? Number(j.spec.steps) || 1 : 1);
                const step = now?.step ?? (j.type === 'train' ? (j.step ?? 0) : 0);
                const pct =
                  j.status === 'succeeded'
                    ? 100
                    : Math.min(100, Math.round((step / Math.max(1, total)) * 100));
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
                        {now || j.type === 'train' ? `${step} / ${total} steps` : ''}{' '}
                        {eta(now, j.status)}
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
