import type { Db } from '@anneal/db/client';
import { jobs, modelVersions, registeredModels, runs } from '@anneal/db/schema';
import { jobKindOf } from '@anneal/protocol';
import { and, desc, eq, or, sql } from 'drizzle-orm';
import { checkpointRunSql } from '../jobs/jobs.ts';
import { getModelVersion } from '../registry/registry.ts';
import { getRun } from './runs.ts';

/** The run and version behind the checkpoint a job read; null for jobs that read none. */
async function checkpointOrigin(db: Db, orgId: string, job: { type: string; spec: unknown }) {
  const kind = jobKindOf(job.type);
  const parsed = kind?.spec.safeParse(job.spec);
  if (!kind || !parsed?.success) return null;
  const source = kind.model(parsed.data as never);
  if (!source) return null;
  if (source.kind === 'run') return { runId: source.runId, modelVersionId: null };
  const version = await getModelVersion(db, orgId, source.id).catch(() => null);
  return version ? { runId: version.sourceRunId, modelVersionId: version.id } : null;
}

/**
 * A run's lineage both ways: the train run and model version its checkpoint came from (for
 * sample, evaluate and distill runs), and the runs made from its own checkpoint, directly or
 * through a model version registered from it, with those versions.
 */
export async function runLineage(db: Db, orgId: string, runId: string) {
  const run = await getRun(db, orgId, runId);
  const [job] = run.jobId
    ? await db.select({ type: jobs.type, spec: jobs.spec }).from(jobs).where(eq(jobs.id, run.jobId))
    : [];
  const origin = job ? await checkpointOrigin(db, orgId, job) : null;
  const sourceRunId = origin?.runId ?? run.parentRunId;
  const source = sourceRunId ? await getRun(db, orgId, sourceRunId).catch(() => null) : null;
  const version = origin?.modelVersionId
    ? await getModelVersion(db, orgId, origin.modelVersionId).catch(() => null)
    : null;

  // Runs whose job reads this run's checkpoint (by run or by a version of it), or that
  // name it as their parent; in this organization by construction (the parent is ours).
  const children = await db
    .select({
      id: runs.id,
      name: runs.name,
      status: runs.status,
      projectId: runs.projectId,
      jobType: jobs.type,
      startedAt: runs.startedAt,
    })
    .from(runs)
    .leftJoin(jobs, eq(jobs.id, runs.jobId))
    .where(
      or(
        eq(runs.parentRunId, runId),
        sql`${checkpointRunSql(sql`${jobs.spec}`)} = ${runId.toLowerCase()}`,
      ),
    )
    .orderBy(desc(runs.startedAt))
    .limit(200);
  const versions = await db
    .select({
      id: modelVersions.id,
      modelName: registeredModels.name,
      version: modelVersions.version,
      projectId: registeredModels.projectId,
    })
    .from(modelVersions)
    .innerJoin(registeredModels, eq(registeredModels.id, modelVersions.modelId))
    .where(and(eq(modelVersions.sourceRunId, runId)))
    .orderBy(desc(modelVersions.version));

  return {
    source: source
      ? { id: source.id, name: source.name, status: source.status, projectId: source.projectId }
      : null,
    modelVersion: version
      ? {
          id: version.id,
          modelName: version.modelName,
          version: version.version,
          projectId: version.projectId,
        }
      : null,
    children: children.map((c) => ({ ...c, jobType: c.jobType ?? null })),
    versions,
  };
}

/** The job that made a run (null for runs logged through the API), with its failure. */
export async function runJob(db: Db, orgId: string, runId: string) {
  const run = await getRun(db, orgId, runId);
  if (!run.jobId) return null;
  const [job] = await db
    .select({
      id: jobs.id,
      type: jobs.type,
      status: jobs.status,
      error: jobs.error,
      attempts: jobs.attempts,
      maxAttempts: jobs.maxAttempts,
    })
    .from(jobs)
    .where(eq(jobs.id, run.jobId));
  return job ?? null;
}
