import type { Db } from '@anneal/db/client';
import { modelVersions } from '@anneal/db/schema';
import { evaluateKind, evaluationRecordSchema, evaluationSummarySchema } from '@anneal/protocol';
import { desc, eq } from 'drizzle-orm';
import { addEvaluation } from '../../registry/registry.ts';
import { logMetrics } from '../../runs/metrics.ts';
import type { WebJobKind } from './kind.ts';

/** The evaluation numbers also kept as metrics of the evaluate job's run (at step 0). */
const EVAL_METRICS = [
  'fd',
  'kid',
  'precision',
  'recall',
  'floor_fd',
  'floor_kid',
  'floor_precision',
  'floor_recall',
  'accuracy',
  'floor_accuracy',
] as const;

/**
 * An evaluate job's result: on the model version it measured (the one named, or the one
 * registered from the run named), and as metrics of its own run. Returns why the summary
 * was refused, or null.
 */
export async function recordEvaluation(
  db: Db,
  orgId: string,
  job: { id: string; spec: unknown },
  runId: string,
  summary: Record<string, unknown>,
): Promise<string | null> {
  const spec = evaluateKind.spec.safeParse(job.spec);
  const parsed = evaluationSummarySchema.safeParse(summary);
  if (!spec.success || !parsed.success)
    return `the evaluation summary is not valid: ${(parsed.error ?? spec.error)?.issues[0]?.message}`;
  const points = EVAL_METRICS.flatMap((key) => {
    const value = parsed.data[key];
    return typeof value === 'number' && Number.isFinite(value) ? [{ key, step: 0, value }] : [];
  });
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
  if (versionId) {
    const record = evaluationRecordSchema.parse({
      ...parsed.data,
      job_id: job.id,
      run_id: runId,
      at: new Date().toISOString(),
    });
    await addEvaluation(db, versionId, record);
  }
  return null;
}

export const evaluateWebKind: WebJobKind = {
  complete: (db, { orgId, job, runId, summary }) =>
    recordEvaluation(db, orgId, job, runId, summary),
};
