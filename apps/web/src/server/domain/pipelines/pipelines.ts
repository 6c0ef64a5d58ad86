// Pipelines in PostgreSQL: the saved DAGs of a project, their runs and each run's nodes. A
// run copies its pipeline's spec when triggered, so editing the pipeline never changes a run
// under way; the server advances runs in advance.ts.
import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import { pipelineNodes, pipelineRuns, pipelines, projects } from '@anneal/db/schema';
import { and, desc, eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import { cancelJob, type JobServices } from '../jobs/jobs.ts';
import { checkModelSource } from '../jobs/sources.ts';
import { getProject, writableProject } from '../projects/projects.ts';
import { getModelVersion } from '../registry/registry.ts';
import {
  dependencies,
  isJobKind,
  type PipelineSpec,
  parseNodeSpec,
  pipelineSpecSchema,
  refsIn,
} from './spec.ts';

export const pipelineNameSchema = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'use lowercase letters, digits or "-"' });

export const createPipelineInput = z
  .object({
    name: pipelineNameSchema,
    description: z.string().trim().max(2000).optional(),
    spec: pipelineSpecSchema,
  })
  .strict();

export const updatePipelineInput = z
  .object({
    description: z.string().trim().max(2000).optional(),
    spec: pipelineSpecSchema,
  })
  .strict();

const paramValue = z.union([z.string().max(1000), z.number(), z.boolean()]);

export const triggerPipelineInput = z
  .object({
    /** Values for the pipeline's declared params (the rest keep their defaults). */
    params: z.record(z.string(), paramValue).default({}),
  })
  .strict();

type Caller = { orgId: string; userId: string };
type Pipeline = typeof pipelines.$inferSelect;
type PipelineRun = typeof pipelineRuns.$inferSelect;

export async function createPipeline(
  db: Db,
  caller: Caller,
  projectId: string,
  input: z.infer<typeof createPipelineInput>,
) {
  await writableProject(db, caller.orgId, projectId);
  await checkNamedIds(db, caller.orgId, projectId, input.spec);
  const [row] = await db
    .insert(pipelines)
    .values({
      projectId,
      name: input.name,
      description: input.description ?? null,
      spec: input.spec as unknown as Record<string, unknown>,
      createdBy: caller.userId,
    })
    .onConflictDoNothing()
    .returning();
  if (!row)
    throw new AppError('CONFLICT', `name: this project already has a pipeline "${input.name}"`);
  return row;
}

/**
 * The ids a saved spec names outright (not through references) must be the organization's:
 * a model version to register, the checkpoint or teacher a job reads. Checked on save, so a
 * wrong id is refused then, not when the node's turn comes.
 */
async function checkNamedIds(db: Db, orgId: string, projectId: string, spec: PipelineSpec) {
  for (const [i, node] of spec.nodes.entries()) {
    if (refsIn(node.spec).length) continue;
    const parsed = parseNodeSpec(node.kind, node.spec);
    if (!parsed.success) continue;
    const at = `spec.nodes.${i}.spec`;
    if (node.kind === 'register') {
      const id = (parsed.value as { version_id: string }).version_id;
      await getModelVersion(db, orgId, id).catch(() => {
        throw new AppError('NOT_FOUND', `${at}.version_id: no model version ${id}`);
      });
    } else if (isJobKind(node.kind)) {
      await checkModelSource(
        db,
        orgId,
        { type: node.kind, spec: parsed.value } as never,
        projectId,
      ).catch((err: Error) => {
        throw new AppError(
          err instanceof AppError ? err.code : 'BAD_REQUEST',
          `${at}: ${err.message}`,
        );
      });
    }
  }
}

/** A pipeline of the organization, or NOT_FOUND naming the id. */
export async function getPipeline(db: Db, orgId: string, pipelineId: string): Promise<Pipeline> {
  const [row] = await db
    .select({ pipeline: pipelines })
    .from(pipelines)
    .innerJoin(projects, eq(projects.id, pipelines.projectId))
    .where(and(eq(pipelines.id, pipelineId), eq(projects.orgId, orgId)));
  if (!row) throw new AppError('NOT_FOUND', `pipelineId: no pipeline ${pipelineId}`);
  return row.pipeline;
}

export async function updatePipeline(
  db: Db,
  orgId: string,
  pipelineId: string,
  input: z.infer<typeof updatePipelineInput>,
) {
  const p = await getPipeline(db, orgId, pipelineId);
  await writableProject(db, orgId, p.projectId);
  await checkNamedIds(db, orgId, p.projectId, input.spec);
  const [row] = await db
    .update(pipelines)
    .set({
      spec: input.spec as unknown as Record<string, unknown>,
      ...(input.description !== undefined ? { description: input.description } : {}),
      updatedAt: new Date(),
    })
    .where(eq(pipelines.id, pipelineId))
    .returning();
  return row as Pipeline;
}

export async function listPipelines(db: Db, orgId: string, projectId: string) {
  await getProject(db, orgId, projectId);
  return db
    .select()
    .from(pipelines)
    .where(eq(pipelines.projectId, projectId))
    .orderBy(pipelines.name);
}

/**
 * Starts a run of a pipeline: its spec as it is now, the params given over the defaults.
 * Every param must be declared, with a value of its default's type.
 */
