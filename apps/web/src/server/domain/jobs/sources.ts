import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import { type JobSpec, jobKindOf } from '@anneal/protocol';
import { getModelVersion } from '../registry/registry.ts';
import { getRun } from '../runs/runs.ts';

/** The run that trained a job's checkpoint and the version it was named by, if any. */
export interface CheckpointOrigin {
  run: { id: string; projectId: string } | null;
  modelVersionId: string | null;
}

/**
 * Checks that the checkpoint a job reads (its kind's `model`) exists in the organization, so
 * a wrong id is refused when the job is queued, not by an agent minutes later. Returns where
 * it comes from (the job's run lineage); null for jobs that read no checkpoint.
 */
export async function checkModelSource(
  db: Db,
  orgId: string,
  job: JobSpec,
  projectId: string,
): Promise<CheckpointOrigin | null> {
  const kind = jobKindOf(job.type);
  const source = kind?.model(job.spec as never);
  if (!source) return null;
  if (source.kind === 'run') {
    const run = await getRun(db, orgId, source.runId).catch(() => {
      throw new AppError('NOT_FOUND', `job.spec.model.runId: no run ${source.runId}`);
    });
    return { run: { id: run.id, projectId: run.projectId }, modelVersionId: null };
  }
  const field = kind?.modelField ?? 'job.spec.model.id';
  const version = await getModelVersion(db, orgId, source.id).catch(() => {
    throw new AppError('NOT_FOUND', `${field}: no model version ${source.id}`);
  });
  if (kind?.modelInProject && version.projectId !== projectId)
    throw new AppError(
      'BAD_REQUEST',
      `${field}: model version ${version.modelName} v${version.version} belongs to another project`,
    );
  if (!version.sourceRunId || !version.artifactPath)
    throw new AppError(
      'BAD_REQUEST',
      `${field}: model version ${version.modelName} v${version.version} has no checkpoint (no source run or artifact path)`,
    );
  const run = await getRun(db, orgId, version.sourceRunId).catch(() => null);
  return {
    run: run ? { id: run.id, projectId: run.projectId } : null,
    modelVersionId: version.id,
  };
}
