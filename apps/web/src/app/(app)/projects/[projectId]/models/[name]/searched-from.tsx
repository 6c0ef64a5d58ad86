'use client';

import { searchRecordSchema } from '@anneal/protocol';
import Link from 'next/link';
import { num } from '../../../../../../ui/format.ts';

/**
 * A search winner's lineage: its teacher version, the hardware profile it was measured on and
 * its speedup there, its FD beside the teacher's on one ruler, its measured and predicted
 * cost, and its proxy after each rung of the search.
 */
export function SearchedFrom({ projectId, record }: { projectId: string; record: unknown }) {
  const parsed = searchRecordSchema.safeParse(record);
  if (!parsed.success) return null;
  const r = parsed.data;
  const e = r.full.eval;
  const { sampler, steps } = r.settings.proxy;
  const throughput = r.settings.objective === 'throughput';
  return (
    <div style={{ marginTop: 14 }} data-testid="searched-from">
      <div className="lineage">
        <span className="muted">Searched</span>
        <Link
          className="pill"
          href={`/projects/${projectId}/models/${encodeURIComponent(r.teacher.model)}`}
        >
          teacher {r.teacher.model} v{r.teacher.version}
        </Link>
        <span className="arrow">→</span>
        <span className="pill mono">{r.name}</span>
        <span className="arrow">on</span>
        <span className="pill mono" data-testid="searched-profile">
          {r.profile}
        </span>
      </div>
      <p className="muted small" style={{ marginTop: 8 }} data-testid="searched-summary">
        <strong>{r.speedup !== null ? `${r.speedup.toFixed(2)}×` : '—'}</strong> the teacher's speed
        ({throughput ? 'per image-step at the throughput batch' : 'per sampling step at batch 1'})
        on this hardware profile
        {r.measured
          ? ` (${num(r.measured.latencyMs)} ms/step at batch 1, ${num(r.measured.throughputMsPerImage)} ms/image-step at ${r.measured.throughputBatch}${r.predicted ? `; predicted ${num(r.predicted.latencyMs)} and ${num(r.predicted.throughputMsPerImage)}` : ''}; training ${num(r.measured.trainStepMs)} ms/step, peak ${(r.measured.trainPeakBytes / 2 ** 20).toFixed(0)} MiB)`
          : ''}
        {r.latency_limit_ms !== null
          ? `, limit ${num(r.latency_limit_ms)} ${throughput ? 'ms/image-step' : 'ms/step'}`
          : ''}
        .{' '}
        {e ? (
          <>
            FD <strong>{num(e.fd)}</strong>
            {r.fd_ratio !== null ? `, ${r.fd_ratio.toFixed(2)}× the teacher's` : ''}
            {r.teacher_eval ? ` ${num(r.teacher_eval.fd)}` : ''} at {sampler} {steps} steps, n ={' '}
            {e.n} (floor {num(e.floor)}).{' '}
          </>
        ) : null}
        {(r.parameters / 1e6).toFixed(2)}M parameters, trained {num(r.full.iters)} iterations; proxy
        by rung{' '}
        {r.rungs
          .map((g) => `${g.proxy === null ? '—' : g.proxy.toExponential(2)} @${g.iters}`)
          .join(', ')}
        . <Link href={`/projects/${projectId}/runs/${r.run_id}`}>Run and pool table</Link>
      </p>
    </div>
  );
}
