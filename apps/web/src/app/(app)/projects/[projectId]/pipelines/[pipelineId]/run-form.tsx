'use client';

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { type FormEvent, useState } from 'react';
import { errorMessage } from '../../../../../../ui/format.ts';
import { useTRPC } from '../../../../../../ui/trpc.tsx';

type Scalar = string | number | boolean;

/** The declared params of a saved spec (name -> default), as stored. */
export function declaredParams(spec: Record<string, unknown>): Record<string, Scalar> {
  const params = spec.params;
  if (!params || typeof params !== 'object') return {};
  return Object.fromEntries(
    Object.entries(params).filter((e): e is [string, Scalar] =>
      ['string', 'number', 'boolean'].includes(typeof e[1]),
    ),
  );
}

/**
 * One input per declared param, of its default's type (the server refuses a value of another
 * type), prefilled with the default; Run triggers and opens the run's graph.
 */
export function RunForm({
  projectId,
  pipelineId,
  params,
}: {
  projectId: string;
  pipelineId: string;
  params: Record<string, Scalar>;
}) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  // Numbers are edited as text so a half-typed "1e" is not lost; they are parsed on submit.
  const [values, setValues] = useState<Record<string, string | boolean>>(() =>
    Object.fromEntries(
      Object.entries(params).map(([k, v]) => [k, typeof v === 'boolean' ? v : String(v)]),
    ),
  );
  const [invalid, setInvalid] = useState<string | null>(null);
  const trigger = useMutation(
    trpc.pipelines.trigger.mutationOptions({
      onSuccess: async (run) => {
        await queryClient.invalidateQueries({ queryKey: trpc.pipelines.pathKey() });
        router.push(`/projects/${projectId}/pipelines/runs/${run.id}`);
      },
    }),
  );
  function submit(e: FormEvent) {
    e.preventDefault();
    const typed: Record<string, Scalar> = {};
    for (const [k, def] of Object.entries(params)) {
      const v = values[k] ?? def;
      if (typeof def === 'number') {
        const n = Number(v);
        if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n)) {
          setInvalid(`params.${k}: a number, as its default is`);
          return;
        }
        typed[k] = n;
      } else typed[k] = typeof def === 'boolean' ? v === true : String(v);
    }
    setInvalid(null);
    trigger.mutate({ pipelineId, params: typed });
  }
  const names = Object.keys(params);
  return (
    <form className="card card-pad form" onSubmit={submit} data-testid="run-form">
      <h2 style={{ margin: 0 }}>Run</h2>
      {names.length === 0 ? (
        <p className="muted small" style={{ margin: 0 }}>
          This pipeline declares no params; a run uses the spec as saved.
        </p>
      ) : (
        <div className="grid grid-3">
          {names.map((k) => {
            const def = params[k];
            const v = values[k];
            if (typeof def === 'boolean')
              return (
                <label key={k} className="row small" style={{ fontWeight: 550 }}>
                  <input
                    type="checkbox"
                    name={`params.${k}`}
                    checked={v === true}
                    onChange={(e) => setValues({ ...values, [k]: e.target.checked })}
                  />
                  <span className="mono">{k}</span>
                </label>
              );
            return (
              <label key={k} className="field">
                <span className="mono">{k}</span>
                <input
                  name={`params.${k}`}
                  type={typeof def === 'number' ? 'number' : 'text'}
                  step={typeof def === 'number' ? 'any' : undefined}
                  value={typeof v === 'string' ? v : ''}
                  onChange={(e) => setValues({ ...values, [k]: e.target.value })}
                />
              </label>
            );
          })}
        </div>
      )}
      {(invalid || trigger.error) && (
        <div className="error" role="alert">
          {invalid ?? errorMessage(trigger.error)}
        </div>
      )}
      <div className="row">
        <button className="btn btn-primary" type="submit" disabled={trigger.isPending}>
          {trigger.isPending ? 'Starting…' : 'Run'}
        </button>
      </div>
    </form>
  );
}
