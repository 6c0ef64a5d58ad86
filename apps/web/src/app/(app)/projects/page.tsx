'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { type FormEvent, useState } from 'react';
import { errorMessage, noun, when } from '../../../ui/format.ts';
import { Icon } from '../../../ui/icons.tsx';
import { Empty, PageHead, useMe } from '../../../ui/shell.tsx';
import { useTRPC } from '../../../ui/trpc.tsx';

function NewProject({ onDone }: { onDone: () => void }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const create = useMutation(
    trpc.projects.create.mutationOptions({
      onSuccess: async (p) => {
        await queryClient.invalidateQueries({ queryKey: trpc.projects.list.queryKey() });
        onDone();
        router.push(`/projects/${p.id}`);
      },
    }),
  );
  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate({ name, description });
  }
  return (
    <form className="card card-pad form" onSubmit={submit} style={{ marginBottom: 20 }}>
      <h2>New project</h2>
      <div className="grid grid-2">
        <label className="field">
          Name
          <input
            name="projectName"
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="mnist-consistency"
            required
          />
        </label>
        <label className="field">
          Description
          <input
            name="projectDescription"
            value={description}
            onChange={(e) => setDescription(e.target.value)}
            placeholder="What this project explores"
          />
        </label>
      </div>
      {create.error && <div className="error">{errorMessage(create.error)}</div>}
      <div className="row">
        <button className="btn btn-primary" type="submit" disabled={create.isPending}>
          Create project
        </button>
        <button className="btn" type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export default function ProjectsPage() {
  const trpc = useTRPC();
  const { canEdit } = useMe();
  const projects = useQuery(trpc.projects.list.queryOptions());
  const [creating, setCreating] = useState(false);
  return (
    <div className="page">
      <PageHead
        title="Projects"
        sub="Each project groups the runs, datasets and models of one line of work."
        actions={
          canEdit && !creating ? (
            <button className="btn btn-primary" type="button" onClick={() => setCreating(true)}>
              <Icon name="plus" /> New project
            </button>
          ) : null
        }
      />
      {creating && <NewProject onDone={() => setCreating(false)} />}
      {projects.data?.length === 0 && !creating && (
        <div className="card">
          <Empty icon="folder" title="No projects yet">
            <p>
              {canEdit
                ? 'Create a project, then log runs to it from the dashboard, the `anneal` CLI or the REST API.'
                : 'Ask an editor or owner of your organization to create one; you will see it here.'}
            </p>
            {canEdit && (
              <button className="btn btn-primary" type="button" onClick={() => setCreating(true)}>
                <Icon name="plus" /> New project
              </button>
            )}
          </Empty>
        </div>
      )}
      <div className="grid grid-3">
        {projects.data?.map((p) => (
          <Link key={p.id} href={`/projects/${p.id}`} className="card project-card">
            <h3>{p.name}</h3>
            <div className="muted small" style={{ minHeight: 20 }}>
              {p.description || 'No description'}
            </div>
            <div className="stats">
              <span>
                <b>{p.runCount}</b> {noun(p.runCount, 'run')}
              </span>
              <span>
                <b>{p.modelCount}</b> {noun(p.modelCount, 'model')}
              </span>
              <span>
                <b>{p.datasetCount + 2}</b> {noun(p.datasetCount + 2, 'dataset')}
              </span>
              <span className="spacer" />
              <span>
                {p.lastRunAt ? `active ${when(p.lastRunAt)}` : `created ${when(p.createdAt)}`}
              </span>
            </div>
          </Link>
        ))}
      </div>
    </div>
  );
}
