import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import { modelVersions, registeredModels, runs } from '@anneal/db/schema';
import { eq } from 'drizzle-orm';
import { getProject } from '../projects/projects.ts';
import { getRun } from './runs.ts';

/**
 * Soft delete, as MLflow's lifecycle_stage: a deleted run keeps all its data, is hidden from
 * Anneal's lists, still answers on its own page (and to MLflow's get, as "deleted"), takes no
 * writes (writableRun), and can be restored. Only the MLflow API deletes; Anneal's pages
 * restore. A project's delete and restore are in domain/projects/lifecycle.ts.
 */

/**
 * Why a run cannot be deleted, or null: a job's run belongs to its job (cancel that instead),
 * and a registered version's source run holds the version's checkpoint.
 */
async function runRefusal(db: Db, run: { id: string; jobId: string | null }) {
  if (run.jobId)
    return `run ${run.id} belongs to Anneal job ${run.jobId}; cancel or delete it through Anneal`;
  const [source] = await db
    .select({ version: modelVersions.version, model: registeredModels.name })
    .from(modelVersions)
    .innerJoin(registeredModels, eq(registeredModels.id, modelVersions.modelId))
    .where(eq(modelVersions.sourceRunId, run.id))
    .limit(1);
  if (source)
    return `run ${run.id} is the source of version ${source.version} of registered model "${source.model}"; delete the version first`;
  return null;
}

export async function deleteRunSoftly(db: Db, orgId: string, runId: string) {
  const run = await getRun(db, orgId, runId);
  const refusal = await runRefusal(db, run);
  if (refusal) throw new AppError('BAD_REQUEST', `run_id: ${refusal}`);
  if (run.deletedAt) return run;
  const [row] = await db
    .update(runs)
    .set({ deletedAt: new Date() })
    .where(eq(runs.id, run.id))
    .returning();
  return row ?? run;
}

/**
 * Restores a run; a run of a deleted project is restored with its project, not alone.
 * `field` names the run in the refusal as the caller's API does (MLflow's is run_id).
 */
export async function restoreRun(
  db: Db,
  orgId: string,
  runId: string,
  field: 'runId' | 'run_id' = 'runId',
) {
  const run = await getRun(db, orgId, runId);
  const project = await getProject(db, orgId, run.projectId);
  if (project.deletedAt)
    throw new AppError(
      'BAD_REQUEST',
      `${field}: run ${run.id} is in project "${project.name}", which is deleted; restore the project`,
    );
  const [row] = await db
    .update(runs)
    .set({ deletedAt: null })
    .where(eq(runs.id, run.id))
    .returning();
  return row ?? run;
}
