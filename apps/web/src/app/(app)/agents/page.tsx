'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { when } from '../../../ui/format.ts';
import { Empty, PageHead, useMe } from '../../../ui/shell.tsx';
import { useTRPC } from '../../../ui/trpc.tsx';

export default function AgentsPage() {
  const trpc = useTRPC();
  const { isOwner } = useMe();
  const agents = useQuery({ ...trpc.agents.list.queryOptions(), refetchInterval: 10_000 });
  return (
    <div className="page">
      <PageHead
        title="Agents"
        sub="Macs that run training, distillation and sampling jobs for this organization."
      />
      {agents.data?.length === 0 ? (
        <div className="card">
          <Empty icon="cpu" title="No agents connected">
            <p>
              {isOwner ? (
                <>
                  Create an agent token in <Link href="/settings">Settings</Link>, then on each Mac
                  run:
                </>
              ) : (
                'Ask an owner for an agent token, then on each Mac run:'
              )}
            </p>
            <pre className="code">{`npx anneal agent --server ${typeof window === 'undefined' ? 'http://localhost:3000' : window.location.origin} --token <agent token>`}</pre>
          </Empty>
        </div>
      ) : (
        <div className="card">
          <table>
            <thead>
              <tr>
                <th>Agent</th>
                <th>Version</th>
                <th>Hardware</th>
                <th>Last seen</th>
              </tr>
            </thead>
            <tbody>
              {agents.data?.map((a) => (
                <tr key={a.id}>
                  <td>{a.name}</td>
                  <td className="mono">{a.version || '—'}</td>
                  <td className="mono small">
                    {[
                      a.hardware.chip,
                      a.hardware.backend,
                      a.hardware.memoryGb && `${a.hardware.memoryGb} GB`,
                    ]
                      .filter(Boolean)
                      .join(' · ') || '—'}
                  </td>
                  <td className="muted">{when(a.lastSeenAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
