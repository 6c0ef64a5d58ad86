'use client';

import { samplerNames } from '@anneal/engine/config';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useParams, useRouter } from 'next/navigation';
import { type FormEvent, useState } from 'react';
import { errorMessage, when } from '../../../../../ui/format.ts';
import { Icon } from '../../../../../ui/icons.tsx';
import { Empty, StatusBadge, useMe } from '../../../../../ui/shell.tsx';
import { useTRPC } from '../../../../../ui/trpc.tsx';

/** The sampler choice that serves the version's saved plan (sampling.plan). */
const PLAN = 'plan';

function DeployForm({ projectId, onDone }: { projectId: string; onDone: () => void }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const models = useQuery(trpc.registry.list.queryOptions({ projectId }));
  const [form, setForm] = useState({
    name: '',
    model: '',
    target: 'alias:production',
    replicas: '1',
    queueLimit: '16',
    sampler: '',
    steps: '',
  });
  const create = useMutation(
    trpc.deployments.create.mutationOptions({
      onSuccess: async (d) => {
        await queryClient.invalidateQueries({
          queryKey: trpc.deployments.list.queryKey({ projectId }),
        });
        onDone();
        router.push(`/projects/${projectId}/deployments/${d.id}`);
      },
    }),
  );
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm({ ...form, [k]: e.target.value });
  const model = models.data?.find((m) => m.name === form.model);
  function submit(e: FormEvent) {
    e.preventDefault();
    const [kind, value] = form.target.split(':') as [string, string];
    create.mutate({
      projectId,
      name: form.name,
      model: form.model,
      ...(kind === 'alias' ? { alias: value } : { version: Number(value) }),
      replicas: Number(form.replicas),
      queueLimit: Number(form.queueLimit),
      sampling:
        form.sampler === PLAN
          ? { plan: true }
          : {
              ...(form.sampler ? { sampler: form.sampler as (typeof samplerNames)[number] } : {}),
              ...(form.steps ? { steps: Number(form.steps) } : {}),
            },
    });
  }
  const targets = [
    ...(model?.aliases.map((a) => ({
      value: `alias:${a.alias}`,
      label: `alias ${a.alias} (now v${a.version}; moving it redeploys)`,
    })) ?? [{ value: 'alias:production', label: 'alias production' }]),
    ...Array.from({ length: model?.latestVersion ?? 0 }, (_, i) => ({
      value: `version:${i + 1}`,
      label: `version ${i + 1} (pinned)`,
    })).reverse(),
  ];
  return (
    <form className="card card-pad form" onSubmit={submit}>
      <h2>Deploy a model</h2>
      <div className="grid grid-2">
        <label className="field">
          Name
          <input
            name="name"
            value={form.name}
            onChange={set('name')}
            placeholder="mnist-prod"
            required
          />
        </label>
        <label className="field">
          Model
          <select name="model" value={form.model} onChange={set('model')} required>
            <option value="">Choose a registered model</option>
            {models.data?.map((m) => (
              <option key={m.id} value={m.name}>
                {m.name}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          Serves
          <select name="target" value={form.target} onChange={set('target')}>
            {targets.map((t) => (
              <option key={t.value} value={t.value}>
                {t.label}
              </option>
            ))}
          </select>
        </label>
        <div className="grid grid-2">
          <label className="field">
            Replicas
            <input
              name="replicas"
              type="number"
              min={1}
              max={16}
              value={form.replicas}
              onChange={set('replicas')}
            />
          </label>
          <label className="field">
            Queue limit
            <input
              name="queueLimit"
              type="number"
              min={0}
              value={form.queueLimit}
              onChange={set('queueLimit')}
            />
          </label>
        </div>
        <label className="field">
          Sampler
          <select name="sampler" value={form.sampler} onChange={set('sampler')}>
            <option value="">The model's default</option>
            <option value={PLAN}>The version's saved plan (each machine's own)</option>
            {samplerNames.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          Steps
          <input
            name="steps"
            type="number"
            min={1}
            value={form.sampler === PLAN ? '' : form.steps}
            onChange={set('steps')}
            disabled={form.sampler === PLAN}
            placeholder={form.sampler === PLAN ? 'the plan’s' : "the model's default"}
          />
        </label>
      </div>
      {create.error && <div className="error">{errorMessage(create.error)}</div>}
      <div className="row">
        <button className="btn btn-primary" type="submit" disabled={create.isPending}>
          Deploy
        </button>
        <button className="btn" type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export default function DeploymentsPage() {
  const { projectId } = useParams<{ projectId: string }>();
  const trpc = useTRPC();
  const { canEdit } = useMe();
  const [deploying, setDeploying] = useState(false);
  const list = useQuery({
    ...trpc.deployments.list.queryOptions({ projectId }),
    refetchInterval: 3000,
  });
  return (
    <div className="stack">
      <div className="row">
        <span className="muted">
          Model versions served by agents: generation over REST, latency per deployment.
        </span>
        <span className="spacer" />
        {canEdit && !deploying && (
          <button className="btn btn-primary" type="button" onClick={() => setDeploying(true)}>
            <Icon name="plus" /> Deploy
          </button>
        )}
      </div>
      {deploying && <DeployForm projectId={projectId} onDone={() => setDeploying(false)} />}
      {list.data?.length === 0 && !deploying ? (
        <div className="card">
          <Empty icon="activity" title="No deployments">
            <p>
              Deploy a registered model from{' '}
              <Link href={`/projects/${projectId}/models`}>Models</Link> to the agents connected to
              this server: each keeps the model loaded and answers{' '}
              <code>POST /api/v1/deployments/ID/generate</code>. Follow an alias such as production,
              and moving the alias redeploys without dropping requests.
            </p>
          </Empty>
        </div>
      ) : (
        list.data &&
        list.data.length > 0 && (
          <div className="card">
            <table>
              <thead>
                <tr>
                  <th>Deployment</th>
                  <th>Status</th>
                  <th>Model</th>
                  <th className="num">Replicas</th>
                  <th>Created</th>
                </tr>
              </thead>
              <tbody>
                {list.data.map((d) => (
                  <tr key={d.id}>
                    <td>
                      <Link href={`/projects/${projectId}/deployments/${d.id}`}>{d.name}</Link>
                    </td>
                    <td>
                      <StatusBadge status={d.status} />
                    </td>
                    <td>
                      {d.model} v{d.version}{' '}
                      {d.alias && <span className={`alias ${d.alias}`}>{d.alias}</span>}
                    </td>
                    <td className="num">{d.replicas}</td>
                    <td className="muted">{when(d.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
      )}
    </div>
  );
}
