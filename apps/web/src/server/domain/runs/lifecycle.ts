import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import { modelVersions, projects, registeredModels, runs } from '@anneal/db/schema';
import { and, eq, isNotNull, isNull } from 'drizzle-orm';
import { getProject } from '../projects/projects.ts';
import { getRun } from './runs.ts';

/**
 * Soft delete, as MLflow's lifecycle_stage: a deleted run or project keeps all its data, is
 * hidden from Anneal's lists, still answers on its own page (and to MLflow's get, as
 * "deleted"), and can be restored. Only the MLflow API deletes; Anneal's pages restore.
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

/** Restores a run; a run of a deleted project is restored with its project, not alone. */
export async function restoreRun(db: Db, orgId: string, runId: string) {
  const run = await getRun(db, orgId, runId);
  const project = await getProject(db, orgId, run.projectId);
  if (project.deletedAt)
    throw new AppError(
      'BAD_REQUEST',
      `runId: run ${run.id} is in project "${project.name}", which is deleted; restore the project`,
    );
  const [row] = await db
    .update(runs)
    .set({ deletedAt: null })
    .where(eq(runs.id, run.id))
    .returning();
  return row ?? run;
}

/**
 * Deletes a project and marks all its runs deleted, as MLflow's delete_experiment does.
 * Refused while any of its runs could not be deleted alone, or it holds registered models.
 * One transaction that locks the project row first (FOR UPDATE): a job, run or version
 * created at the same moment holds a share lock on it (writableProject), so either it
 * committed before and the checks see it, or it waits and then finds the project deleted.
 */
export async function deleteProjectSoftly(db: Db, orgId: string, projectId: string) {
  await db.transaction(async (tx) => {
    const [project] = await tx
      .select()
      .from(projects)
      .where(and(eq(projects.id, projectId), eq(projects.orgId, orgId)))
      .for('update');
    if (!project) throw new AppError('NOT_FOUND', `projectId: no project ${projectId}`);
    const [jobRun] = await tx
      .select({ id: runs.id })
      .from(runs)
      .where(and(eq(runs.projectId, project.id), isNotNull(runs.jobId)))
      .limit(1);
    if (jobRun)
      throw new AppError(
        'BAD_REQUEST',
        `experiment_id: project "${project.name}" has runs of Anneal jobs (run ${jobRun.id}); delete it through Anneal`,
      );
    const [model] = await tx
      .select({ name: registeredModels.name })
      .from(registeredModels)
      .where(eq(registeredModels.projectId, project.id))
      .limit(1);
    if (model)
      throw new AppError(
        'BAD_REQUEST',
        `experiment_id: project "${project.name}" holds registered model "${model.name}"; delete its versions first`,
      );
    const now = new Date();
    await tx
      .update(runs)
      .set({ deletedAt: now })
      .where(and(eq(runs.projectId, project.id), isNull(runs.deletedAt)));
    await tx.update(projects).set({ deletedAt: now }).where(eq(projects.id, project.id));
  });
}

/** Restores a project and all its runs, as MLflow's restore_experiment does. */
export async function restoreProject(db: Db, orgId: string, projectId: string) {
  const project = await getProject(db, orgId, projectId);
  await db.transaction(async (tx) => {
    await tx.update(runs).set({ deletedAt: null }).where(eq(runs.projectId, project.id));
    await tx.update(projects).set({ deletedAt: null }).where(eq(projects.id, project.id));
  });
}
