'use client';

import { type JobSpecInput, type JobType, jobKinds, jobSpecSchema } from '@anneal/protocol';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { errorMessage } from '../../../../../ui/format.ts';
import { useTRPC } from '../../../../../ui/trpc.tsx';
import { formKinds } from './kinds/index.ts';
import type { FieldValues } from './kinds/kind.ts';

const initialValues = () =>
  Object.fromEntries(jobKinds.map((k) => [k.type, { ...formKinds[k.type].initial }])) as Record<
    JobType,
    FieldValues
  >;

/** The "New job" form: every registered job kind, checked with the schema the server and agent use. */
export function NewJob({ projectId, onDone }: { projectId: string; onDone: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [type, setType] = useState<JobType>(jobKinds[0].type);
  const [values, setValues] = useState(initialValues);
  const [invalid, setInvalid] = useState<string | null>(null);
  const create = useMutation(
    trpc.jobs.create.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries({ queryKey: trpc.jobs.list.queryKey({ projectId }) });
        onDone();
      },
    }),
  );
  const kind = formKinds[type];
  const own = values[type];
  const update = (patch: FieldValues) => setValues({ ...values, [type]: { ...own, ...patch } });
  const text = (name: string, label: string) => (
    <label className="field">
      {label}
      <input
        name={name}
        value={own[name] ?? ''}
        onChange={(e) => update({ [name]: e.target.value })}
      />
    </label>
  );
  const select = (
    name: string,
    label: string,
    options: readonly (string | [string, string])[],
    onPick?: (value: string) => FieldValues,
  ) => (
    <label className="field">
      {label}
      <select
        name={name}
        value={own[name] ?? ''}
        onChange={(e) => update(onPick ? onPick(e.target.value) : { [name]: e.target.value })}
      >
        {options.map((o) => {
          const [value, text] = typeof o === 'string' ? [o, o] : o;
          return (
            <option key={value} value={value}>
              {text}
            </option>
          );
        })}
      </select>
    </label>
  );
  function submit(e: FormEvent) {
    e.preventDefault();
    // The same schema the server and the agent validate with.
    const job = { type, spec: kind.toSpec(own) } as JobSpecInput;
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
          <select name="jobType" value={type} onChange={(e) => setType(e.target.value as JobType)}>
            {jobKinds.map((k) => (
              <option key={k.type} value={k.type} title={k.summary}>
                {k.type}
              </option>
            ))}
          </select>
        </label>
        <kind.Fields
          projectId={projectId}
          values={own}
          update={update}
          text={text}
          select={select}
        />
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
