'use client';

import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { inferInput } from '@trpc/tanstack-react-query';
import { useRouter } from 'next/navigation';
import { type FormEvent, useState } from 'react';
import { errorMessage } from '../../../../../ui/format.ts';
import { useTRPC } from '../../../../../ui/trpc.tsx';
import { EXAMPLE_SPEC } from './example-spec.ts';
import { fieldOf, parseSpec, SpecField } from './spec-field.tsx';

/** Name, description and the spec as JSON; the server checks the spec whole on save. */
export function NewPipelineForm({ projectId, onDone }: { projectId: string; onDone: () => void }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const [form, setForm] = useState({
    name: '',
    description: '',
    spec: JSON.stringify(EXAMPLE_SPEC, null, 2),
  });
  const [parseError, setParseError] = useState<string | null>(null);
  const create = useMutation(
    trpc.pipelines.create.mutationOptions({
      onSuccess: async (p) => {
        await queryClient.invalidateQueries({
          queryKey: trpc.pipelines.list.queryKey({ projectId }),
        });
        onDone();
        router.push(`/projects/${projectId}/pipelines/${p.id}`);
      },
    }),
  );
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm({ ...form, [k]: e.target.value });
  function submit(e: FormEvent) {
    e.preventDefault();
    create.reset();
    const parsed = parseSpec(form.spec);
    setParseError(parsed.spec ? null : parsed.error);
    if (!parsed.spec) return;
    create.mutate({
      projectId,
      name: form.name,
      ...(form.description.trim() ? { description: form.description } : {}),
      // The server parses it with the pipeline schema and answers with the path of a mistake.
      spec: parsed.spec as inferInput<typeof trpc.pipelines.create>['spec'],
    });
  }
  const serverError = create.error ? errorMessage(create.error) : null;
  const field = serverError ? fieldOf(serverError) : null;
  const specError = parseError ?? (field === 'spec' ? serverError : null);
  return (
    <form className="card card-pad form" onSubmit={submit} data-testid="new-pipeline">
      <h2>New pipeline</h2>
      <div className="grid grid-2">
        <label className="field">
          Name
          <input
            name="name"
            value={form.name}
            onChange={set('name')}
            placeholder="train-and-ship"
            aria-invalid={field === 'name' ? true : undefined}
            required
          />
        </label>
        <label className="field">
          Description
          <input
            name="description"
            value={form.description}
            onChange={set('description')}
            placeholder="optional"
          />
        </label>
      </div>
      <SpecField
        value={form.spec}
        onChange={(spec) => setForm({ ...form, spec })}
        error={specError}
      />
      <p className="muted small" style={{ margin: 0 }}>
        Nodes run as soon as the nodes they need (and every node they reference, as in{' '}
        <code>{'${train.version_id}'}</code>) have succeeded; <code>when</code> conditions skip a
        node and what follows it; <code>retries</code> runs a failed job again from its last
        checkpoint. Kinds: train, distill, evaluate, sample, bench, plan, register, deploy.
      </p>
      {serverError && field !== 'spec' && (
        <div className="error" role="alert">
          {serverError}
        </div>
      )}
      <div className="row">
        <button className="btn btn-primary" type="submit" disabled={create.isPending}>
          Create pipeline
        </button>
        <button className="btn" type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
