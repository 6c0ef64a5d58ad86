import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import { jobs, projects, runs } from '@anneal/db/schema';
import { type JobSpec, jobKindOf, jobSpecSchema } from '@anneal/protocol';
import { and, desc, eq, type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { RunEvents } from '../../events.ts';
import { datasetLabelSql, specVersionIdSql } from '../datasets/label.ts';
import { getDatasetVersion } from '../datasets/versions.ts';
import { getProject, writableProject } from '../projects/projects.ts';
import { type SourceTraining, withWaitReasons } from './requirements.ts';
import { checkModelSource } from './sources.ts';

export const createJobInput = z.object({
  job: jobSpecSchema,
  name: z.string().trim().min(1).max(200).optional(),
  maxAttempts: z.number().int().min(1).max(20).default(3),
});

export { CHECKPOINT_PREFIX } from '@anneal/protocol';

function runParams(job: JobSpec): Record<string, string | number | boolean | null> {
  const flat: Record<string, string | number | boolean | null> = { job_type: job.type };
  for (const [k, v] of Object.entries(job.spec)) {
    if (v === undefined) continue;
    flat[k] = typeof v === 'object' ? JSON.stringify(v) : (v as string | number | boolean);
  }
  return flat;
}

/** A job and the run it writes to, created together; the job waits in the queue. */
export async function createJob(
  db: Db,
  orgId: string,
  userId: string,
  projectId: string,
  input: z.infer<typeof createJobInput>,
) {
  await writableProject(db, orgId, projectId);
  const origin = await checkModelSource(db, orgId, input.job, projectId);
  const dataset = jobKindOf(input.job.type)?.dataset(input.job.spec as never) ?? null;
  if (dataset?.kind === 'version') await checkVersionRef(db, orgId, dataset);
  return db.transaction(async (tx) => {
    // Again under a share lock: an MLflow delete of the project waits for this job, or wins.
    await writableProject(tx, orgId, projectId);
    const [job] = await tx
      .insert(jobs)
      .values({
        projectId,
        type: input.job.type,
        spec: input.job.spec as Record<string, unknown>,
        maxAttempts: input.maxAttempts,
      })
      .returning();
    if (!job) throw new AppError('INTERNAL', 'could not create the job');
    const [run] = await tx
      .insert(runs)
      .values({
        projectId,
        name:
          input.name ??
          `${input.job.type}-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '')}`,
        status: 'queued',
        params: runParams(input.job),
        tags: {
          'anneal.job_id': job.id,
          ...(origin?.modelVersionId ? { 'anneal.model_version_id': origin.modelVersionId } : {}),
        },
        // Lineage: the run that trained the checkpoint this job reads (a run's parent is in
        // its own project; a version from another project is named by the tag alone).
        parentRunId: origin?.run?.projectId === projectId ? origin.run.id : null,
        datasetBuiltin: dataset?.kind === 'builtin' ? dataset.name : null,
        datasetVersionId: dataset?.kind === 'version' ? dataset.id : null,
        jobId: job.id,
        createdBy: userId,
      })
      .returning();
    if (!run) throw new AppError('INTERNAL', 'could not create the run');
    return { ...job, runId: run.id };
  });
}

/** A job may name only a version of its organization, by the hash that version has. */
async function checkVersionRef(db: Db, orgId: string, ref: { id: string; hash: string }) {
  if (!z.uuid().safeParse(ref.id).success)
    throw new AppError(
      'BAD_REQUEST',
      `job.spec.dataset.id: "${ref.id}" is not a dataset version id`,
    );
  const version = await getDatasetVersion(db, orgId, ref.id);
  if (version.contentHash !== ref.hash)
    throw new AppError(
      'BAD_REQUEST',
      `job.spec.dataset.hash: version ${ref.id} has content hash ${version.contentHash}, not ${ref.hash}`,
    );
}

const jobColumns = {
  id: jobs.id,
  projectId: jobs.projectId,
  type: jobs.type,
  spec: jobs.spec,
  status: jobs.status,
  attempts: jobs.attempts,
  maxAttempts: jobs.maxAttempts,
  leaseOwner: jobs.leaseOwner,
  leaseId: jobs.leaseId,
  leaseExpiresAt: jobs.leaseExpiresAt,
  error: jobs.error,
  createdAt: jobs.createdAt,
  updatedAt: jobs.updatedAt,
  runId: runs.id,
  runStatus: runs.status,
  /** The highest step any metric reached: the job's progress. */
  step: sql<number | null>`(select max(m.step) from metrics m where m.run_id = ${runs.id})`.mapWith(
    (v) => (v === null ? null : Number(v)),
  ),
  versionClasses: versionClassesSql(sql`${jobs.spec}`),
  /** "digits v2" when the spec names a stored dataset version. */
  datasetLabel: datasetLabelSql(specVersionIdSql(sql`${jobs.spec}`), sql`${jobs.projectId}`),
  source: sourceTrainingSql(sql`${jobs.spec}`),
};

// Ids inside a spec are compared in lower case, as PostgreSQL prints uuids: a spec keeps a
// dataset version id as its creator sent it.

/** The class count of the dataset version a job spec names (null for built-ins). */
export function versionClassesSql(spec: SQL) {
  return sql<
    number | null
  >`(select jsonb_array_length(dv.manifest->'classes') from dataset_versions dv
    where dv.id = ${specVersionIdSql(spec)})`.mapWith((v) => (v === null ? null : Number(v)));
}

/**
 * The model source (jsonb) a job spec reads: a sample or evaluate job's `model`, a distill
 * job's `teacher` (a model version id); null for other jobs.
 */
export function modelSourceSql(spec: SQL) {
  return sql`coalesce(${spec}->'model', case when jsonb_typeof(${spec}->'teacher') = 'string'
    then jsonb_build_object('kind', 'modelVersion', 'id', ${spec}->'teacher') end)`;
}

/**
 * The id (lower-case text) of the run whose checkpoint a sample, evaluate or distill job
 * spec reads: its model's run, or its model version's source run; null for other jobs.
 */
export function checkpointRunSql(spec: SQL) {
  const source = modelSourceSql(spec);
  return sql<string | null>`coalesce(lower(${source}->>'runId'),
    (select mv.source_run_id::text from model_versions mv
      where ${source}->>'kind' = 'modelVersion'
        and mv.id::text = lower(${source}->>'id')))`;
}

/**
 * For a sample or evaluate job spec, the train job behind the checkpoint it reads (its run,
 * or its model version's source run) with that job's dataset version class count; null
 * for other jobs and for checkpoints no train job made. Memory requirements need it.
 */
export function sourceTrainingSql(spec: SQL) {
  return sql<SourceTraining | null>`(select jsonb_build_object('spec', tj.spec, 'versionClasses',
      (select jsonb_array_length(dv.manifest->'classes') from dataset_versions dv
        where dv.id::text = lower(tj.spec->'dataset'->>'id')))
    from runs r join jobs tj on tj.id = r.job_id
    where tj.type = 'train' and r.id::text = ${checkpointRunSql(spec)})`;
}

export async function getJob(db: Db, orgId: string, jobId: string) {
  const [row] = await db
    .select(jobColumns)
    .from(jobs)
    .innerJoin(projects, eq(projects.id, jobs.projectId))
    .leftJoin(runs, eq(runs.jobId, jobs.id))
    .where(and(eq(jobs.id, jobId), eq(projects.orgId, orgId)));
  if (!row) throw new AppError('NOT_FOUND', `jobId: no job ${jobId}`);
  return row;
}

export async function listJobs(db: Db, orgId: string, projectId?: string) {
  // A project id from another organization is not found, not an empty list.
  if (projectId) await getProject(db, orgId, projectId);
  return db
    .select(jobColumns)
    .from(jobs)
    .innerJoin(projects, eq(projects.id, jobs.projectId))
    .leftJoin(runs, eq(runs.jobId, jobs.id))
    .where(and(eq(projects.orgId, orgId), projectId ? eq(jobs.projectId, projectId) : undefined))
    .orderBy(desc(jobs.createdAt))
    .limit(200);
}

/** Stops a job; its agent learns of it at once (gateway) or at its next heartbeat. */
export async function cancelJob(db: Db, orgId: string, jobId: string) {
  const job = await getJob(db, orgId, jobId);
  if (!['queued', 'leased', 'running'].includes(job.status))
    throw new AppError('CONFLICT', `jobId: the job is already ${job.status}`);
  await db.transaction(async (tx) => {
    await tx
      .update(jobs)
      .set({ status: 'cancelled', error: 'cancelled', leaseId: null, updatedAt: new Date() })
      .where(eq(jobs.id, jobId));
    await tx
      .update(runs)
      .set({ status: 'cancelled', endedAt: new Date() })
      .where(eq(runs.jobId, jobId));
  });
  return { ...job, previousOwner: job.leaseOwner };
}

/** Puts a failed or cancelled job back in the queue; it resumes from its last checkpoint. */
export async function retryJob(db: Db, orgId: string, jobId: string) {
  const job = await getJob(db, orgId, jobId);
  if (!['failed', 'cancelled'].includes(job.status))
    throw new AppError(
      'CONFLICT',
      `jobId: only failed or cancelled jobs retry; this one is ${job.status}`,
    );
  await db.transaction(async (tx) => {
    await tx
      .update(jobs)
      .set({ status: 'queued', attempts: 0, error: null, leaseOwner: null, updatedAt: new Date() })
      .where(eq(jobs.id, jobId));
    await tx.update(runs).set({ status: 'queued', endedAt: null }).where(eq(runs.jobId, jobId));
  });
  return getJob(db, orgId, jobId);
}

// The job operations REST and tRPC both call: each does the domain change, tells whoever
// must know (watchers of the project, the agent holding the job), and answers the job as
// the API shows it.

/** A job as the API returns it (REST JSON and the dashboard alike). */
export const jobOutput = z.object({
  id: z.uuid(),
  projectId: z.uuid(),
  runId: z.uuid().nullable(),
  type: z.string(),
  spec: z.record(z.string(), z.unknown()),
  status: z.string(),
  attempts: z.number(),
  maxAttempts: z.number(),
  agentId: z.uuid().nullable(),
  step: z.number().nullable(),
  error: z.string().nullable(),
  /** Why a queued job waits when no connected agent can run it (e.g. its memory need). */
  waiting: z.string().nullable(),
  /** "digits v2" when the spec names a stored dataset version, for lists that name the job. */
  datasetLabel: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type JobOutput = z.infer<typeof jobOutput>;

type JobRow = Awaited<ReturnType<typeof getJob>>;

function toJobOutput(row: JobRow & { waiting?: string | null }): JobOutput {
  return {
    id: row.id,
    projectId: row.projectId,
    runId: row.runId,
    type: row.type,
    spec: row.spec,
    status: row.status,
    attempts: row.attempts,
    maxAttempts: row.maxAttempts,
    agentId: row.leaseOwner,
    step: row.step,
    error: row.error,
    waiting: row.waiting ?? null,
    datasetLabel: row.datasetLabel,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** What job operations need besides the database: whom they tell. */
export interface JobServices {
  db: Db;
  events: Pick<RunEvents, 'emitJob'>;
  /** The agents' gateway (null where none runs): who is connected, and cancel a lease. */
  agents: {
    connectedAgents(): ReadonlySet<string>;
    cancel(jobId: string, leaseId: string | null, agentId: string | null, reason: string): void;
  } | null;
}

async function views(s: JobServices, orgId: string, rows: JobRow[]): Promise<JobOutput[]> {
  const reasoned = await withWaitReasons(s.db, orgId, rows, s.agents?.connectedAgents());
  return reasoned.map(toJobOutput);
}

/** A project's jobs, newest first, each queued one with the reason it waits. */
export async function listJobViews(s: JobServices, orgId: string, projectId: string) {
  return views(s, orgId, await listJobs(s.db, orgId, projectId));
}

/** One job as the API shows it; NOT_FOUND outside the caller's organization. */
export async function getJobView(s: JobServices, orgId: string, jobId: string) {
  const [view] = await views(s, orgId, [await getJob(s.db, orgId, jobId)]);
  if (!view) throw new AppError('NOT_FOUND', `jobId: no job ${jobId}`);
  return view;
}

/** Queues a job (and its run) and tells the project's watchers. */
export async function submitJob(
  s: JobServices,
  caller: { orgId: string; userId: string },
  projectId: string,
  input: z.infer<typeof createJobInput>,
) {
  const job = await createJob(s.db, caller.orgId, caller.userId, projectId, input);
  s.events.emitJob({ projectId, jobId: job.id, status: 'queued' });
  return getJobView(s, caller.orgId, job.id);
}

/** Cancels a job; the agent holding it is told to stop at once. */
export async function cancelJobAndNotify(s: JobServices, orgId: string, jobId: string) {
  const before = await cancelJob(s.db, orgId, jobId);
  s.agents?.cancel(before.id, before.leaseId, before.leaseOwner, 'cancelled');
  s.events.emitJob({ projectId: before.projectId, jobId: before.id, status: 'cancelled' });
  return getJobView(s, orgId, jobId);
}

/** Queues a failed or cancelled job again (it resumes from its last checkpoint). */
export async function retryJobAndNotify(s: JobServices, orgId: string, jobId: string) {
  const job = await retryJob(s.db, orgId, jobId);
  s.events.emitJob({ projectId: job.projectId, jobId: job.id, status: 'queued' });
  return getJobView(s, orgId, jobId);
}
