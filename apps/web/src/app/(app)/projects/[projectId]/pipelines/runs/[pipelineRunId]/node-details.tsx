'use client';

import Link from 'next/link';
import type { ReactNode } from 'react';
import { duration, num, when } from '../../../../../../../ui/format.ts';
import { StatusBadge } from '../../../../../../../ui/shell.tsx';
import { attemptText, type GraphNode } from './graph.tsx';

export interface NodeDetail extends GraphNode {
  jobId: string | null;
  runId: string | null;
  deploymentId: string | null;
  outputs: Record<string, unknown>;
  detail: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

const at = (iso: string | null) => (iso ? `${when(iso)} · ${new Date(iso).toLocaleString()}` : '—');

/** An output as people read it: ids that have a page link to it, numbers rounded. */
function OutputValue({
  projectId,
  name,
  value,
}: {
  projectId: string;
  name: string;
  value: unknown;
}): ReactNode {
  if (typeof value === 'string') {
    const href =
      name === 'run_id'
        ? `/projects/${projectId}/runs/${value}`
        : name === 'deployment_id'
          ? `/projects/${projectId}/deployments/${value}`
          : name === 'model'
            ? `/projects/${projectId}/models/${encodeURIComponent(value)}`
            : null;
    return href ? <Link href={href}>{value}</Link> : value;
  }
  if (typeof value === 'number') return <span title={String(value)}>{num(value)}</span>;
  return JSON.stringify(value);
}

/** One node of the run: what it is doing or why it stopped, its outputs, its job and deployment. */
export function NodeDetails({ projectId, node }: { projectId: string; node: NodeDetail }) {
  const outputs = Object.entries(node.outputs);
  const attempt = attemptText(node);
  return (
    <section
      className="card"
      aria-labelledby={`node-${node.key}-title`}
      data-testid="node-details"
      data-node={node.key}
    >
      <div className="card-head row">
        <div className="row">
          <h2 id={`node-${node.key}-title`}>
            Node <span className="mono">{node.key}</span>
          </h2>
          <StatusBadge status={node.status} />
          <span className="tag">{node.kind}</span>
          {attempt && <span className="muted small">{attempt}</span>}
        </div>
        <div className="row small">
          {node.runId && (
            <Link href={`/projects/${projectId}/runs/${node.runId}`} data-testid="node-run-link">
              Open the {node.kind} job&rsquo;s run
            </Link>
          )}
          {node.deploymentId && (
            <Link
              href={`/projects/${projectId}/deployments/${node.deploymentId}`}
              data-testid="node-deployment-link"
            >
              Open the deployment
            </Link>
          )}
        </div>
      </div>
      <div className="card-pad stack" style={{ gap: 12 }}>
        {node.detail && (
          <p className="wrap" style={{ margin: 0 }} data-testid="node-detail">
            {node.detail}
          </p>
        )}
        <dl className="kv" style={{ margin: 0 }}>
          <dt>Waits for</dt>
          <dd>{node.needs.length ? node.needs.join(', ') : 'nothing (a root)'}</dd>
          <dt>Started</dt>
          <dd>{at(node.startedAt)}</dd>
          <dt>Finished</dt>
          <dd>{at(node.finishedAt)}</dd>
          {node.startedAt && (
            <>
              <dt>Took</dt>
              <dd>{duration(node.startedAt, node.finishedAt)}</dd>
            </>
          )}
          {node.jobId && (
            <>
              <dt>Job</dt>
              <dd>{node.jobId}</dd>
            </>
          )}
        </dl>
      </div>
      {outputs.length > 0 ? (
        <table data-testid="node-outputs">
          <thead>
            <tr>
              <th>Output</th>
              <th>Value</th>
            </tr>
          </thead>
          <tbody>
            {outputs.map(([k, v]) => (
              <tr key={k}>
                <td className="mono">{k}</td>
                <td className="mono wrap">
                  <OutputValue projectId={projectId} name={k} value={v} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <div className="card-pad muted small" style={{ paddingTop: 0 }}>
          No outputs {node.status === 'succeeded' ? 'recorded' : 'yet'}: a node&rsquo;s outputs are
          what later nodes read, as <code>{`\${${node.key}.name}`}</code>.
        </div>
      )}
    </section>
  );
}
