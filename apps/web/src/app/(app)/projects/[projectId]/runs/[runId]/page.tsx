'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import Link from 'next/link';
import { useParams } from 'next/navigation';
import { bytes, duration, errorMessage, when } from '../../../../../../ui/format.ts';
import { ParamValue } from '../../../../../../ui/param-value.tsx';
import { Empty, StatusBadge, useMe } from '../../../../../../ui/shell.tsx';
import { useTRPC } from '../../../../../../ui/trpc.tsx';
import { Distillation } from './distillation.tsx';
import { Failure } from './failure.tsx';
import { Lineage } from './lineage.tsx';
import { RunMedia } from './media.tsx';
import { RunMetrics } from './metrics.tsx';
import { Ranks } from './ranks.tsx';
import { Search } from './search.tsx';

export default function RunPage() {
  const { projectId, runId } = useParams<{ projectId: string; runId: string }>();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const run = useQuery(trpc.runs.get.queryOptions({ runId }));
  const metrics = useQuery(trpc.runs.metrics.queryOptions({ runId }));
  const logs = useQuery(trpc.runs.logs.queryOptions({ runId }));
  const { canEdit } = useMe();
  const setStatus = useMutation(
    trpc.runs.update.mutationOptions({
      onSuccess: () =>
        queryClient.invalidateQueries({ queryKey: trpc.runs.get.queryKey({ runId }) }),
    }),
  );
  const restore = useMutation(
    trpc.runs.restore.mutationOptions({
      onSuccess: () =>
        queryClient.invalidateQueries({ queryKey: trpc.runs.get.queryKey({ runId }) }),
    }),
  );
  // The server nudges on every write to this run; refetch just what changed.
  const live = useSubscription(
    trpc.runs.watch.subscriptionOptions(
      { runId },
      {
        onData: (event) => {
          const key =
            event.type === 'metrics'
              ? trpc.runs.metrics.queryKey({ runId })
              : event.type === 'logs'
                ? trpc.runs.logs.queryKey({ runId })
                : event.type === 'group'
                  ? trpc.runs.group.queryKey({ runId })
                  : trpc.runs.get.queryKey({ runId });
          void queryClient.invalidateQueries({ queryKey: key });
          // A status change may be a group's new attempt.
          if (event.type === 'status')
            void queryClient.invalidateQueries({ queryKey: trpc.runs.group.queryKey({ runId }) });
        },
      },
    ),
  );

  if (run.error)
    return (
      <div className="card">
        <Empty icon="activity" title="Run not found">
          <p>{errorMessage(run.error)}</p>
        </Empty>
      </div>
    );
  const r = run.data;
  if (!r) return null;
  const series = metrics.data ?? [];
  const artifactUrl = (path: string) =>
    `/api/v1/runs/${runId}/artifacts/${path.split('/').map(encodeURIComponent).join('/')}`;
  return (
    <div className="stack">
      <div className="row">
        <Link href={`/projects/${projectId}`} className="muted small">
          ← All runs
        </Link>
      </div>
      {r.deletedAt && (
        <div className="card card-pad row" role="status" data-testid="run-deleted">
          <span>
            This run is deleted (through MLflow) {when(r.deletedAt)}: it is hidden from the runs
            list, and its data is kept.
          </span>
          {canEdit && (
            <button
              className="btn btn-sm"
              type="button"
              disabled={restore.isPending}
              onClick={() => restore.mutate({ runId })}
            >
              Restore
            </button>
          )}
          {restore.error && <span className="error small">{errorMessage(restore.error)}</span>}
        </div>
      )}
      <div className="card card-pad">
        <div className="row" style={{ justifyContent: 'space-between' }}>
          <div className="row">
            <h2 style={{ margin: 0 }} data-testid="run-name">
              {r.name}
            </h2>
            <StatusBadge status={r.status} />
            {live.status === 'pending' && r.status === 'running' && (
              <span className="live">live</span>
            )}
          </div>
          <div className="row muted small">
            {canEdit && (r.status === 'running' || r.status === 'queued') && (
              <>
                <button
                  className="btn btn-sm"
                  type="button"
                  onClick={() => setStatus.mutate({ runId, status: 'succeeded' })}
                >
                  Mark succeeded
                </button>
                <button
                  className="btn btn-sm btn-danger"
                  type="button"
                  onClick={() => setStatus.mutate({ runId, status: 'cancelled' })}
                >
                  Cancel run
                </button>
              </>
            )}
            started {when(r.startedAt)} · {duration(r.startedAt, r.endedAt)}
            {r.parentRunId && (
              <>
                {' '}
                · parent <Link href={`/projects/${projectId}/runs/${r.parentRunId}`}>run</Link>
              </>
            )}
          </div>
        </div>
        {Object.keys(r.tags).length > 0 && (
          <div style={{ marginTop: 10 }}>
            {Object.entries(r.tags).map(([k, v]) => (
              <span key={k} className="tag">
                {k}: {v}
              </span>
            ))}
          </div>
        )}
      </div>

      <Failure runId={runId} status={r.status} logs={logs.data ?? []} />
      <RunMedia artifacts={r.artifacts} params={r.params} artifactUrl={artifactUrl} />
      <Lineage runId={runId} />
      <Ranks runId={runId} series={series} status={r.status} />
      <Search
        runId={runId}
        artifactPaths={r.artifacts.map((a) => a.path)}
        artifactUrl={artifactUrl}
      />

      <RunMetrics series={series} />

      <div className="grid grid-2">
        <div className="card card-pad">
          <h2>Params</h2>
          {Object.keys(r.params).length === 0 ? (
            <p className="muted">This run logged no params.</p>
          ) : (
            <dl className="kv">
              {Object.entries(r.params).map(([k, v]) => (
                <div key={k} style={{ display: 'contents' }}>
                  <dt>{k}</dt>
                  <dd>
                    <ParamValue
                      value={v}
                      ctx={{
                        projectId,
                        datasetLabels:
                          r.datasetVersionId && r.datasetLabel
                            ? { [r.datasetVersionId]: r.datasetLabel }
                            : {},
                      }}
                    />
                  </dd>
                </div>
              ))}
            </dl>
          )}
        </div>
        <div className="card card-pad">
          <h2>Artifacts</h2>
          {r.artifacts.length === 0 ? (
            <p className="muted">
              No artifacts. PUT bytes to /api/v1/runs/{'{runId}'}/artifacts/&lt;path&gt;.
            </p>
          ) : (
            <table>
              <tbody>
                {r.artifacts.map((a) => (
                  <tr key={a.path}>
                    <td>
                      <a href={artifactUrl(a.path)} target="_blank" rel="noreferrer">
                        {a.path}
                      </a>
                    </td>
                    <td className="num muted">{bytes(a.size)}</td>
                    <td className="mono faint" title={a.sha256}>
                      {a.sha256.slice(0, 10)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      </div>

      {r.loggedModels.length > 0 && (
        <div className="card card-pad" data-testid="logged-models">
          <h2>Logged models</h2>
          <p className="muted small">
            Logged through MLflow (<code>log_model</code>); their files are this run's artifacts
            under <code>logged-models/&lt;id&gt;/</code>.
          </p>
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Status</th>
                <th>Id</th>
                <th className="num">Files</th>
              </tr>
            </thead>
            <tbody>
              {r.loggedModels.map((m) => (
                <tr key={m.id}>
                  <td>{m.name}</td>
                  <td>{m.status}</td>
                  <td className="mono faint">{m.id}</td>
                  <td className="num">{m.artifactCount}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <Distillation artifactPaths={r.artifacts.map((a) => a.path)} artifactUrl={artifactUrl} />

      <div className="card card-pad">
        <h2>Logs</h2>
        {logs.data && logs.data.length > 0 ? (
          <pre className="logs">
            {logs.data.map((l) => (
              <div key={l.seq}>
                <span className="seq">{l.seq}</span>
                {l.line}
              </div>
            ))}
          </pre>
        ) : (
          <p className="muted">No log lines yet.</p>
        )}
      </div>
    </div>
  );
}
