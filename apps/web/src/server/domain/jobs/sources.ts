import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import { type JobSpec, jobKindOf } from '@anneal/protocol';
import { getModelVersion } from '../registry/registry.ts';
import { getRun } from '../runs/runs.ts';

/**
 * Checks that the checkpoint a job reads (its kind's `model`) exists in the organization, so
 * a wrong id is refused when the job is queued, not by an agent minutes later.
 */
export async function checkModelSource(
  db: Db,
  orgId: string,
  job: JobSpec,
  projectId: string,
): Promise<void> {
  const kind = jobKindOf(job.type);
  const source = kind?.model(job.spec as never);
  if (!source) return;
  if (source.kind === 'run') {
    await getRun(db, orgId, source.runId).catch(() => {
      throw new AppError('NOT_FOUND', `job.spec.model.runId: no run ${source.runId}`);
    });
    return;
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
}
