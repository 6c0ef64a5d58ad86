import { AppError } from '@anneal/core';
import type { Db, Tx } from '@anneal/db/client';
import { datasets, datasetVersions, projects, RUN_STATUSES, runs } from '@anneal/db/schema';
import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import { datasetLabelSql } from '../datasets/label.ts';
import { getProject, writableProject } from '../projects/projects.ts';

export const runStatusSchema = z.enum(RUN_STATUSES);
const paramValue = z.union([z.string().max(5000), z.number(), z.boolean(), z.null()]);
const key = z.string().min(1).max(250);

export const createRunInput = z.object({
  name: z.string().trim().min(1).max(200).optional(),
  status: runStatusSchema.default('running'),
  params: z.record(key, paramValue).default({}),
  tags: z.record(key, z.string().max(5000)).default({}),
  parentRunId: z.uuid().optional(),
  datasetVersionId: z.uuid().optional(),
  datasetBuiltin: z.enum(['mnist', 'shapes']).optional(),
});
export type CreateRunInput = z.infer<typeof createRunInput>;

export const updateRunInput = z.object({
  status: runStatusSchema.optional(),
  tags: z.record(key, z.string().max(5000)).optional(),
  params: z.record(key, paramValue).optional(),
});

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

/** A run with what its page names: its job's kind and its dataset version's label. */
export async function getRunDetail(db: Db, orgId: string, runId: string) {
  const run = await getRun(db, orgId, runId);
  const [names] = await db
    .select({
      kind: sql<string | null>`(select j.type from jobs j where j.id = ${runs.jobId})`,
      datasetLabel: datasetLabelSql(sql`${runs.datasetVersionId}`, sql`${runs.projectId}`),
    })
    .from(runs)
    .where(eq(runs.id, runId));
  return { ...run, kind: names?.kind ?? null, datasetLabel: names?.datasetLabel ?? null };
}

/** A run of the caller's organization, or NOT_FOUND (also for other organizations' ids). */
export async function getRun(db: Db | Tx, orgId: string, runId: string) {
  const [row] = await db
    .select({ run: runs })
    .from(runs)
    .innerJoin(projects, eq(projects.id, runs.projectId))
    .where(and(eq(runs.id, runId), eq(projects.orgId, orgId)));
  if (!row) throw new AppError('NOT_FOUND', `runId: no run ${runId}`);
  return row.run;
}

/**
 * A run that may be written through Anneal's own API (REST, tRPC, the registry): a run deleted
 * through MLflow keeps its data but takes no writes until it is restored. The one check
 * every such write goes through; MLflow's own routes answer in MLflow's words (activeRunOf).
 */
export async function writableRun(db: Db | Tx, orgId: string, runId: string) {
  const run = await getRun(db, orgId, runId);
  if (run.deletedAt)
    throw new AppError(
      'BAD_REQUEST',
      `runId: run ${run.id} (${run.name}) was deleted through MLflow; restore it first (Restore on its page, or MLflow's restore_run)`,
    );
  return run;
}

export async function createRun(
  db: Db,
  orgId: string,
  userId: string,
  projectId: string,
  input: CreateRunInput,
) {
  await writableProject(db, orgId, projectId);
  if (input.parentRunId) {
    const parent = await getRun(db, orgId, input.parentRunId);
    if (parent.projectId !== projectId)
      throw new AppError('BAD_REQUEST', 'parentRunId: the parent run belongs to another project');
  }
  // Every id in the body is resolved inside the caller's organization, as ids in paths are:
  // another organization's version and an id that exists nowhere answer the same 404.
  if (input.datasetVersionId) {
    const [version] = await db
      .select({ id: datasetVersions.id })
      .from(datasetVersions)
      .innerJoin(datasets, eq(datasets.id, datasetVersions.datasetId))
      .innerJoin(projects, eq(projects.id, datasets.projectId))
      .where(and(eq(datasetVersions.id, input.datasetVersionId), eq(projects.orgId, orgId)));
    if (!version)
      throw new AppError(
        'NOT_FOUND',
        `datasetVersionId: no dataset version ${input.datasetVersionId}`,
      );
  }
  const [row] = await db.transaction(async (tx) => {
    // Under a share lock, so an MLflow delete of the project cannot pass this run unseen.
    await writableProject(tx, orgId, projectId);
    return tx
      .insert(runs)
      .values({
        projectId,
        name: input.name ?? `run-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '')}`,
        status: input.status,
        params: input.params,
        tags: input.tags,
        parentRunId: input.parentRunId,
        datasetVersionId: input.datasetVersionId,
        datasetBuiltin: input.datasetBuiltin,
        createdBy: userId,
        endedAt: TERMINAL.has(input.status) ? new Date() : null,
      })
      .returning();
  });
  if (!row) throw new AppError('INTERNAL', 'could not create the run');
  return row;
}

export async function updateRun(
  db: Db,
  orgId: string,
  runId: string,
  input: z.infer<typeof updateRunInput>,
) {
  const run = await writableRun(db, orgId, runId);
  const [row] = await db
    .update(runs)
    .set({
      status: input.status ?? run.status,
      tags: input.tags ? { ...run.tags, ...input.tags } : run.tags,
      params: input.params ? { ...run.params, ...input.params } : run.params,
      endedAt:
        input.status && TERMINAL.has(input.status) ? (run.endedAt ?? new Date()) : run.endedAt,
    })
    .where(eq(runs.id, runId))
    .returning();
  return row ?? run;
}

export const listRunsInput = z.object({
  projectId: z.uuid(),
  status: runStatusSchema.optional(),
  search: z.string().max(200).optional(),
});

/** Runs with their latest value of every metric, for the runs table. */
export async function listRuns(db: Db, orgId: string, input: z.infer<typeof listRunsInput>) {
  await getProject(db, orgId, input.projectId);
  // Runs deleted through MLflow are hidden (their own page still shows them, with Restore).
  const filters = [eq(runs.projectId, input.projectId), isNull(runs.deletedAt)];
  if (input.status) filters.push(eq(runs.status, input.status));
  if (input.search) filters.push(sql`${runs.name} ilike ${`%${input.search}%`}`);
  return db
    .select({
      id: runs.id,
      name: runs.name,
      status: runs.status,
      params: runs.params,
      tags: runs.tags,
      parentRunId: runs.parentRunId,
      startedAt: runs.startedAt,
      endedAt: runs.endedAt,
      /** The job kind that created the run (train, sample, ...); null for runs logged by scripts. */
      kind: sql<string | null>`(select j.type from jobs j where j.id = ${runs.jobId})`,
      datasetVersionId: runs.datasetVersionId,
      datasetLabel: datasetLabelSql(sql`${runs.datasetVersionId}`, sql`${runs.projectId}`),
      latest: sql<Record<string, number>>`coalesce((
        select jsonb_object_agg(m.key, m.value) from (
          select distinct on (key) key, value from metrics
          where run_id = runs.id order by key, step desc
        ) m), '{}'::jsonb)`,
    })
    .from(runs)
    .where(and(...filters))
    .orderBy(desc(runs.startedAt))
    .limit(1000);
}
