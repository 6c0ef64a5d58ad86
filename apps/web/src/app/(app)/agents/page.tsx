'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { bytes, when } from '../../../ui/format.ts';
import { Empty, PageHead, StatusBadge, useMe } from '../../../ui/shell.tsx';
import { useTRPC } from '../../../ui/trpc.tsx';

export default function AgentsPage() {
  const trpc = useTRPC();
  const { isOwner } = useMe();
  const agents = useQuery({ ...trpc.agents.list.queryOptions(), refetchInterval: 3000 });
  // "Macs" only when every agent is one (Apple chip or Metal backend); Linux and CUDA
  // agents are machines.
  const macs =
    (agents.data?.length ?? 0) > 0 &&
    agents.data?.every((a) => {
      const hw = a.hardware as { backend?: string; chip?: { name?: string } };
      return hw.backend === 'metal' || /^Apple\b/.test(hw.chip?.name ?? '');
    });
  return (
    <div className="page">
      <PageHead
        title="Agents"
        sub={`${macs ? 'Macs' : 'Machines'} that run training, sampling, evaluation and benchmark jobs for this organization.`}
      />
      {agents.data?.length === 0 ? (
        <div className="card">
          <Empty icon="cpu" title="No agents connected">
            <p>
              {isOwner ? (
                <>
                  Create an agent token in <Link href="/settings">Settings</Link>, then on each
                  machine (a Mac with Apple silicon, or Linux) run:
                </>
              ) : (
                'Ask an owner for an agent token, then on each machine (a Mac with Apple silicon, or Linux) run:'
              )}
            </p>
            <pre className="code">{`npx anneal agent --server ${typeof window === 'undefined' ? 'http://localhost:3000' : window.location.origin} --token <agent token>`}</pre>
          </Empty>
        </div>
      ) : (
        <div className="card table-wrap">
          <table>
            <thead>
              <tr>
                <th>Agent</th>
                <th>Status</th>
                <th>Chip</th>
                <th>Memory</th>
                <th>Backend</th>
                <th>Current job</th>
                <th>Benchmark</th>
                <th>Last seen</th>
              </tr>
            </thead>
            <tbody>
              {agents.data?.map((a) => {
                const hw = a.hardware as {
                  backend?: string;
                  chip?: { name?: string };
                  memory?: { totalBytes?: number };
                };
                return (
                  <tr key={a.id} data-agent={a.name}>
                    <td>
                      {a.name}
                      <div className="muted small mono">{a.version || '—'}</div>
                    </td>
                    <td>
                      <StatusBadge
                        status={a.online ? (a.currentJob ? 'running' : 'online') : 'offline'}
                      />
                    </td>
                    <td className="small">{hw.chip?.name ?? '—'}</td>
                    <td className="mono small">
                      {hw.memory?.totalBytes ? bytes(hw.memory.totalBytes) : '—'}
                    </td>
                    <td className="mono small">{hw.backend ?? '—'}</td>
                    <td className="small">
                      {a.currentJob ? (
                        <Link href={`/projects/${a.currentJob.projectId}/jobs`}>
                          {a.currentJob.type} {a.currentJob.id.slice(0, 8)}
                        </Link>
                      ) : (
                        '—'
                      )}
                    </td>
                    <td className="small wrap" data-testid="benchmark">
                      {a.benchmark ? (
                        <>
                          {a.benchmark.samplers
                            .map((b) => `${b.sampler} ${b.images_per_s.toFixed(1)} img/s`)
                            .join(' · ')}
                          <div className="muted small">
                            {a.benchmark.benchmark} ({a.benchmark.scale}, {a.benchmark.resolution}
                            px, {a.benchmark.samplers[0]?.steps ?? '?'} steps){' '}
                            {when(a.benchmark.at)}
                          </div>
                        </>
                      ) : (
                        '—'
                      )}
                    </td>
                    <td className="muted">{when(a.lastSeenAt)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
