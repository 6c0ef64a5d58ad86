import type { Db } from '@anneal/db/client';
import { agents, jobs, modelVersions, runs } from '@anneal/db/schema';
import {
  agentBenchmarkSchema,
  benchSpecSchema,
  benchSummarySchema,
  evaluateSpecSchema,
  evaluationRecordSchema,
  evaluationSummarySchema,
  trainSpecSchema,
} from '@anneal/protocol';
import { desc, eq } from 'drizzle-orm';
import { addEvaluation, registerVersion } from '../registry/registry.ts';
import { logMetrics } from '../runs/metrics.ts';
import { CHECKPOINT_PREFIX } from './jobs.ts';

/**
 * A train job that succeeded registers its model: one version per run (a replayed
 * `job_complete` registers nothing new), with the config, dataset, the agent's hardware
 * and the final metrics as metadata.
 */
export async function registerTrainedModel(
  db: Db,
  orgId: string,
  jobId: string,
  runId: string,
  summary: Record<string, unknown>,
) {
  const [already] = await db
    .select({ id: modelVersions.id })
    .from(modelVersions)
    .where(eq(modelVersions.sourceRunId, runId));
  if (already) return;
  const [row] = await db
    .select({ job: jobs, run: runs, hardware: agents.hardware })
    .from(jobs)
    .innerJoin(runs, eq(runs.jobId, jobs.id))
    .leftJoin(agents, eq(agents.id, jobs.leaseOwner))
    .where(eq(jobs.id, jobId));
  if (!row) return;
  const spec = trainSpecSchema.safeParse(row.job.spec);
  if (!spec.success) return;
  const dataset = spec.data.dataset.kind === 'builtin' ? spec.data.dataset.name : 'dataset';
  const quality: Record<string, number> = {};
  for (const [k, v] of Object.entries(summary))
    if (typeof v === 'number' && Number.isFinite(v)) quality[k] = v;
  await registerVersion(
    db,
    orgId,
    row.job.projectId,
    `${dataset}-${spec.data.preset}-${spec.data.resolution}`,
    {
      sourceRunId: runId,
      datasetVersionId: row.run.datasetVersionId ?? undefined,
      artifactPath: `${CHECKPOINT_PREFIX}model.safetensors`,
      description: `trained by job ${jobId}`,
      metadata: {
        architecture: {
          preset: spec.data.preset,
          resolution: spec.data.resolution,
          config: spec.data,
        },
        steps: spec.data.steps,
        quality,
        hardware: row.hardware ?? undefined,
      },
      aliases: [],
    },
  );
}

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
  const spec = evaluateSpecSchema.safeParse(job.spec);
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

/** A bench job's result, kept on the agent that ran it (its last benchmark). */
export async function recordBenchmark(
  db: Db,
  agentId: string,
  job: { id: string; spec: unknown },
  summary: Record<string, unknown>,
): Promise<string | null> {
  const spec = benchSpecSchema.safeParse(job.spec);
  const parsed = benchSummarySchema.safeParse(summary);
  if (!spec.success || !parsed.success)
    return `the bench summary is not valid: ${(parsed.error ?? spec.error)?.issues[0]?.message}`;
  const file = parsed.data.results.sampling;
  const benchmark = agentBenchmarkSchema.parse({
    job_id: job.id,
    at: new Date().toISOString(),
    benchmark: spec.data.benchmark,
    scale: spec.data.scale,
    seconds: file.seconds,
    machine: file.machine,
    model: file.result.model,
    parameters: file.result.parameters,
    resolution: file.result.resolution,
    samplers: file.result.samplers,
  });
  await db.update(agents).set({ benchmark }).where(eq(agents.id, agentId));
  return null;
}

/**
 * What a job's success leaves behind, by type: a train job registers its model, an evaluate
 * job its result on the model version, a bench job its result on the agent. Returns why the
 * summary was refused (the job then fails), or null.
 */
export async function recordCompletion(
  db: Db,
  done: {
    orgId: string;
    agentId: string;
    job: { id: string; type: string; spec: unknown };
    runId: string;
    summary: Record<string, unknown>;
  },
): Promise<string | null> {
  const { orgId, agentId, job, runId, summary } = done;
  if (job.type === 'train') await registerTrainedModel(db, orgId, job.id, runId, summary);
  else if (job.type === 'evaluate') return recordEvaluation(db, orgId, job, runId, summary);
  else if (job.type === 'bench') return recordBenchmark(db, agentId, job, summary);
  return null;
}
