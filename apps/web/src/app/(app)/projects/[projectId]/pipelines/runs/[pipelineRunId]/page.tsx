'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useParams } from 'next/navigation';
import { useState } from 'react';
import { duration, errorMessage, when } from '../../../../../../../ui/format.ts';
import { Empty, StatusBadge, useMe } from '../../../../../../../ui/shell.tsx';
import { useTRPC } from '../../../../../../../ui/trpc.tsx';
import { GraphLegend, PipelineGraph } from './graph.tsx';
import { NodeDetails } from './node-details.tsx';

/** How often the page asks again while the run is under way (as the deployment page does). */
const POLL_MS = 2000;

export default function PipelineRunPage() {
  const { projectId, pipelineRunId } = useParams<{ projectId: string; pipelineRunId: string }>();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { canEdit } = useMe();
  const [selected, setSelected] = useState<string | null>(null);
  const run = useQuery({
    ...trpc.pipelines.run.queryOptions({ pipelineRunId }),
    // A finished run no longer changes; stop asking.
    refetchInterval: (q) => (q.state.data?.status === 'running' ? POLL_MS : false),
  });
  const cancel = useMutation(
    trpc.pipelines.cancel.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.pipelines.pathKey() }),
    }),
  );
  if (run.error)
    return (
      <div className="card">
        <Empty icon="activity" title="Pipeline run not found">
          <p>{errorMessage(run.error)}</p>
          <Link href={`/projects/${projectId}/pipelines`}>Back to pipelines</Link>
        </Empty>
      </div>
    );
  const r = run.data;
  if (!r) return <div className="muted">Loading…</div>;
  const node = r.nodes.find((n) => n.key === selected);
  const params = Object.entries(r.params);
  return (
    <div className="stack">
      <div className="crumbs">
        <Link href={`/projects/${projectId}/pipelines`}>Pipelines</Link> <span>/</span>
        {r.pipelineId && (
          <>
            {' '}
            <Link href={`/projects/${projectId}/pipelines/${r.pipelineId}`}>{r.name}</Link>{' '}
            <span>/</span>
          </>
        )}
      </div>
      <div className="card card-pad">
        <div className="row">
          <h2 style={{ margin: 0 }} data-testid="pipeline-run-name">
            {r.name} <span className="mono muted small">{r.id.slice(0, 8)}</span>
          </h2>
          <span data-testid="pipeline-run-status">
            <StatusBadge status={r.status} />
          </span>
          {r.status === 'running' && <span className="live">live</span>}
          <span className="spacer" />
          {canEdit && r.status === 'running' && (
            <button
              className="btn btn-danger btn-sm"
              type="button"
              disabled={cancel.isPending}
              onClick={() => cancel.mutate({ pipelineRunId })}
            >
              Cancel run
            </button>
          )}
        </div>
        <div className="stats">
          <span>
            triggered by <b>{r.trigger}</b>
            {r.alertId && ' (an alert’s suggestion)'}
          </span>
          <span>
            started <b>{when(r.createdAt)}</b>
          </span>
          <span>
            {r.finishedAt ? 'took' : 'running for'} <b>{duration(r.createdAt, r.finishedAt)}</b>
          </span>
          {params.length > 0 ? (
            params.map(([k, v]) => (
              <span key={k} data-testid={`param-${k}`}>
                <span className="mono">{k}</span> <b className="mono">{JSON.stringify(v)}</b>
              </span>
            ))
          ) : (
            <span>no params</span>
          )}
        </div>
        {r.error && (
          <div
            className="error"
            role="alert"
            style={{ marginTop: 12 }}
            data-testid="pipeline-run-error"
          >
            {r.error}
          </div>
        )}
        {cancel.error && (
          <div className="error" style={{ marginTop: 12 }}>
            {errorMessage(cancel.error)}
          </div>
        )}
      </div>
      <div className="card">
        <div className="card-head row">
          <h2>Graph</h2>
          <span className="muted small">
            {r.nodes.filter((n) => n.status === 'succeeded').length} of {r.nodes.length} nodes
            succeeded; select a node for its outputs and job
          </span>
          <span className="spacer" />
          <GraphLegend />
        </div>
        <div className="card-pad">
          <PipelineGraph
            nodes={r.nodes}
            selected={selected}
            onSelect={(key) => setSelected(key === selected ? null : key)}
          />
        </div>
      </div>
      {node ? (
        <NodeDetails projectId={projectId} node={node} />
      ) : (
        <div className="muted small">
          Select a node in the graph to see its detail, outputs and the run of its job.
        </div>
      )}
    </div>
  );
}
