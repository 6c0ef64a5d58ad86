'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useParams, useRouter } from 'next/navigation';
import { useEffect, useMemo, useState } from 'react';
import { ApiExample } from '../../../../ui/api-example.tsx';
import { axisFor } from '../../../../ui/chart-scale.ts';
import { count, duration, when } from '../../../../ui/format.ts';
import { ParamValue } from '../../../../ui/param-value.tsx';
import {
  defaultColumns,
  metricKeysOf,
  paramKeysOf,
  parseSavedColumns,
} from '../../../../ui/run-columns.ts';
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
  const [kind, setKind] = useState('');
  // The user's column choice, kept per project in this browser; null until they pick.
  const storageKey = `anneal.runs.columns.${projectId}`;
  const [picked, setPicked] = useState<{ metrics: string[]; params: string[] } | null>(null);
  useEffect(() => {
    // A malformed entry is ignored: the defaults apply.
    setPicked(parseSavedColumns(window.localStorage.getItem(storageKey)));
  }, [storageKey]);
  function pick(next: { metrics: string[]; params: string[] } | null) {
    setPicked(next);
    if (next) window.localStorage.setItem(storageKey, JSON.stringify(next));
    else window.localStorage.removeItem(storageKey);
  }
  const all = runs.data ?? [];
  const kinds = useMemo(() => [...new Set(all.map((r) => r.kind ?? 'logged'))].sort(), [all]);
  const rows = useMemo(
    () => (kind ? all.filter((r) => (r.kind ?? 'logged') === kind) : all),
    [all, kind],
  );
  const allMetricKeys = useMemo(() => metricKeysOf(all), [all]);
  const allParamKeys = useMemo(() => paramKeysOf(all), [all]);
  const defaults = useMemo(() => defaultColumns(rows), [rows]);
  const metricKeys = picked?.metrics ?? defaults.metrics;
  const paramKeys = picked?.params ?? defaults.params;
  const datasetLabels = useMemo(
    () =>
      Object.fromEntries(
        all.flatMap((r) =>
          r.datasetVersionId && r.datasetLabel ? [[r.datasetVersionId, r.datasetLabel]] : [],
        ),
      ),
    [all],
  );
  const paramCtx = { projectId, datasetLabels };
  function toggleColumn(group: 'metrics' | 'params', key: string) {
    const current = { metrics: metricKeys, params: paramKeys };
    const list = current[group];
    const next = list.includes(key) ? list.filter((k) => k !== key) : [...list, key];
    pick({ ...current, [group]: next });
  }

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

  if (all.length === 0 && runs.data && !status && !search)
    return (
      <div className="card">
        <Empty icon="activity" title="No runs yet">
          <p>
            Train a model from this project: open <b>Jobs</b>, press <b>New job</b>, pick a dataset
            (MNIST, shapes or one you uploaded) and queue it. A connected agent runs it, and its run
            appears here with live loss curves and samples.
          </p>
          <p className="row" style={{ justifyContent: 'center' }}>
            <Link className="btn btn-primary" href={`/projects/${projectId}/jobs`}>
              Go to Jobs
            </Link>
            <Link className="btn" href="/agents">
              Agents
            </Link>
          </p>
          <p className="muted small">
            From a terminal:{' '}
            <code>npx anneal submit train --project {'<name>'} --dataset mnist --steps 500</code>.
            From your own training script, log runs over the REST API with an API token:
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
        {kinds.length > 1 && (
          <select value={kind} onChange={(e) => setKind(e.target.value)} aria-label="Kind filter">
            <option value="">All kinds</option>
            {kinds.map((k) => (
              <option key={k} value={k}>
                {k === 'logged' ? 'logged by scripts' : k}
              </option>
            ))}
          </select>
        )}
        <span className="muted small" data-testid="run-count">
          {count(rows.length, 'run')}
        </span>
        <details className="column-picker">
          <summary className="btn btn-sm">Columns</summary>
          <div className="column-picker-menu card">
            <fieldset>
              <legend>Metrics</legend>
              {allMetricKeys.map((k) => (
                <label key={k}>
                  <input
                    type="checkbox"
                    checked={metricKeys.includes(k)}
                    onChange={() => toggleColumn('metrics', k)}
                  />{' '}
                  {k}
                </label>
              ))}
            </fieldset>
            <fieldset>
              <legend>Params</legend>
              {allParamKeys.map((k) => (
                <label key={k}>
                  <input
                    type="checkbox"
                    checked={paramKeys.includes(k)}
                    onChange={() => toggleColumn('params', k)}
                  />{' '}
                  {k}
                </label>
              ))}
            </fieldset>
            {picked && (
              <button className="btn btn-sm" type="button" onClick={() => pick(null)}>
                Reset to defaults
              </button>
            )}
          </div>
        </details>
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
                  {r.kind && r.kind !== 'train' && (
                    <span className="tag" style={{ marginLeft: 8 }}>
                      {r.kind}
                    </span>
                  )}
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
                    {k in r.params ? <ParamValue value={r.params[k]} ctx={paramCtx} /> : '—'}
                  </td>
                ))}
                {metricKeys.map((k) => {
                  const v = r.latest[k];
                  return (
                    <td key={k} className="num mono">
                      {v === undefined ? '—' : axisFor(k, Math.abs(v)).value(v)}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && (
          <div className="empty muted">
            No runs match these filters.{' '}
            <button
              className="btn btn-sm"
              type="button"
              onClick={() => {
                setStatus('');
                setSearch('');
                setKind('');
              }}
            >
              Show all runs
            </button>
          </div>
        )}
      </div>
    </div>
  );
}
