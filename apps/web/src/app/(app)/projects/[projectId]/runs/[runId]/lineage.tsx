'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { when } from '../../../../../../ui/format.ts';
import { StatusBadge } from '../../../../../../ui/shell.tsx';
import { useTRPC } from '../../../../../../ui/trpc.tsx';

const versionHref = (v: { projectId: string; modelName: string }) =>
  `/projects/${v.projectId}/models/${encodeURIComponent(v.modelName)}`;

/**
 * Where this run's checkpoint came from (a sample or evaluate run: the train run and model
 * version it read) and what was made from this run's own checkpoint.
 */
export function Lineage({ runId }: { runId: string }) {
  const trpc = useTRPC();
  const lineage = useQuery(trpc.runs.lineage.queryOptions({ runId }));
  const l = lineage.data;
  if (!l || (!l.source && !l.modelVersion && l.children.length === 0 && l.versions.length === 0))
    return null;
  return (
    <div className="card card-pad" data-testid="run-lineage">
      <h2>Lineage</h2>
      {(l.source || l.modelVersion) && (
        <p data-testid="run-lineage-source">
          Made from{' '}
          {l.source && (
            <>
              train run{' '}
              <Link href={`/projects/${l.source.projectId}/runs/${l.source.id}`}>
                {l.source.name}
              </Link>
            </>
          )}
          {l.source && l.modelVersion && ', '}
          {l.modelVersion && (
            <>
              model version{' '}
              <Link href={versionHref(l.modelVersion)}>
                {l.modelVersion.modelName} v{l.modelVersion.version}
              </Link>
            </>
          )}
          .
        </p>
      )}
      {l.versions.length > 0 && (
        <p>
          Registered as{' '}
          {l.versions.map((v, i) => (
            <span key={v.id}>
              {i > 0 && ', '}
              <Link href={versionHref(v)}>
                {v.modelName} v{v.version}
              </Link>
            </span>
          ))}
          .
        </p>
      )}
      {l.children.length > 0 && (
        <>
          <p className="muted small">
            {l.children.length === 1 ? '1 run' : `${l.children.length} runs`} made from this
            run&apos;s checkpoint
          </p>
          <table data-testid="run-lineage-children">
            <tbody>
              {l.children.map((c) => (
                <tr key={c.id}>
                  <td>
                    <Link href={`/projects/${c.projectId}/runs/${c.id}`}>{c.name}</Link>
                  </td>
                  <td className="muted">{c.jobType ?? 'run'}</td>
                  <td>
                    <StatusBadge status={c.status} />
                  </td>
                  <td className="muted small">{when(c.startedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
