'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useParams, useRouter } from 'next/navigation';
import { type FormEvent, useState } from 'react';
import { errorMessage, when } from '../../../../../ui/format.ts';
import { Icon } from '../../../../../ui/icons.tsx';
import { Empty, useMe } from '../../../../../ui/shell.tsx';
import { useTRPC } from '../../../../../ui/trpc.tsx';

function RegisterForm({ projectId, onDone }: { projectId: string; onDone: () => void }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const runs = useQuery(trpc.runs.list.queryOptions({ projectId }));
  const [form, setForm] = useState({
    name: '',
    sourceRunId: '',
    artifactPath: '',
    sampler: '',
    nfe: '',
  });
  const register = useMutation(
    trpc.registry.register.mutationOptions({
      onSuccess: async (v) => {
        await queryClient.invalidateQueries({
          queryKey: trpc.registry.list.queryKey({ projectId }),
        });
        onDone();
        router.push(`/projects/${projectId}/models/${encodeURIComponent(v.name)}`);
      },
    }),
  );
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm({ ...form, [k]: e.target.value });
  function submit(e: FormEvent) {
    e.preventDefault();
    register.mutate({
      projectId,
      name: form.name,
      sourceRunId: form.sourceRunId || undefined,
      artifactPath: form.artifactPath || undefined,
      metadata: {
        sampler: form.sampler || undefined,
        nfe: form.nfe ? Number(form.nfe) : undefined,
      },
    });
  }
  return (
    <form className="card card-pad form" onSubmit={submit}>
      <h2>Register a model version</h2>
      <div className="grid grid-2">
        <label className="field">
          Model name
          <input
            name="modelName"
            value={form.name}
            onChange={set('name')}
            placeholder="unet-mnist-4step"
            required
          />
        </label>
        <label className="field">
          Source run
          <select name="sourceRunId" value={form.sourceRunId} onChange={set('sourceRunId')}>
            <option value="">None</option>
            {runs.data?.map((r) => (
              <option key={r.id} value={r.id}>
                {r.name}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          Checkpoint artifact path
          <input
            name="artifactPath"
            value={form.artifactPath}
            onChange={set('artifactPath')}
            placeholder="checkpoints/final.safetensors"
          />
        </label>
        <div className="grid grid-2">
          <label className="field">
            Sampler
            <input
              name="sampler"
              value={form.sampler}
              onChange={set('sampler')}
              placeholder="dpm++2m"
            />
          </label>
          <label className="field">
            NFE
            <input
              name="nfe"
              type="number"
              min={1}
              value={form.nfe}
              onChange={set('nfe')}
              placeholder="8"
            />
          </label>
        </div>
      </div>
      {register.error && <div className="error">{errorMessage(register.error)}</div>}
      <div className="row">
        <button className="btn btn-primary" type="submit" disabled={register.isPending}>
          Register version
        </button>
        <button className="btn" type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export default function ModelsPage() {
  const { projectId } = useParams<{ projectId: string }>();
  const trpc = useTRPC();
  const { canEdit } = useMe();
  const [registering, setRegistering] = useState(false);
  const models = useQuery(trpc.registry.list.queryOptions({ projectId }));
  return (
    <div className="stack">
      <div className="row">
        <span className="muted">
          Versions of each model, with the run and dataset that produced them.
        </span>
        <span className="spacer" />
        {canEdit && !registering && (
          <button className="btn btn-primary" type="button" onClick={() => setRegistering(true)}>
            <Icon name="plus" /> Register version
          </button>
        )}
      </div>
      {registering && <RegisterForm projectId={projectId} onDone={() => setRegistering(false)} />}
      {models.data?.length === 0 && !registering ? (
        <div className="card">
          <Empty icon="box" title="No registered models">
            <p>
              A train job registers its model here when it finishes: queue one from{' '}
              <Link href={`/projects/${projectId}/jobs`}>Jobs</Link>. You can also register a
              version from any finished run with <b>Register version</b>, to track what it costs
              (steps, NFE, sampler) and how good it is, then point aliases like production at it.
            </p>
          </Empty>
        </div>
      ) : (
        models.data &&
        models.data.length > 0 && (
          <div className="card">
            <table>
              <thead>
                <tr>
                  <th>Model</th>
                  <th>Latest</th>
                  <th>Aliases</th>
                  <th>Created</th>
                </tr>
              </thead>
              <tbody>
                {models.data.map((m) => (
                  <tr key={m.id}>
                    <td>
                      <Link href={`/projects/${projectId}/models/${encodeURIComponent(m.name)}`}>
                        {m.name}
                      </Link>
                    </td>
                    <td>v{m.latestVersion}</td>
                    <td>
                      {m.aliases.map((a) => (
                        <span key={a.alias} className={`alias ${a.alias}`}>
                          {a.alias} → v{a.version}
                        </span>
                      ))}
                    </td>
                    <td className="muted">{when(m.createdAt)}</td>
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
