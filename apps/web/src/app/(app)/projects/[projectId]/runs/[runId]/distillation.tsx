'use client';

import {
  DISTILL_ARTIFACTS,
  type DistillTradeoff,
  distillLatencyNote,
  distillTradeoffSchema,
} from '@anneal/protocol';
import { useQuery } from '@tanstack/react-query';
import { num } from '../../../../../../ui/format.ts';

/**
 * A distill job's run: the stage table (from the uploaded tradeoff.json) and the trade-off
 * chart the command drew (tradeoff.svg: FD vs NFE and vs latency, Pareto points marked).
 */
export function Distillation({
  artifactPaths,
  artifactUrl,
}: {
  artifactPaths: string[];
  artifactUrl: (path: string) => string;
}) {
  const has = artifactPaths.includes(DISTILL_ARTIFACTS.tradeoffJson);
  const tradeoff = useQuery({
    queryKey: ['distill-tradeoff', artifactUrl(DISTILL_ARTIFACTS.tradeoffJson)],
    enabled: has,
    queryFn: async (): Promise<DistillTradeoff> => {
      const res = await fetch(artifactUrl(DISTILL_ARTIFACTS.tradeoffJson));
      if (!res.ok) throw new Error(`tradeoff.json: HTTP ${res.status}`);
      const parsed = distillTradeoffSchema.safeParse(await res.json());
      if (!parsed.success)
        throw new Error(
          `tradeoff.json is not what anneal distill writes: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`,
        );
      return parsed.data;
    },
  });
  if (!has) return null;
  const t = tradeoff.data;
  return (
    <div className="card card-pad" data-testid="distillation">
      <h2>Distillation</h2>
      {tradeoff.error && <p className="error">{(tradeoff.error as Error).message}</p>}
      {t && (
        <>
          <p className="muted small">
            Budget: FD ≤ {t.budget}× the reference FD {num(t.reference_fd)} (n = {t.n}
            {t.floor_fd !== null ? `; real-vs-real floor ${num(t.floor_fd)}` : ''}). Pareto: no
            other row has both fewer NFE (or lower latency) and a lower FD.
          </p>
          <table>
            <thead>
              <tr>
                <th>Stage</th>
                <th>NFE</th>
                <th>FD ± std</th>
                <th>× ref</th>
                <th title="The teacher sampled with each baseline sampler at this NFE, same ruler and noise: the lowest FD">
                  Teacher's best at this NFE
                </th>
                <th>KID</th>
                <th>Precision / recall</th>
                <th>Paired PSNR / SSIM</th>
                <th>ms / image</th>
                <th>Decision</th>
              </tr>
            </thead>
            <tbody>
              {t.rows.map((r) => (
                <tr key={r.name}>
                  <td>
                    {r.name}
                    {(r.pareto_nfe || r.pareto_latency) && (
                      <span className="muted small">
                        {' '}
                        · Pareto{r.pareto_nfe ? ' (NFE)' : ''}
                        {r.pareto_latency ? ' (latency)' : ''}
                      </span>
                    )}
                  </td>
                  <td className="mono">{r.nfe}</td>
                  <td className="mono">
                    {num(r.fd)} ± {num(r.fd_std)}
                  </td>
                  <td className="mono">{num(r.fd_ratio)}</td>
                  <td className="mono">
                    {r.teacher_best
                      ? `${r.teacher_best.sampler}${r.teacher_best.steps === r.nfe ? '' : ` (${r.teacher_best.steps} steps)`} ${num(r.teacher_best.fd)} ± ${num(r.teacher_best.fd_std)}${
                          r.fd !== null && r.teacher_best.fd !== null
                            ? r.fd < r.teacher_best.fd
                              ? ' (beaten)'
                              : ' (not beaten)'
                            : ''
                        }`
                      : '—'}
                  </td>
                  <td className="mono">{num(r.kid)}</td>
                  <td className="mono">
                    {num(r.precision)} / {num(r.recall)}
                  </td>
                  <td className="mono">
                    {r.paired ? `${num(r.paired.psnr)} dB / ${num(r.paired.ssim)}` : '—'}
                  </td>
                  <td className="mono">{num(r.latency_ms_per_image)}</td>
                  <td>{r.decision}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="muted small">{distillLatencyNote(t.latency)}</p>
        </>
      )}
      {artifactPaths.includes(DISTILL_ARTIFACTS.tradeoffSvg) && (
        // biome-ignore lint/performance/noImgElement: artifacts are served by our API, not Next's image optimizer
        <img
          src={artifactUrl(DISTILL_ARTIFACTS.tradeoffSvg)}
          alt="FD against NFE and against latency per stage, Pareto points marked"
          style={{ maxWidth: '100%', marginTop: 14 }}
        />
      )}
    </div>
  );
}
