'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useParams } from 'next/navigation';
import { useState } from 'react';
import { count, when } from '../../../../../ui/format.ts';
import { Icon } from '../../../../../ui/icons.tsx';
import { Empty, StatusBadge, useMe } from '../../../../../ui/shell.tsx';
import { useTRPC } from '../../../../../ui/trpc.tsx';
import { NewPipelineForm } from './new-pipeline-form.tsx';
import { PipelineRunTable } from './run-table.tsx';
import { nodeCount } from './spec-field.tsx';

export default function PipelinesPage() {
  const { projectId } = useParams<{ projectId: string }>();
  const trpc = useTRPC();
  const { canEdit } = useMe();
  const [creating, setCreating] = useState(false);
  const list = useQuery({
    ...trpc.pipelines.list.queryOptions({ projectId }),
    refetchInterval: 3000,
  });
  const runs = useQuery({
    ...trpc.pipelines.runs.queryOptions({ projectId }),
    refetchInterval: 3000,
  });
  return (
    <div className="stack">
      <div className="row">
        <span className="muted">
          DAGs of jobs the server runs: train, evaluate, promote an alias, deploy.
        </span>
        <span className="spacer" />
        {canEdit && !creating && (
          <button className="btn btn-primary" type="button" onClick={() => setCreating(true)}>
            <Icon name="plus" /> New pipeline
          </button>
        )}
      </div>
      {creating && <NewPipelineForm projectId={projectId} onDone={() => setCreating(false)} />}
      {list.data?.length === 0 && !creating ? (
        <div className="card">
          <Empty icon="activity" title="No pipelines">
            <p>
              A pipeline is a spec of nodes: jobs (train, distill, evaluate, sample, bench, plan),
              register (point an alias at a version) and deploy. Each node starts when the nodes it
              needs have succeeded, and reads their outputs, such as{' '}
              <code>{'${train.version_id}'}</code>. Trigger it here or with{' '}
              <code>POST /api/v1/pipelines/ID/runs</code>.
            </p>
          </Empty>
        </div>
      ) : (
        list.data &&
        list.data.length > 0 && (
          <div className="card">
            <table data-testid="pipelines">
              <thead>
                <tr>
                  <th>Pipeline</th>
                  <th className="num">Nodes</th>
                  <th>Last run</th>
                  <th>Updated</th>
                </tr>
              </thead>
              <tbody>
                {list.data.map((p) => (
                  <tr key={p.id}>
                    <td>
                      <Link href={`/projects/${projectId}/pipelines/${p.id}`}>{p.name}</Link>
                      {p.description && <div className="muted small">{p.description}</div>}
                    </td>
                    <td className="num">{count(nodeCount(p.spec), 'node')}</td>
                    <td>
                      {p.lastRun ? (
                        <Link
                          href={`/projects/${projectId}/pipelines/runs/${p.lastRun.id}`}
                          aria-label={`last run of ${p.name}: ${p.lastRun.status}`}
                        >
                          <StatusBadge status={p.lastRun.status} />{' '}
                          <span className="muted small">{when(p.lastRun.createdAt)}</span>
                        </Link>
                      ) : (
                        <span className="muted">never run</span>
                      )}
                    </td>
                    <td className="muted">{when(p.updatedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
      )}
      {runs.data && runs.data.length > 0 && (
        <div className="card">
          <div className="card-head">
            <h2>Recent runs</h2>
          </div>
          <PipelineRunTable projectId={projectId} runs={runs.data} />
        </div>
      )}
    </div>
  );
}
