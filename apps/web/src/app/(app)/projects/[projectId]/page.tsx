'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useParams, useRouter } from 'next/navigation';
import { useMemo, useState } from 'react';
import { ApiExample } from '../../../../ui/api-example.tsx';
import { duration, num, when } from '../../../../ui/format.ts';
import { Empty, StatusBadge } from '../../../../ui/shell.tsx';
import { useTRPC } from '../../../../ui/trpc.tsx';

type SortKey =
  | { kind: 'name' | 'status' | 'startedAt' }
  | { kind: 'metric' | 'param'; key: string };

const STATUSES = ['running', 'succeeded', 'failed', 'queued', 'cancelled'] as const;

export default function RunsPage() {
  const { projectId } = useParams<{ projectId: string }>();
  const router = useRouter();
  const trpc = useTRPC();
  const [status, setStatus] = useState<(typeof STATUSES)[number] | ''>('');
  const [search, setSearch] = useState('');
  const [sort, setSort] = useState<{ by: SortKey; desc: boolean }>({
    by: { kind: 'startedAt' },
    desc: true,
  });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const runs = useQuery({
    ...trpc.runs.list.queryOptions({
      projectId,
      status: status || undefined,
      search: search || undefined,
    }),
    refetchInterval: 5000,
  });
  const rows = runs.data ?? [];
  const metricKeys = useMemo(
    () => [...new Set(rows.flatMap((r) => Object.keys(r.latest)))].sort().slice(0, 5),
    [rows],
  );
  // Params worth a column: those that differ between runs.
  const paramKeys = useMemo(() => {
    const keys = [...new Set(rows.flatMap((r) => Object.keys(r.params)))];
    return keys
      .filter((k) => new Set(rows.map((r) => JSON.stringify(r.params[k]))).size > 1)
      .sort()
      .slice(0, 4);
  }, [rows]);

  const sorted = useMemo(() => {
    const value = (r: (typeof rows)[number]): string | number => {
      const by = sort.by;
      if (by.kind === 'metric') return r.latest[by.key] ?? Number.NEGATIVE_INFINITY;
      if (by.kind === 'param') {
        const v = r.params[by.key];
        return typeof v === 'number' ? v : String(v ?? '');
      }
      if (by.kind === 'startedAt') return new Date(r.startedAt).getTime();
      return r[by.kind];
    };
    return [...rows].sort((a, b) => {
      const [x, y] = [value(a), value(b)];
      const c = x < y ? -1 : x > y ? 1 : 0;
      return sort.desc ? -c : c;
    });
  }, [rows, sort]);

  function header(label: string, by: SortKey, className = '') {
    const active = JSON.stringify(by) === JSON.stringify(sort.by);
    return (
      <th
        className={`sortable ${className}`}
        onClick={() => setSort({ by, desc: active ? !sort.desc : true })}
      >
        {label} {active ? (sort.desc ? '↓' : '↑') : ''}
      </th>
    );
  }
  function toggle(id: string) {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  }

  if (runs.data && runs.data.length === 0 && !status && !search)
    return (
      <div className="card">
        <Empty icon="activity" title="No runs yet">
          <p>
            Runs appear here as soon as an agent, the CLI or a script logs one. With an API token:
          </p>
          <ApiExample projectId={projectId} />
        </Empty>
      </div>
    );

  return (
    <div className="card">
      <div className="toolbar">
        <input
          placeholder="Search runs"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          style={{ width: 220 }}
          aria-label="Search runs"
        />
        <select
          value={status}
          onChange={(e) => setStatus(e.target.value as typeof status)}
          aria-label="Status filter"
        >
          <option value="">All statuses</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <span className="muted small">{rows.length} runs</span>
        <span className="spacer" />
        {selected.size > 0 && (
          <button className="btn btn-sm" type="button" onClick={() => setSelected(new Set())}>
            Clear selection
          </button>
        )}
        <button
          className="btn btn-primary btn-sm"
          type="button"
          disabled={selected.size < 2}
          onClick={() =>
            router.push(`/projects/${projectId}/compare?runs=${[...selected].join(',')}`)
          }
        >
          Compare {selected.size > 0 ? `(${selected.size})` : ''}
        </button>
      </div>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th style={{ width: 36 }} />
              {header('Run', { kind: 'name' })}
              {header('Status', { kind: 'status' })}
              {header('Started', { kind: 'startedAt' })}
              <th>Duration</th>
              {paramKeys.map((k) => header(k, { kind: 'param', key: k }, 'num'))}
              {metricKeys.map((k) => header(k, { kind: 'metric', key: k }, 'num'))}
            </tr>
          </thead>
          <tbody>
            {sorted.map((r) => (
              <tr key={r.id}>
                <td>
                  <input
                    type="checkbox"
                    checked={selected.has(r.id)}
                    onChange={() => toggle(r.id)}
                    aria-label={`select ${r.name}`}
                  />
                </td>
                <td>
                  <Link href={`/projects/${projectId}/runs/${r.id}`}>{r.name}</Link>
                  {r.parentRunId && (
                    <span className="tag" style={{ marginLeft: 8 }}>
                      child
                    </span>
                  )}
                </td>
                <td>
                  <StatusBadge status={r.status} />
                </td>
                <td className="muted">{when(r.startedAt)}</td>
                <td className="muted">{duration(r.startedAt, r.endedAt)}</td>
                {paramKeys.map((k) => (
                  <td key={k} className="num mono">
                    {num(r.params[k])}
                  </td>
                ))}
                {metricKeys.map((k) => (
                  <td key={k} className="num mono">
                    {num(r.latest[k])}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && <div className="empty muted">No runs match these filters.</div>}
      </div>
    </div>
  );
}
