'use client';

import {
  DISTILL_ARTIFACTS,
  DISTILL_METHOD_LABELS,
  distillationRecordSchema,
  type EvaluationRecord,
} from '@anneal/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useParams } from 'next/navigation';
import { type FormEvent, useState } from 'react';
import { axisFor } from '../../../../../../ui/chart-scale.ts';
import { count, errorMessage, num, when } from '../../../../../../ui/format.ts';
import { LearnedSchedules } from '../../../../../../ui/schedule-plot.tsx';
import { Empty, StatusBadge, useMe } from '../../../../../../ui/shell.tsx';
import { useTRPC } from '../../../../../../ui/trpc.tsx';
import { SamplingPlans } from './sampling-plans.tsx';
import { SearchedFrom } from './searched-from.tsx';

export default function ModelPage() {
  const params = useParams<{ projectId: string; name: string }>();
  const projectId = params.projectId;
  const name = decodeURIComponent(params.name);
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { canEdit } = useMe();
  const model = useQuery(trpc.registry.get.queryOptions({ projectId, name }));
  const [alias, setAlias] = useState('production');
  const [version, setVersion] = useState('');
  const refresh = () =>
    queryClient.invalidateQueries({ queryKey: trpc.registry.get.queryKey({ projectId, name }) });
  const set = useMutation(trpc.registry.setAlias.mutationOptions({ onSuccess: refresh }));
  const remove = useMutation(trpc.registry.removeAlias.mutationOptions({ onSuccess: refresh }));

  if (model.error)
    return (
      <div className="card">
        <Empty icon="box" title="Model not found">
          <p>{errorMessage(model.error)}</p>
        </Empty>
      </div>
    );
  const m = model.data;
  if (!m) return null;
  function submit(e: FormEvent) {
    e.preventDefault();
    set.mutate({ projectId, name, alias, version: Number(version || m!.versions[0]?.version) });
  }
  return (
    <div className="stack">
      <Link href={`/projects/${projectId}/models`} className="muted small">
        ← Models
      </Link>
      <div className="card card-pad">
        <h2 style={{ marginBottom: 4 }}>{m.name}</h2>
        <div className="muted small">
          {count(m.versions.length, 'version')} · created {when(m.createdAt)}
        </div>
        {canEdit && m.versions.length > 0 && (
          <form className="row" onSubmit={submit} style={{ marginTop: 14 }}>
            <span className="muted small">Point alias</span>
            <input
              name="alias"
              value={alias}
              onChange={(e) => setAlias(e.target.value)}
              style={{ width: 150 }}
              aria-label="alias"
            />
            <span className="muted small">at</span>
            <select
              name="version"
              value={version}
              onChange={(e) => setVersion(e.target.value)}
              aria-label="version"
            >
              {m.versions.map((v) => (
                <option key={v.id} value={v.version}>
                  v{v.version}
                </option>
              ))}
            </select>
            <button className="btn btn-sm btn-primary" type="submit" disabled={set.isPending}>
              Set alias
            </button>
            {set.error && <span className="error">{errorMessage(set.error)}</span>}
          </form>
        )}
      </div>
      {m.versions.map((v) => (
        <div key={v.id} className="card card-pad" data-testid={`version-${v.version}`}>
          <div className="row" style={{ justifyContent: 'space-between' }}>
            <div className="row">
              <h3 style={{ margin: 0 }}>v{v.version}</h3>
              {v.aliases.map((a) => (
                <span key={a} className={`alias ${a}`}>
                  {a}
                  {canEdit && (
                    <button
                      type="button"
                      className="link-button"
                      style={{ color: 'inherit', marginLeft: 6 }}
                      aria-label={`remove alias ${a}`}
                      onClick={() => remove.mutate({ projectId, name, alias: a })}
                    >
                      ×
                    </button>
                  )}
                </span>
              ))}
            </div>
            <span className="muted small">{when(v.createdAt)}</span>
          </div>
          <div className="lineage" style={{ marginTop: 12 }}>
            <span className="muted">Lineage</span>
            {v.datasetVersion ? (
              <Link
                className="pill"
                href={`/projects/${projectId}/datasets/${v.datasetVersion.id}`}
              >
                {v.datasetVersion.datasetName} v{v.datasetVersion.version}
              </Link>
            ) : builtinDatasetOf(v.metadata.architecture) ? (
              <span className="pill" data-testid="lineage-builtin">
                {builtinDatasetOf(v.metadata.architecture)} (built-in)
              </span>
            ) : (
              <span className="pill faint">dataset —</span>
            )}
            <span className="arrow">→</span>
            {v.sourceRun ? (
              <Link className="pill" href={`/projects/${projectId}/runs/${v.sourceRun.id}`}>
                run {v.sourceRun.name} <StatusBadge status={v.sourceRun.status ?? 'queued'} />
              </Link>
            ) : (
              <span className="pill faint">run —</span>
            )}
            <span className="arrow">→</span>
            <span className="pill">
              {m.name} v{v.version}
              {v.artifactPath ? ` · ${v.artifactPath}` : ''}
            </span>
          </div>
          <div className="metric-tiles" style={{ marginTop: 14 }}>
            {v.metadata.sampler && (
              <div className="tile card">
                <div className="label">sampler</div>
                <div className="value" style={{ fontSize: 16 }}>
                  {v.metadata.sampler}
                </div>
              </div>
            )}
            {v.metadata.nfe !== undefined && (
              <div className="tile card">
                <div className="label">NFE</div>
                <div className="value">{v.metadata.nfe}</div>
              </div>
            )}
            {v.metadata.steps !== undefined && (
              <div className="tile card">
                <div className="label">steps</div>
                <div className="value">{v.metadata.steps}</div>
              </div>
            )}
            {Object.entries(v.metadata.quality ?? {})
              // The tiles above already show these; a train job's summary repeats them.
              .filter(([k]) => !(k in v.metadata && ['steps', 'nfe', 'sampler'].includes(k)))
              .map(([k, val]) => (
                <div key={k} className="tile card">
                  <div className="label">{k}</div>
                  <div className="value">{axisFor(k, Math.abs(val)).value(val)}</div>
                </div>
              ))}
          </div>
          {v.metadata.distillation && (
            <DistilledFrom projectId={projectId} record={v.metadata.distillation} />
          )}
          {v.metadata.search && <SearchedFrom projectId={projectId} record={v.metadata.search} />}
          {(v.metadata.evaluations?.length ?? 0) > 0 && (
            <Evaluations projectId={projectId} rows={v.metadata.evaluations ?? []} />
          )}
          <SamplingPlans
            projectId={projectId}
            curve={v.metadata.qualityCurve}
            plans={v.metadata.plans}
          />
          {v.metadata.schedules?.length ? (
            <LearnedSchedules schedules={v.metadata.schedules} />
          ) : null}
        </div>
      ))}
    </div>
  );
}

