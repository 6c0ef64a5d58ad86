'use client';

import Link from 'next/link';
import { duration, when } from '../../../../../ui/format.ts';
import { StatusBadge } from '../../../../../ui/shell.tsx';

interface PipelineRunRow {
  id: string;
  name: string;
  status: string;
  trigger: string;
  nodes: { status: string }[];
  createdAt: string;
  finishedAt: string | null;
}

/** Runs of a pipeline (or of a project), newest first, each linking to its graph. */
export function PipelineRunTable({
  projectId,
  runs,
  showName = true,
}: {
  projectId: string;
  runs: PipelineRunRow[];
  /** The pipeline's name per row (a project's runs mix pipelines). */
  showName?: boolean;
}) {
  return (
    <table data-testid="pipeline-runs">
      <thead>
        <tr>
          <th>Run</th>
          <th>Status</th>
          <th className="num">Nodes done</th>
          <th>Trigger</th>
          <th>Started</th>
          <th className="num">Duration</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr key={r.id}>
            <td>
              <Link href={`/projects/${projectId}/pipelines/runs/${r.id}`}>
                {showName ? `${r.name} ` : ''}
                <span className="mono">{r.id.slice(0, 8)}</span>
              </Link>
            </td>
            <td>
              <StatusBadge status={r.status} />
            </td>
            <td className="num">
              {r.nodes.filter((n) => n.status !== 'pending' && n.status !== 'running').length}/
              {r.nodes.length}
            </td>
            <td>{r.trigger}</td>
            <td className="muted">{when(r.createdAt)}</td>
            <td className="num">{duration(r.createdAt, r.finishedAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
