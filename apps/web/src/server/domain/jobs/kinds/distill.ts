import type { Db } from '@anneal/db/client';
import { agents, modelVersions } from '@anneal/db/schema';
import {
  DISTILL_ARTIFACTS,
  DISTILL_METHOD_LABELS,
  type DistillationRecord,
  type DistillSummary,
  distillKind,
} from '@anneal/protocol';
import { and, eq, sql } from 'drizzle-orm';
import { getModelVersion, registerVersion } from '../../registry/registry.ts';
import { logMetrics } from '../../runs/metrics.ts';
import type { WebJobKind } from './kind.ts';

/** The registered model a teacher's students go to: `<teacher>-<method>`, within the name limit. */
export function studentModelName(teacherModel: string, method: string): string {
  const suffix = `-${method}`;
  return `${teacherModel.slice(0, 100 - suffix.length)}${suffix}`;
}

/**
 * A distill job's result: every stage whose student met the quality budget becomes a
 * version of `<teacher model>-<method>`, its checkpoint the stage's upload in the job's run
 * (students/stage-K/), with lineage to the teacher version and the stage's verdict in
 * `metadata.distillation`; the stages' FDs also go to the run as metrics (step = stage).
 * A replayed `job_complete` registers nothing twice (one version per run and stage).
 */
export async function recordDistillation(
  db: Db,
  orgId: string,
  agentId: string,
  job: { id: string; spec: unknown },
  runId: string,
  summary: Record<string, unknown>,
): Promise<string | null> {
  const spec = distillKind.spec.safeParse(job.spec);
  const parsed = distillKind.result.safeParse(summary);
  if (!spec.success || !parsed.success)
    return `the distill summary is not valid: ${(parsed.error ?? spec.error)?.issues[0]?.message}`;
  const s: DistillSummary = parsed.data;
  const teacher = await getModelVersion(db, orgId, spec.data.teacher).catch(() => null);
  if (!teacher) return `the teacher version ${spec.data.teacher} no longer exists`;
  const [teacherRow] = await db
    .select({ datasetVersionId: modelVersions.datasetVersionId })
    .from(modelVersions)
    .where(eq(modelVersions.id, teacher.id));
  const [agent] = await db
    .select({ hardware: agents.hardware })
    .from(agents)
    .where(eq(agents.id, agentId));
  const points = s.stages.flatMap((st) =>
    ['fd', 'fd_std'].flatMap((key) => {
      const value = st[key as 'fd' | 'fd_std'];
      return typeof value === 'number' && Number.isFinite(value)
        ? [{ key: `distill_${key}`, step: st.stage, value }]
        : [];
    }),
  );
  await logMetrics(db, orgId, runId, points);
  const table = s.stages.map((st) => ({
    stage: st.stage,
    steps: st.steps,
    fd: st.fd,
    fd_std: st.fd_std,
    decision: st.decision,
    met_budget: st.met_budget,
    reason: st.reason,
  }));
  const name = studentModelName(teacher.modelName, s.method);
  for (const st of s.stages) {
    // The evaluation that carries the stage: the fewest steps within budget (a consistency
    // stage measures 2 steps, then 1; its config samples with the one kept).
    const verdict = [...st.evals].reverse().find((e) => e.met_budget);
    if (!verdict) continue;
    const [already] = await db
      .select({ id: modelVersions.id })
      .from(modelVersions)
      .where(
        and(
          eq(modelVersions.sourceRunId, runId),
          sql`(${modelVersions.metadata}->'distillation'->>'stage')::int = ${st.stage}`,
        ),
      );
    if (already) continue;
    const isLast = verdict === st.evals.at(-1);
    const record: DistillationRecord = {
      teacher: {
        version_id: teacher.id,
        model: teacher.modelName,
        version: teacher.version,
        weights_sha256: s.teacher_sha256,
      },
      job_id: job.id,
      run_id: runId,
      method: s.method,
      stage: st.stage,
      from_steps: st.from_steps,
      steps: verdict.steps,
      nfe: verdict.nfe,
      budget: s.budget,
      decision: verdict.decision,
      reason: verdict.reason,
      fd: verdict.fd,
      fd_std: verdict.fd_std,
      fd_interval: isLast ? st.fd_interval : null,
      fd_ratio: verdict.fd_ratio,
      reference_fd: s.reference.fd,
      eval_n: s.eval_n,
      iterations: st.iterations,
      kept: s.kept?.stage === st.stage,
      stages: table,
    };
    const quality: Record<string, number> = {};
    for (const [k, v] of Object.entries({
      fd: verdict.fd,
      fd_std: verdict.fd_std,
      fd_ratio: verdict.fd_ratio,
      latency_ms_per_image: verdict.latency_ms_per_image,
    }))
      if (typeof v === 'number' && Number.isFinite(v)) quality[k] = v;
    await registerVersion(
      db,
      orgId,
      teacher.projectId,
      name,
      {
        sourceRunId: runId,
        datasetVersionId: teacherRow?.datasetVersionId ?? undefined,
        artifactPath: `${DISTILL_ARTIFACTS.stage(st.stage)}model.safetensors`,
        description: `${DISTILL_METHOD_LABELS[s.method]} of ${teacher.modelName} v${teacher.version}, stage ${st.stage} (${verdict.name}), by job ${job.id}`,
        metadata: {
          architecture: teacher.metadata.architecture,
          steps: verdict.steps,
          nfe: verdict.nfe,
          sampler: s.method === 'progressive' ? 'ddim' : 'consistency',
          distillationStages: s.stages
            .filter((x) => x.stage <= st.stage)
            .map((x) => `${x.from_steps} -> ${x.steps}`),
          quality,
          hardware: agent?.hardware ?? undefined,
        },
        aliases: [],
      },
      { distillation: record },
    );
  }
  return null;
}

export const distillWebKind: WebJobKind = {
  complete: (db, { orgId, agentId, job, runId, summary }) =>
    recordDistillation(db, orgId, agentId, job, runId, summary),
};
