import { AppError } from '@anneal/core';
import type { Db, Tx } from '@anneal/db/client';
import { projects, runs } from '@anneal/db/schema';
import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';

export const projectNameSchema = z
  .string()
  .trim()
  .min(1, { message: 'is required' })
  .max(100, { message: 'must be at most 100 characters' });

export const createProjectInput = z.object({
  name: projectNameSchema,
  description: z.string().max(2000).default(''),
});

export async function createProject(
  db: Db,
  orgId: string,
  input: z.infer<typeof createProjectInput>,
) {
  const [row] = await db
    .insert(projects)
    .values({ orgId, name: input.name, description: input.description })
    .onConflictDoNothing()
    .returning();
  if (!row) {
    // A project deleted through MLflow still holds its name (as a deleted experiment does).
    const [held] = await db
      .select({ id: projects.id, deletedAt: projects.deletedAt })
      .from(projects)
      .where(and(eq(projects.orgId, orgId), eq(projects.name, input.name)));
    throw new AppError(
      'CONFLICT',
      held?.deletedAt
        ? `name: project ${held.id}, deleted through MLflow, holds the name "${input.name}"; restore it from its page`
        : `name: a project named "${input.name}" already exists`,
    );
  }
  return row;
}

/**
 * The organization's projects, newest first. Projects deleted through MLflow (soft, restorable)
 * are left out unless `includeDeleted`; their deleted runs never count.
 */
export async function listProjects(db: Db, orgId: string, opts: { includeDeleted?: boolean } = {}) {
  return db
    .select({
      id: projects.id,
      name: projects.name,
      description: projects.description,
      createdAt: projects.createdAt,
      // Literal, qualified names: drizzle renders columns inside sql`` unqualified in a
      // single-table select, which a correlated subquery would bind to its own table.
      runCount: sql<number>`(select count(*)::int from runs r where r.project_id = projects.id and r.deleted_at is null)`,
      modelCount: sql<number>`(select count(*)::int from registered_models m where m.project_id = projects.id)`,
      datasetCount: sql<number>`(select count(*)::int from datasets d where d.project_id = projects.id)`,
      // Mapped as the column it aggregates: a Date, like every other timestamp.
      lastRunAt:
        sql<Date | null>`(select max(r.started_at) from runs r where r.project_id = projects.id and r.deleted_at is null)`.mapWith(
          runs.startedAt,
        ),
      deletedAt: projects.deletedAt,
    })
    .from(projects)
    .where(
      opts.includeDeleted
        ? eq(projects.orgId, orgId)
        : and(eq(projects.orgId, orgId), isNull(projects.deletedAt)),
    )
    .orderBy(desc(projects.createdAt));
}

/**
 * A project of the caller's organization. Every project-scoped read and write starts here,
 * so an id from another organization is "not found", never someone else's data.
 */
export async function getProject(db: Db | Tx, orgId: string, projectId: string) {
  const [row] = await db
    .select()
    .from(projects)
    .where(and(eq(projects.id, projectId), eq(projects.orgId, orgId)));
  if (!row) throw new AppError('NOT_FOUND', `projectId: no project ${projectId}`);
  return row;
}

/**
 * A project that may be written: one deleted through MLflow is refused, naming it. With a
 * transaction the row is locked (FOR SHARE) until it commits, so a concurrent MLflow delete,
 * which locks the row FOR UPDATE and then checks for job runs and registered models, either
 * waits for this write and sees it, or has committed and this write sees the deletion.
 */
export async function writableProject(db: Db | Tx, orgId: string, projectId: string) {
  const [row] = await db
    .select()
    .from(projects)
    .where(and(eq(projects.id, projectId), eq(projects.orgId, orgId)))
    .for('share');
  if (!row) throw new AppError('NOT_FOUND', `projectId: no project ${projectId}`);
  if (row.deletedAt)
    throw new AppError(
      'BAD_REQUEST',
      `projectId: ${row.name} was deleted through MLflow; restore it first`,
    );
  return row;
}

/** The organization's project of that name, deleted or not (a deleted one holds its name). */
export async function projectNamed(db: Db | Tx, orgId: string, name: string) {
  const [row] = await db
    .select()
    .from(projects)
    .where(and(eq(projects.orgId, orgId), eq(projects.name, name)));
  return row ?? null;
}
