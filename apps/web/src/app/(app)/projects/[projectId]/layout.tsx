'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useParams, usePathname } from 'next/navigation';
import type { ReactNode } from 'react';
import { errorMessage, when } from '../../../../ui/format.ts';
import { Empty, useMe } from '../../../../ui/shell.tsx';
import { useTRPC } from '../../../../ui/trpc.tsx';

/** Project header and tabs around every project page. */
export default function ProjectLayout({ children }: { children: ReactNode }) {
  const { projectId } = useParams<{ projectId: string }>();
  const pathname = usePathname();
  const trpc = useTRPC();
  const project = useQuery(trpc.projects.get.queryOptions({ projectId }));
  const queryClient = useQueryClient();
  const { canEdit } = useMe();
  const restore = useMutation(
    trpc.projects.restore.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries(),
    }),
  );
  const base = `/projects/${projectId}`;
  const tabs = [
    {
      href: base,
      label: 'Runs',
      active:
        pathname === base ||
        pathname.startsWith(`${base}/runs`) ||
        pathname.startsWith(`${base}/compare`),
    },
    { href: `${base}/jobs`, label: 'Jobs', active: pathname.startsWith(`${base}/jobs`) },
    {
      href: `${base}/datasets`,
      label: 'Datasets',
      active: pathname.startsWith(`${base}/datasets`),
    },
    { href: `${base}/models`, label: 'Models', active: pathname.startsWith(`${base}/models`) },
    {
      href: `${base}/deployments`,
      label: 'Deployments',
      active: pathname.startsWith(`${base}/deployments`),
    },
    {
      href: `${base}/pipelines`,
      label: 'Pipelines',
      active: pathname.startsWith(`${base}/pipelines`),
    },
  ];
  if (project.error)
    return (
      <div className="page">
        <div className="card">
          <Empty icon="folder" title="Project not found">
            <p>{errorMessage(project.error)}</p>
            <Link href="/projects">Back to projects</Link>
          </Empty>
        </div>
      </div>
    );
  return (
    <div className="page">
      <div className="crumbs">
        <Link href="/projects">Projects</Link> <span>/</span>
      </div>
      <div className="page-head" style={{ marginBottom: 14 }}>
        <div>
          <h1>{project.data?.name ?? '…'}</h1>
          {project.data?.description && <div className="sub">{project.data.description}</div>}
        </div>
      </div>
      {project.data?.deletedAt && (
        <div
          className="card card-pad row"
          role="status"
          data-testid="project-deleted"
          style={{ marginBottom: 14 }}
        >
          <span>
            This project is deleted (through MLflow) {when(project.data.deletedAt)}, with its runs:
            it is hidden from the projects list, and its data is kept.
          </span>
          {canEdit && (
            <button
              className="btn btn-sm"
              type="button"
              disabled={restore.isPending}
              onClick={() => restore.mutate({ projectId })}
            >
              Restore
            </button>
          )}
          {restore.error && <span className="error small">{errorMessage(restore.error)}</span>}
        </div>
      )}
      <nav className="tabs">
        {tabs.map((t) => (
          <Link key={t.href} href={t.href} className={`tab${t.active ? ' active' : ''}`}>
            {t.label}
          </Link>
        ))}
      </nav>
      {children}
    </div>
  );
}