export async function triggerPipeline(
  db: Db,
  caller: Caller,
  pipelineId: string,
  input: z.infer<typeof triggerPipelineInput>,
  trigger: 'api' | 'dashboard' = 'api',
) {
  const p = await getPipeline(db, caller.orgId, pipelineId);
  const spec = pipelineSpecSchema.safeParse(p.spec);
  if (!spec.success)
    throw new AppError(
      'CONFLICT',
      `the saved spec no longer validates (${spec.error.issues[0]?.message}); save it again`,
    );
  for (const [k, v] of Object.entries(input.params)) {
    if (!(k in spec.data.params))
      throw new AppError(
        'BAD_REQUEST',
        `params.${k}: the pipeline declares no param "${k}"${Object.keys(spec.data.params).length ? ` (it has ${Object.keys(spec.data.params).join(', ')})` : ''}`,
      );
    const want = typeof spec.data.params[k];
    if (typeof v !== want)
      throw new AppError(
        'BAD_REQUEST',
        `params.${k}: a ${want}, as its default is; got ${typeof v}`,
      );
  }
  return startRun(db, caller, p.projectId, {
    pipelineId: p.id,
    name: p.name,
    spec: spec.data,
    params: { ...spec.data.params, ...input.params },
    trigger,
  });
}

/** A run and its pending nodes, created together; the server's next pass starts its roots. */
export async function startRun(
  db: Db,
  caller: Caller,
  projectId: string,
  run: {
    pipelineId: string | null;
    name: string;
    spec: PipelineSpec;
    params: Record<string, unknown>;
    trigger: 'api' | 'dashboard' | 'alert';
    alertId?: string;
  },
) {
  await writableProject(db, caller.orgId, projectId);
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(pipelineRuns)
      .values({
        projectId,
        pipelineId: run.pipelineId,
        name: run.name,
        spec: run.spec as unknown as Record<string, unknown>,
        params: run.params,
        trigger: run.trigger,
        alertId: run.alertId ?? null,
        createdBy: caller.userId,
      })
      .returning();
    if (!row) throw new AppError('INTERNAL', 'could not create the pipeline run');
    await tx.insert(pipelineNodes).values(
      run.spec.nodes.map((n) => ({
        pipelineRunId: row.id,
        key: n.key,
        kind: n.kind,
        detail: dependencies(n).length ? `waiting for ${dependencies(n).join(', ')}` : null,
      })),
    );
    return row;
  });
}

/** A run of the organization, or NOT_FOUND naming the id. */
export async function getPipelineRun(db: Db, orgId: string, runId: string): Promise<PipelineRun> {
  const [row] = await db
    .select({ run: pipelineRuns })
    .from(pipelineRuns)
    .innerJoin(projects, eq(projects.id, pipelineRuns.projectId))
    .where(and(eq(pipelineRuns.id, runId), eq(projects.orgId, orgId)));
  if (!row) throw new AppError('NOT_FOUND', `pipelineRunId: no pipeline run ${runId}`);
  return row.run;
}

/** Runs of a pipeline (or of a whole project), newest first. */
export async function listPipelineRuns(
  db: Db,
  orgId: string,
  where: { pipelineId: string } | { projectId: string },
  limit = 50,
) {
  if ('pipelineId' in where) await getPipeline(db, orgId, where.pipelineId);
  else await getProject(db, orgId, where.projectId);
  return db
    .select()
    .from(pipelineRuns)
    .where(
      'pipelineId' in where
        ? eq(pipelineRuns.pipelineId, where.pipelineId)
        : eq(pipelineRuns.projectId, where.projectId),
    )
    .orderBy(desc(pipelineRuns.createdAt))
    .limit(limit);
}

/**
 * Stops a run: nodes not yet finished are cancelled, and so are the jobs they hold (their
 * agents are told at once). A deployment a deploy node brought up keeps serving.
 */
export async function cancelPipelineRun(s: JobServices, orgId: string, runId: string) {
  await getPipelineRun(s.db, orgId, runId);
  const jobs = await s.db.transaction(async (tx) => {
    const [run] = await tx
      .select()
      .from(pipelineRuns)
      .where(eq(pipelineRuns.id, runId))
      .for('update');
    if (run?.status !== 'running')
      throw new AppError('CONFLICT', `pipelineRunId: the run is already ${run?.status}`);
    const open = await tx
      .update(pipelineNodes)
      .set({ status: 'cancelled', detail: 'the run was cancelled', finishedAt: new Date() })
      .where(
        and(
          eq(pipelineNodes.pipelineRunId, runId),
          inArray(pipelineNodes.status, ['pending', 'running']),
        ),
      )
      .returning();
    await tx
      .update(pipelineRuns)
      .set({
        status: 'cancelled',
        error: 'cancelled',
        finishedAt: new Date(),
        updatedAt: new Date(),
      })
      .where(eq(pipelineRuns.id, runId));
    // The nodes' jobs are cancelled in the same transaction, so a crash cannot leave a
    // cancelled run's job running. A job that ended meanwhile is no failure of the cancel.
    const cancelled = [];
    for (const n of open) {
      if (!n.jobId) continue;
      try {
        cancelled.push(await cancelJob(tx as unknown as Db, orgId, n.jobId));
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
      }
    }
    return cancelled;
  });
  // Told once it is committed: the agents holding the jobs stop them at once.
  for (const job of jobs) {
    s.agents?.cancel(job.id, job.leaseId, job.leaseOwner, 'cancelled');
    s.events.emitJob({ projectId: job.projectId, jobId: job.id, status: 'cancelled' });
  }
  return getPipelineRun(s.db, orgId, runId);
}

/** Runs still under way (the server advances these). */
export function openRunIds(db: Db) {
  return db
    .select({ id: pipelineRuns.id })
    .from(pipelineRuns)
    .where(eq(pipelineRuns.status, 'running'))
    .orderBy(pipelineRuns.createdAt);
}
