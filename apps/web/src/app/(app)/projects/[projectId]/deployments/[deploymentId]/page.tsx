'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useParams, useRouter } from 'next/navigation';
import { type FormEvent, useState } from 'react';
import { errorMessage, when } from '../../../../../../ui/format.ts';
import { StatusBadge, useMe } from '../../../../../../ui/shell.tsx';
import { useTRPC } from '../../../../../../ui/trpc.tsx';

const ms = (v: number | null | undefined) =>
  v === null || v === undefined
    ? '–'
    : v < 1000
      ? `${v.toFixed(0)} ms`
      : `${(v / 1000).toFixed(2)} s`;
const rate = (v: number | null | undefined, unit: string) =>
  v === null || v === undefined ? '–' : `${v.toFixed(2)} ${unit}/s`;

/** The "try it" form: generates through the same path as the REST API and shows the images. */
function TryIt({ deploymentId }: { deploymentId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [form, setForm] = useState({ n: '4', class: '', seed: '', steps: '' });
  const generate = useMutation(
    trpc.deployments.generate.mutationOptions({
      onSettled: () => queryClient.invalidateQueries({ queryKey: trpc.deployments.pathKey() }),
    }),
  );
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm({ ...form, [k]: e.target.value });
  function submit(e: FormEvent) {
    e.preventDefault();
    generate.mutate({
      deploymentId,
      params: {
        n: Number(form.n),
        ...(form.class ? { class: Number(form.class) } : {}),
        ...(form.seed ? { seed: Number(form.seed) } : {}),
        ...(form.steps ? { steps: Number(form.steps) } : {}),
      },
    });
  }
  const r = generate.data;
  return (
    <div className="card card-pad stack">
      <h2>Try it</h2>
      <form className="row" onSubmit={submit}>
        <label className="field">
          Images
          <input name="n" type="number" min={1} max={64} value={form.n} onChange={set('n')} />
        </label>
        <label className="field">
          Class
          <input
            name="class"
            type="number"
            min={0}
            value={form.class}
            onChange={set('class')}
            placeholder="cycle"
          />
        </label>
        <label className="field">
          Seed
          <input
            name="seed"
            type="number"
            min={0}
            value={form.seed}
            onChange={set('seed')}
            placeholder="random"
          />
        </label>
        <label className="field">
          Steps
          <input
            name="steps"
            type="number"
            min={1}
            value={form.steps}
            onChange={set('steps')}
            placeholder="served"
          />
        </label>
        <button className="btn btn-primary" type="submit" disabled={generate.isPending}>
          {generate.isPending ? 'Generating…' : 'Generate'}
        </button>
      </form>
      {generate.error && <div className="error">{errorMessage(generate.error)}</div>}
      {r && (
        <>
          <div className="stats" data-testid="generated">
            <span>
              seed <b>{r.seed}</b>
            </span>
            <span>
              <b>{r.sampler}</b>, {r.steps} steps, {r.nfe} NFE
            </span>
            <span>
              latency <b>{ms(r.latencyMs)}</b> (queued {ms(r.queueMs)}, generating{' '}
              {ms(r.generateMs)})
            </span>
            <span className="mono">replica {r.replicaId.slice(0, 8)}</span>
          </div>
          <div className="thumbs">
            {r.images.map((im) => (
              <div className="thumb" key={`${r.requestId}-${im.index}`}>
                {/* biome-ignore lint/performance/noImgElement: generated PNGs from our own API */}
                <img src={im.url} alt={`generated sample ${im.index}`} />
                <div className="mono">
                  #{im.index} {im.sha256.slice(0, 10)}
                </div>
              </div>
            ))}
          </div>
        </>
      )}
    </div>
  );
}

const metric = (m: Record<string, number>, key: string, digits = 3) =>
  m[key] === undefined ? '–' : m[key].toFixed(digits);

/** Quality probes: the deployment's served version and sampling, scored beside the floors. */
function Probes({ deploymentId, canProbe }: { deploymentId: string; canProbe: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const probes = useQuery({
    ...trpc.deployments.probes.queryOptions({ deploymentId }),
    refetchInterval: 3000,
  });
  const probe = useMutation(
    trpc.deployments.probe.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.deployments.pathKey() }),
    }),
  );
  return (
    <div className="card" data-testid="probes">
      <div className="card-head row">
        <h2>Quality probes</h2>
        <span className="muted small">
          an evaluate job of the served version and sampling; each number beside its real-vs-real
          floor
        </span>
        <span className="spacer" />
        {canProbe && (
          <button
            className="btn btn-sm"
            type="button"
            disabled={probe.isPending}
            onClick={() => probe.mutate({ deploymentId })}
          >
            Probe now
          </button>
        )}
      </div>
      {probe.error && <div className="error">{errorMessage(probe.error)}</div>}
      <table>
        <thead>
          <tr>
            <th>When</th>
            <th>Trigger</th>
            <th>Status</th>
            <th className="num">FD (floor)</th>
            <th className="num">KID (floor)</th>
            <th className="num">Precision</th>
            <th className="num">Recall</th>
            <th className="num">Class accuracy</th>
            <th>Error</th>
          </tr>
        </thead>
        <tbody>
          {probes.data?.map((p) => (
            <tr key={p.id}>
              <td className="muted">{when(p.createdAt)}</td>
              <td>{p.trigger}</td>
              <td>
                <StatusBadge status={p.status} />
              </td>
              <td className="num">
                {metric(p.metrics, 'fd')} ({metric(p.metrics, 'floor_fd')})
              </td>
              <td className="num">
                {metric(p.metrics, 'kid', 4)} ({metric(p.metrics, 'floor_kid', 4)})
              </td>
              <td className="num">{metric(p.metrics, 'precision')}</td>
              <td className="num">{metric(p.metrics, 'recall')}</td>
              <td className="num">{metric(p.metrics, 'accuracy')}</td>
              <td className="wrap muted">{p.error ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Alerts raised by the probes: the evidence, what to do, acknowledge and resolve. */
/** The baseline probe's samples beside the breaching probe's, when their grids exist. */
function EvidenceGrids({ baseline, probe }: { baseline: string | null; probe: string | null }) {
  if (!baseline && !probe) return null;
  return (
    <div className="evidence-grids">
      {[
        ['baseline', baseline],
        ['this probe', probe],
      ].map(([label, url]) =>
        url ? (
          <figure key={label}>
            {/* biome-ignore lint/performance/noImgElement: a run artifact, not a static asset */}
            <img src={url} alt={`samples scored by the ${label}`} />
            <figcaption className="muted small">{label}</figcaption>
          </figure>
        ) : null,
      )}
    </div>
  );
}

/** Suggestions a pipeline can carry out (more steps changes the sampling: a redeploy). */
const PIPELINE_ACTIONS = new Set(['rollback', 'retrain']);

function Alerts({
  projectId,
  deploymentId,
  followsAlias,
  canEdit,
}: {
  projectId: string;
  deploymentId: string;
  followsAlias: boolean;
  canEdit: boolean;
}) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const runSuggestion = useMutation(
    trpc.pipelines.fromAlert.mutationOptions({
      onSuccess: (run) => router.push(`/projects/${projectId}/pipelines/runs/${run.id}`),
    }),
  );
  const list = useQuery({
    ...trpc.deployments.alerts.queryOptions({ deploymentId }),
    refetchInterval: 3000,
  });
  // The probes' sample grids, shown side by side in each alert's evidence.
  const probes = useQuery(trpc.deployments.probes.queryOptions({ deploymentId }));
  const gridOf = (probeId: string | undefined) =>
    probes.data?.find((p) => p.id === probeId)?.gridUrl ?? null;
  const set = useMutation(
    trpc.deployments.setAlertStatus.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.deployments.pathKey() }),
    }),
  );
  if (!list.data?.length) return null;
  return (
    <div className="card" data-testid="alerts">
      <div className="card-head">
        <h2>Alerts</h2>
      </div>
      <table>
        <thead>
          <tr>
            <th>Raised</th>
            <th>Severity</th>
            <th>Status</th>
            <th>What</th>
            <th>Evidence</th>
            <th>Suggestion</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.data.map((a) => {
            const e = a.evidence as {
              value?: number;
              floor?: number | null;
              probeId?: string;
              baseline?: { value: number; probeId?: string };
              window?: { mean: number; std: number; z: number };
            };
            return (
              <tr key={a.id}>
                <td className="muted">{when(a.createdAt)}</td>
                <td>
                  <span className={`badge ${a.severity === 'critical' ? 'failed' : 'running'}`}>
                    {a.severity}
                  </span>
                </td>
                <td>
                  <StatusBadge status={a.status} />
                </td>
                <td className="wrap">{a.message}</td>
                <td className="wrap mono small">
                  {e.value?.toPrecision(3)}
                  {e.floor !== undefined &&
                    e.floor !== null &&
                    ` (floor ${e.floor.toPrecision(3)})`}
                  {e.baseline && ` vs baseline ${e.baseline.value.toPrecision(3)}`}
                  {e.window &&
                    ` vs window ${e.window.mean.toPrecision(3)} ± ${e.window.std.toPrecision(2)}`}
                  <EvidenceGrids
                    baseline={e.baseline ? gridOf(e.baseline.probeId) : null}
                    probe={gridOf(e.probeId)}
                  />
                </td>
                <td className="wrap">{(a.suggestion as { text?: string } | null)?.text ?? ''}</td>
                <td>
                  {canEdit &&
                    followsAlias &&
                    a.status !== 'resolved' &&
                    PIPELINE_ACTIONS.has(
                      (a.suggestion as { action?: string } | null)?.action ?? '',
                    ) && (
                      <button
                        className="btn btn-sm btn-primary"
                        type="button"
                        disabled={runSuggestion.isPending}
                        title="Score the candidate with the served sampling, then move the alias only if its FD is within the rule's threshold"
                        onClick={() => runSuggestion.mutate({ alertId: a.id })}
                      >
                        Run as pipeline
                      </button>
                    )}{' '}
                  {canEdit && a.status === 'open' && (
                    <button
                      className="btn btn-sm"
                      type="button"
                      onClick={() => set.mutate({ alertId: a.id, status: 'acknowledged' })}
                    >
                      Acknowledge
                    </button>
                  )}{' '}
                  {canEdit && a.status !== 'resolved' && (
                    <button
                      className="btn btn-sm"
                      type="button"
                      onClick={() => set.mutate({ alertId: a.id, status: 'resolved' })}
                    >
                      Resolve
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {set.error && <div className="error">{errorMessage(set.error)}</div>}
      {runSuggestion.error && <div className="error">{errorMessage(runSuggestion.error)}</div>}
    </div>
  );
}

export default function DeploymentPage() {
  const { projectId, deploymentId } = useParams<{ projectId: string; deploymentId: string }>();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { canEdit } = useMe();
  const d = useQuery({
    ...trpc.deployments.get.queryOptions({ deploymentId }),
    refetchInterval: 2000,
  });
  const requests = useQuery({
    ...trpc.deployments.requests.queryOptions({ deploymentId, limit: 20 }),
    refetchInterval: 2000,
  });
  const stop = useMutation(
    trpc.deployments.stop.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.deployments.pathKey() }),
    }),
  );
  if (d.error) return <div className="card card-pad error">{errorMessage(d.error)}</div>;
  const dep = d.data;
  if (!dep) return <div className="muted">Loading…</div>;
  const live = dep.status === 'pending' || dep.status === 'serving';
  return (
    <div className="stack">
      <div className="crumbs">
        <Link href={`/projects/${projectId}/deployments`}>Deployments</Link> <span>/</span>
      </div>
      <div className="card card-pad">
        <div className="row">
          <h2 style={{ margin: 0 }}>{dep.name}</h2>
          <StatusBadge status={dep.status} />
          <span className="spacer" />
          {canEdit && live && (
            <button
              className="btn btn-danger btn-sm"
              type="button"
              disabled={stop.isPending}
              onClick={() => stop.mutate({ deploymentId })}
            >
              Stop
            </button>
          )}
        </div>
        <div className="stats">
          <span>
            model{' '}
            <Link href={`/projects/${projectId}/models/${encodeURIComponent(dep.model)}`}>
              <b>{dep.model}</b>
            </Link>{' '}
            v{dep.version} {dep.alias && <span className={`alias ${dep.alias}`}>{dep.alias}</span>}
          </span>
          <span>
            replicas <b>{dep.replicas}</b>
          </span>
          <span>
            queue limit <b>{dep.queueLimit}</b>
          </span>
          <span>
            sampling <b className="mono">{JSON.stringify(dep.sampling)}</b>
          </span>
          {dep.detail && <span data-testid="deployment-detail">{dep.detail}</span>}
        </div>
        {stop.error && <div className="error">{errorMessage(stop.error)}</div>}
      </div>
      <div className="metric-tiles" data-testid="latency">
        {(
          [
            ['p50 latency', ms(dep.stats.latencyMs.p50)],
            ['p95 latency', ms(dep.stats.latencyMs.p95)],
            ['p99 latency', ms(dep.stats.latencyMs.p99)],
            ['throughput', rate(dep.stats.imagesPerS, 'img')],
            ['requests', String(dep.stats.succeeded)],
            ['errors', String(dep.stats.failed)],
            ['refused (429)', String(dep.stats.rejected)],
          ] as const
        ).map(([label, value]) => (
          <div className="card tile" key={label}>
            <div className="label">{label}</div>
            <div className="value">{value}</div>
          </div>
        ))}
      </div>
      <div className="muted small">
        Over the last hour; latency is the server's, from arrival to the images stored.
      </div>
      <div className="card">
        <div className="card-head">
          <h2>Replicas</h2>
        </div>
        <table>
          <thead>
            <tr>
              <th>Replica</th>
              <th>Agent</th>
              <th>Version</th>
              <th>Status</th>
              <th className="num">Load</th>
              <th>Started</th>
              <th>Detail</th>
            </tr>
          </thead>
          <tbody>
            {dep.replicaList.map((r) => (
              <tr key={r.id}>
                <td className="mono">{r.id.slice(0, 8)}</td>
                <td>{r.agentName ?? '–'}</td>
                <td>v{r.version}</td>
                <td>
                  <StatusBadge status={r.status} />
                </td>
                <td className="num">{ms(r.loadMs)}</td>
                <td className="muted">{when(r.createdAt)}</td>
                <td className="wrap muted">{r.detail ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {canEdit && live && <TryIt deploymentId={deploymentId} />}
      <Alerts
        projectId={projectId}
        deploymentId={deploymentId}
        followsAlias={dep.alias !== null}
        canEdit={canEdit}
      />
      <Probes deploymentId={deploymentId} canProbe={canEdit && live} />
      <div className="card">
        <div className="card-head">
          <h2>Recent requests</h2>
        </div>
        <table>
          <thead>
            <tr>
              <th>When</th>
              <th>Outcome</th>
              <th>Version</th>
              <th className="num">Images</th>
              <th className="num">Latency</th>
              <th className="num">Queued</th>
              <th className="num">NFE</th>
              <th>Error</th>
            </tr>
          </thead>
          <tbody>
            {requests.data?.map((r) => (
              <tr key={r.id}>
                <td className="muted">{when(r.createdAt)}</td>
                <td>
                  <StatusBadge status={r.status} />
                </td>
                <td>{r.version ? `v${r.version}` : '–'}</td>
                <td className="num">{r.images.length || (r.params.n as number)}</td>
                <td className="num">{ms(r.latencyMs)}</td>
                <td className="num">{ms(r.queueMs)}</td>
                <td className="num">{r.nfe ?? '–'}</td>
                <td className="wrap muted">{r.error ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
