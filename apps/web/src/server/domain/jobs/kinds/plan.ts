import type { Db } from '@anneal/db/client';
import { modelVersions } from '@anneal/db/schema';
import { planKind, planRecordSchema, planSummarySchema } from '@anneal/protocol';
import { desc, eq } from 'drizzle-orm';
import { setPlan } from '../../registry/registry.ts';
import { logMetrics } from '../../runs/metrics.ts';
import type { WebJobKind } from './kind.ts';

/**
 * A plan job's result: on the model version it planned for (the one named, or the one
 * registered from the run named), the plan under the agent's hardware profile (replacing
 * that profile's earlier plan) and the quality curve it was chosen from; and the predicted
 * and measured numbers as metrics of its own run. Returns why the summary was refused, or null.
 */
export async function recordPlan(
  db: Db,
  orgId: string,
  job: { id: string; spec: unknown },
  runId: string,
  summary: Record<string, unknown>,
): Promise<string | null> {
  const spec = planKind.spec.safeParse(job.spec);
  const parsed = planSummarySchema.safeParse(summary);
  if (!spec.success || !parsed.success)
    return `the plan summary is not valid: ${(parsed.error ?? spec.error)?.issues[0]?.message}`;
  const { plan, curve } = parsed.data;
  const points = [
    { key: 'plan_predicted_latency_ms', value: plan.predicted.latencyMs },
    { key: 'plan_predicted_fd', value: plan.predicted.fd },
    { key: 'plan_measured_latency_ms', value: plan.measured?.latencyMs },
    { key: 'plan_latency_ratio', value: plan.measured?.latencyRatio },
    { key: 'plan_measured_fd', value: plan.measured?.fd },
  ].flatMap((p) =>
    typeof p.value === 'number' && Number.isFinite(p.value)
      ? [{ key: p.key, step: 0, value: p.value }]
      : [],
  );
  await logMetrics(db, orgId, runId, points);
  const source = spec.data.model;
  let versionId: string | null = source.kind === 'modelVersion' ? source.id : null;
  if (source.kind === 'run') {
    const [v] = await db
      .select({ id: modelVersions.id })
      .from(modelVersions)
      .where(eq(modelVersions.sourceRunId, source.runId))
      .orderBy(desc(modelVersions.version))
      .limit(1);
    versionId = v?.id ?? null;
  }
  if (!versionId) return null;
  const record = planRecordSchema.parse({
    ...plan,
    job_id: job.id,
    run_id: runId,
    at: new Date().toISOString(),
  });
  await setPlan(db, versionId, record, curve);
  return null;
}

export const planWebKind: WebJobKind = {
  complete: (db, { orgId, job, runId, summary }) => recordPlan(db, orgId, job, runId, summary),
};
