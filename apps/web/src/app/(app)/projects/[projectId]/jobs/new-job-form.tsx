'use client';

import { samplerNames } from '@anneal/engine/config';
import { type JobSpecInput, jobSpecSchema } from '@anneal/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { errorMessage } from '../../../../../ui/format.ts';
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

/** The "New job" form: every job type, checked with the schema the server and agent use. */
export function NewJob({ projectId, onDone }: { projectId: string; onDone: () => void }) {
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
  const text = (name: keyof Form, label: string) => (
    <label className="field">
      {label}
      <input name={name} value={form[name]} onChange={set(name)} />
    </label>
  );
  function submit(e: FormEvent) {
    e.preventDefault();
    // The same schema the server and the agent validate with.
    const job = toSpec(form);
    const parsed = jobSpecSchema.safeParse(job);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      setInvalid(`${issue?.path.slice(1).join('.') || 'job'}: ${issue?.message}`);
      return;
    }
    setInvalid(null);
    create.mutate({ projectId, job, maxAttempts: 3 });
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
            {text('resolution', 'Resolution')}
            <label className="field">
              Preset
              <select name="preset" value={form.preset} onChange={set('preset')}>
                <option value="tiny">tiny</option>
                <option value="small">small</option>
                <option value="base">base</option>
              </select>
            </label>
            {text('steps', 'Steps')}
            {text('batch', 'Batch (empty: fit the agent’s memory)')}
            {text('checkpointEvery', 'Checkpoint every')}
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
            {text('sampleSteps', 'Sampling steps')}
            {form.type === 'sample' ? (
              text('n', 'Images')
            ) : (
              <>
                {text('evalN', 'Samples (and real images per set)')}
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
                {form.referenceSampler && text('referenceSteps', 'Reference steps')}
                {text('extractorSteps', "Extractor steps (blank: the dataset's default)")}
                {text('extractorWidth', 'Extractor width (blank: 16)')}
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
