import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import { projects, registeredModels, runs } from '@anneal/db/schema';
import { and, eq, isNotNull, isNull } from 'drizzle-orm';
import { getProject } from './projects.ts';

/**
 * Soft delete of a project, as MLflow's delete_experiment: the project and its runs keep all
 * their data, are hidden from Anneal's lists, and restore together. Only the MLflow API
 * deletes; Anneal's pages restore.
 */

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
