'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { inferInput } from '@trpc/tanstack-react-query';
import Link from 'next/link';
import { useParams } from 'next/navigation';
import { type FormEvent, useState } from 'react';
import { count, errorMessage, when } from '../../../../../../ui/format.ts';
import { Empty, StatusBadge, useMe } from '../../../../../../ui/shell.tsx';
import { useTRPC } from '../../../../../../ui/trpc.tsx';
import { PipelineRunTable } from '../run-table.tsx';
import { fieldOf, nodeCount, parseSpec, SpecField } from '../spec-field.tsx';
import { declaredParams, RunForm } from './run-form.tsx';

/** The saved spec, read-only as pretty JSON or edited as text and saved whole. */
function Spec({
  pipelineId,
  spec,
  description,
  canEdit,
}: {
  pipelineId: string;
  spec: Record<string, unknown>;
  description: string | null;
  canEdit: boolean;
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState<{ spec: string; description: string } | null>(null);
  const [parseError, setParseError] = useState<string | null>(null);
  const update = useMutation(
    trpc.pipelines.update.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries({ queryKey: trpc.pipelines.pathKey() });
        setDraft(null);
      },
    }),
  );
  const pretty = JSON.stringify(spec, null, 2);
  function edit() {
    update.reset();
    setParseError(null);
    setDraft({ spec: pretty, description: description ?? '' });
  }
  function save(e: FormEvent) {
    e.preventDefault();
    if (!draft) return;
    update.reset();
    const parsed = parseSpec(draft.spec);
    setParseError(parsed.spec ? null : parsed.error);
    if (!parsed.spec) return;
    update.mutate({
      pipelineId,
      spec: parsed.spec as inferInput<typeof trpc.pipelines.update>['spec'],
      description: draft.description,
    });
  }
  const serverError = update.error ? errorMessage(update.error) : null;
  const specError =
    parseError ?? (serverError && fieldOf(serverError) === 'spec' ? serverError : null);
  return (
    <div className="card" data-testid="pipeline-spec">
      <div className="card-head row">
        <h2>Spec</h2>
        <span className="muted small">
          {count(nodeCount(spec), 'node')}; a run copies the spec as it is when triggered
        </span>
        <span className="spacer" />
        {canEdit && !draft && (
          <button className="btn btn-sm" type="button" onClick={edit}>
            Edit
          </button>
        )}
      </div>
      {draft ? (
        <form className="card-pad form" onSubmit={save}>
          <label className="field">
            Description
            <input
              name="description"
              value={draft.description}
              onChange={(e) => setDraft({ ...draft, description: e.target.value })}
            />
          </label>
          <SpecField
            value={draft.spec}
            onChange={(value) => setDraft({ ...draft, spec: value })}
            error={specError}
            rows={Math.min(40, Math.max(12, draft.spec.split('\n').length + 1))}
          />
          {serverError && !specError && (
            <div className="error" role="alert">
              {serverError}
            </div>
          )}
          <div className="row">
            <button className="btn btn-primary" type="submit" disabled={update.isPending}>
              Save
            </button>
            <button className="btn" type="button" onClick={() => setDraft(null)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <div className="card-pad">
          <pre className="code" data-testid="spec-json">
            {pretty}
          </pre>
        </div>
      )}
    </div>
  );
}

export default function PipelinePage() {
  const { projectId, pipelineId } = useParams<{ projectId: string; pipelineId: string }>();
  const trpc = useTRPC();
  const { canEdit } = useMe();
  const p = useQuery(trpc.pipelines.get.queryOptions({ pipelineId }));
  const runs = useQuery({
    ...trpc.pipelines.runs.queryOptions({ pipelineId }),
    refetchInterval: 3000,
  });
  if (p.error)
    return (
      <div className="card">
        <Empty icon="activity" title="Pipeline not found">
          <p>{errorMessage(p.error)}</p>
          <Link href={`/projects/${projectId}/pipelines`}>Back to pipelines</Link>
        </Empty>
      </div>
    );
  const pipeline = p.data;
  if (!pipeline) return <div className="muted">Loading…</div>;
  const params = declaredParams(pipeline.spec);
  return (
    <div className="stack">
      <div className="crumbs">
        <Link href={`/projects/${projectId}/pipelines`}>Pipelines</Link> <span>/</span>
      </div>
      <div className="card card-pad">
        <div className="row">
          <h2 style={{ margin: 0 }} data-testid="pipeline-name">
            {pipeline.name}
          </h2>
          {pipeline.lastRun && <StatusBadge status={pipeline.lastRun.status} />}
        </div>
        {pipeline.description && (
          <p className="muted" style={{ margin: '6px 0 0' }}>
            {pipeline.description}
          </p>
        )}
        <div className="stats">
          <span>
            created <b>{when(pipeline.createdAt)}</b>
          </span>
          <span>
            updated <b>{when(pipeline.updatedAt)}</b>
          </span>
          <span>
            API <code>POST /api/v1/pipelines/{pipeline.id}/runs</code>
          </span>
        </div>
      </div>
      {canEdit && (
        <RunForm
          key={JSON.stringify(params)}
          projectId={projectId}
          pipelineId={pipelineId}
          params={params}
        />
      )}
      <div className="card">
        <div className="card-head">
          <h2>Runs</h2>
        </div>
        {runs.data?.length === 0 ? (
          <div className="card-pad muted">Not run yet.</div>
        ) : (
          runs.data && <PipelineRunTable projectId={projectId} runs={runs.data} showName={false} />
        )}
      </div>
      <Spec
        pipelineId={pipelineId}
        spec={pipeline.spec}
        description={pipeline.description}
        canEdit={canEdit}
      />
    </div>
  );
}