/** The built-in dataset a version was trained on, from the train spec its metadata keeps. */
function builtinDatasetOf(architecture: Record<string, unknown> | undefined): string | null {
  const dataset = (
    architecture?.config as { dataset?: { kind?: string; name?: string } } | undefined
  )?.dataset;
  return dataset?.kind === 'builtin' && typeof dataset.name === 'string' ? dataset.name : null;
}

/** Evaluate jobs' results, newest first: each metric beside its floor (real vs real at the same N). */
function Evaluations({ projectId, rows }: { projectId: string; rows: EvaluationRecord[] }) {
  return (
    <table style={{ marginTop: 14 }} data-testid="evaluations">
      <thead>
        <tr>
          <th>Evaluation</th>
          <th>FD (floor)</th>
          <th>KID (floor)</th>
          <th>Precision (floor)</th>
          <th>Recall (floor)</th>
          <th>Paired</th>
          <th>Extractor</th>
        </tr>
      </thead>
      <tbody>
        {[...rows].reverse().map((e) => (
          <tr key={e.job_id}>
            <td>
              <Link href={`/projects/${projectId}/runs/${e.run_id}`}>
                {e.sampler}, {count(e.steps, 'step')}
              </Link>
              <div className="muted small">
                {e.nfe} NFE · N = {e.n} · {when(e.at)}
              </div>
            </td>
            <td className="mono">
              {num(e.fd)}
              {e.fd_spread && (
                <span className="muted small" title="bootstrap standard deviation">
                  {' '}
                  ± {num(e.fd_spread.std)}
                </span>
              )}{' '}
              <span className="muted">({num(e.floor_fd)})</span>
              {e.per_resolution && e.per_resolution.length > 0 && (
                // A multi-resolution evaluation (issue 16 §5): FD at each resolution beside
                // the floor at that resolution; the numbers above are the first one's.
                <div className="muted small" data-testid="fd-per-resolution">
                  {e.per_resolution
                    .map(
                      (r) =>
                        `${r.width === undefined ? r.resolution : `${r.resolution}x${r.width}`} px: ${num(r.fd)} (${num(r.floor_fd)})`,
                    )
                    .join(' · ')}
                </div>
              )}
            </td>
            <td className="mono">
              {num(e.kid)} <span className="muted">({num(e.floor_kid)})</span>
            </td>
            <td className="mono">
              {num(e.precision)} <span className="muted">({num(e.floor_precision)})</span>
            </td>
            <td className="mono">
              {num(e.recall)} <span className="muted">({num(e.floor_recall)})</span>
            </td>
            <td className="mono small">
              {e.paired
                ? `vs ${e.paired.reference_sampler} ${e.paired.reference_steps}: PSNR ${e.paired.psnr === null ? '∞' : num(e.paired.psnr)} dB, SSIM ${num(e.paired.ssim)}`
                : '—'}
            </td>
            <td className="mono small">{e.extractor}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * A distilled student's lineage: its teacher version, then the run's stages (this one
 * marked), each with its steps, FD with spread and decision; and the run's trade-off chart.
 */
function DistilledFrom({ projectId, record }: { projectId: string; record: unknown }) {
  const parsed = distillationRecordSchema.safeParse(record);
  if (!parsed.success) return null;
  const d = parsed.data;
  const chart = `/api/v1/runs/${d.run_id}/artifacts/${DISTILL_ARTIFACTS.tradeoffSvg}`;
  return (
    <div style={{ marginTop: 14 }} data-testid="distilled-from">
      <div className="lineage">
        <span className="muted">Distilled</span>
        <Link
          className="pill"
          href={`/projects/${projectId}/models/${encodeURIComponent(d.teacher.model)}`}
        >
          teacher {d.teacher.model} v{d.teacher.version}
        </Link>
        {d.stages.map((s) => (
          <span key={s.stage} className="row" style={{ gap: 6 }}>
            <span className="arrow">→</span>
            <span
              className={`pill${s.stage === d.stage ? '' : ' faint'}`}
              title={s.reason ?? undefined}
            >
              stage {s.stage}: {s.steps} steps, FD {num(s.fd)} ± {num(s.fd_std)}
              {s.met_budget ? '' : ' (over budget)'}
            </span>
          </span>
        ))}
      </div>
      <p className="muted small" style={{ marginTop: 8 }}>
        {DISTILL_METHOD_LABELS[d.method]}, stage {d.stage} ({d.from_steps} → {d.steps} steps,{' '}
        {d.nfe} NFE, {d.iterations} iterations): FD {num(d.fd)} ± {num(d.fd_std)}
        {d.fd_interval ? ` [${num(d.fd_interval[0])}, ${num(d.fd_interval[1])}]` : ''},{' '}
        {num(d.fd_ratio)}× the reference {num(d.reference_fd)} at n = {d.eval_n}, budget {d.budget}
        ×. {d.reason}
        {d.kept ? ' The run kept this student.' : ''}{' '}
        <Link href={`/projects/${projectId}/runs/${d.run_id}`}>Run and stage table</Link>
      </p>
      {/* biome-ignore lint/performance/noImgElement: artifacts are served by our API, not Next's image optimizer */}
      <img
        src={chart}
        alt="FD against NFE and against latency per stage, Pareto points marked"
        style={{ maxWidth: '100%' }}
      />
    </div>
  );
}
