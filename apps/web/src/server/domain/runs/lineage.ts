import type { Db } from '@anneal/db/client';
import { jobs, modelVersions, projects, registeredModels, runs } from '@anneal/db/schema';
import { jobKindOf } from '@anneal/protocol';
import { and, desc, eq, inArray, or, sql } from 'drizzle-orm';
import { modelSourceSql } from '../jobs/jobs.ts';
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

  const versions = await db
    .select({
      id: modelVersions.id,
      modelName: registeredModels.name,
      version: modelVersions.version,
      projectId: registeredModels.projectId,
      artifactPath: modelVersions.artifactPath,
    })
    .from(modelVersions)
    .innerJoin(registeredModels, eq(registeredModels.id, modelVersions.modelId))
    .innerJoin(projects, eq(projects.id, registeredModels.projectId))
    .where(and(eq(modelVersions.sourceRunId, runId), eq(projects.orgId, orgId)))
    .orderBy(desc(modelVersions.version));

  // Runs of this organization whose job reads this run's checkpoint (by run, or by one of
  // the versions above), or that name it as their parent. The versions are known, so no
  // row looks model_versions up again; only the org's runs are read.
  const modelSource = modelSourceSql(sql`${jobs.spec}`);
  const versionIds = versions.map((v) => v.id.toLowerCase());
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
    .innerJoin(projects, eq(projects.id, runs.projectId))
    .leftJoin(jobs, eq(jobs.id, runs.jobId))
    .where(
      and(
        eq(projects.orgId, orgId),
        or(
          eq(runs.parentRunId, runId),
          sql`lower(${modelSource}->>'runId') = ${runId.toLowerCase()}`,
          versionIds.length
            ? and(
                sql`${modelSource}->>'kind' = 'modelVersion'`,
                inArray(sql`lower(${modelSource}->>'id')`, versionIds),
              )
            : undefined,
        ),
      ),
    )
    .orderBy(desc(runs.startedAt))
    .limit(200);

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
