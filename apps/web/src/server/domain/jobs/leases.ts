// Leases: a queued job offered to an agent that fits it, renewed by heartbeats, finished,
// expired back to the queue, and the runs an agent token may write while it holds one.

import { randomUUID } from 'node:crypto';
import { type DatasetRef, datasetRefSchema } from '@anneal/datasets/ref';
import type { Db } from '@anneal/db/client';
import { artifacts, jobs, projects, runLogs, runs } from '@anneal/db/schema';
import { type JobSpec, jobSpecSchema, SAMPLE_INDEX_ARTIFACT } from '@anneal/protocol';
import { and, eq, inArray, like, or, sql } from 'drizzle-orm';
import { memberOf, renewMembers } from './groups.ts';
import { CHECKPOINT_PREFIX, sourceTrainingSql, versionClassesSql } from './jobs.ts';
import type { QueuedJob, SourceTraining } from './requirements.ts';

const ACTIVE = ['leased', 'running'] as const;

export interface Lease {
  jobId: string;
  leaseId: string;
  runId: string;
  projectId: string;
  attempt: number;
  leaseExpiresAt: Date;
  job: JobSpec;
  resume: { step: number; artifacts: { path: string; sha256: string; size: number }[] } | null;
  /** For sample and evaluate jobs, the dataset the train job behind the checkpoint used. */
  sourceDataset: DatasetRef | null;
}

/** Queued jobs read per query while looking for one an agent can run. */
const CANDIDATE_PAGE = 50;

type Candidate = {
  id: string;
  type: string;
  spec: unknown;
  created_at: string;
  version_classes: number | null;
  source: SourceTraining | null;
};

/**
 * Leases the oldest queued job of the agent's organization that it can run. Candidates are
 * read without a lock, a page at a time in queue order, until one fits; only that row is
 * then locked (SKIP LOCKED), so agents leasing at once never block each other on jobs they
 * do not take, and a job one of them took is passed over for the next that fits.
 */
export async function leaseNextJob(
  db: Db,
  agent: { id: string; orgId: string },
  leaseMs: number,
  /** Whether the agent meets a job's requirements; jobs it cannot run stay queued. */
  fits: (job: QueuedJob) => boolean = () => true,
): Promise<Lease | null> {
  let leased: (typeof jobs.$inferSelect & { source: SourceTraining | null }) | null = null;
  let after: { createdAt: string; id: string } | null = null;
  for (;;) {
    const page: Candidate[] = await db.execute<Candidate>(sql`
      select j.id, j.type, j.spec, j.created_at::text as created_at,
        ${versionClassesSql(sql`j.spec`)} as version_classes,
        ${sourceTrainingSql(sql`j.spec`)} as source
      from jobs j join projects p on p.id = j.project_id
      where j.status = 'queued' and p.org_id = ${agent.orgId} and p.deleted_at is null
        and (j.spec->'ranks') is null
        ${after ? sql`and (j.created_at, j.id) > (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
      order by j.created_at, j.id
      limit ${CANDIDATE_PAGE}`);
    for (const j of page) {
      const fit = fits({
        type: j.type,
        spec: j.spec,
        versionClasses: j.version_classes === null ? null : Number(j.version_classes),
        source: j.source,
      });
      if (!fit) continue;
      const job = await lockAndLease(db, j.id, agent.id, leaseMs);
      if (job) {
        leased = { ...job, source: j.source };
        break;
      }
      // Taken by another agent since the page was read: on to the next that fits.
    }
    const last: Candidate | undefined = page.at(-1);
    if (leased || !last || page.length < CANDIDATE_PAGE) break;
    after = { createdAt: last.created_at, id: last.id };
  }
  return leased ? leaseOf(db, leased) : null;
}

/**
 * The offer for a job just leased: its run, its parsed spec (a spec that no longer parses
 * fails the job), and the run's last checkpoint when the job resumes.
 */
export async function leaseOf(
  db: Db,
  leased: typeof jobs.$inferSelect & { source: SourceTraining | null },
): Promise<Lease | null> {
  if (!leased.leaseId || !leased.leaseExpiresAt) return null;
  const [run] = await db.select().from(runs).where(eq(runs.jobId, leased.id));
  if (!run) return null;
  const parsed = jobSpecSchema.safeParse({ type: leased.type, spec: leased.spec });
  if (!parsed.success) {
    await finishJob(
      db,
      leased.id,
      leased.leaseId,
      'failed',
      `invalid spec: ${parsed.error.message}`,
    );
    return null;
  }
  const step = run.checkpointStep;
  let resume: Lease['resume'] = null;
  if (step !== null && step > 0) {
    // The checkpoint, and the grids' index, so the resumed sitting adds its frames to every
    // earlier one instead of starting a new index that would replace the uploaded one.
    const files = await db
      .select({ path: artifacts.path, sha256: artifacts.sha256, size: artifacts.size })
      .from(artifacts)
      .where(
        and(
          eq(artifacts.runId, run.id),
          or(
            like(artifacts.path, `${CHECKPOINT_PREFIX}%`),
            eq(artifacts.path, SAMPLE_INDEX_ARTIFACT),
          ),
        ),
      );
    resume = { step, artifacts: files };
  }
  return {
    jobId: leased.id,
    leaseId: leased.leaseId,
    runId: run.id,
    projectId: leased.projectId,
    attempt: leased.attempts,
    leaseExpiresAt: leased.leaseExpiresAt,
    job: parsed.data,
    resume,
    sourceDataset: sourceDatasetOf(leased.source),
  };
}

/** The dataset ref of a source train job's spec; null when there is none or it is not valid. */
function sourceDatasetOf(source: SourceTraining | null): DatasetRef | null {
  const spec = source?.spec as { dataset?: unknown } | null | undefined;
  const ref = datasetRefSchema.safeParse(spec?.dataset);
  return ref.success ? ref.data : null;
}

/** Leases job `id` to the agent if it is still queued and no other lease holds its row. */
async function lockAndLease(db: Db, id: string, agentId: string, leaseMs: number) {
  return db.transaction(async (tx) => {
    const [row] = await tx.execute<{ id: string }>(sql`
      select id from jobs where id = ${id} and status = 'queued' for update skip locked`);
    if (!row) return null;
    const [job] = await tx
      .update(jobs)
      .set({
        status: 'leased',
        leaseId: randomUUID(),
        leaseOwner: agentId,
        leaseExpiresAt: new Date(Date.now() + leaseMs),
        attempts: sql`${jobs.attempts} + 1`,
        updatedAt: new Date(),
      })
      .where(eq(jobs.id, id))
      .returning();
    return job ?? null;
  });
}

/**
 * The job a (job, lease) pair names, when that lease is live and held by this agent, with
 * the rank it holds: 0 for the job's own lease (an ordinary job, or a group's rank 0), the
 * member's rank for another rank of the job's current group.
 */
export async function checkLease(db: Db, agentId: string, jobId: string, leaseId: string) {
  const [row] = await db
    .select({ job: jobs, runId: runs.id, orgId: projects.orgId })
    .from(jobs)
    .innerJoin(projects, eq(projects.id, jobs.projectId))
    .innerJoin(runs, eq(runs.jobId, jobs.id))
    .where(eq(jobs.id, jobId));
  if (!row) return { ok: false as const, code: 'unknown_job' as const };
  const live = (ACTIVE as readonly string[]).includes(row.job.status);
  const ok = { ok: true as const, job: row.job, runId: row.runId, orgId: row.orgId };
  if (row.job.leaseId !== leaseId) {
    const member = await memberOf(db, jobId, leaseId);
    if (member) {
      if (member.agentId !== agentId) return { ok: false as const, code: 'not_yours' as const };
      if (member.groupLeaseId !== row.job.leaseId || !live || member.finishedAt)
        return { ok: false as const, code: 'stale_lease' as const };
      return { ...ok, rank: member.rank };
    }
  }
  if (row.job.leaseOwner !== agentId) return { ok: false as const, code: 'not_yours' as const };
  if (row.job.leaseId !== leaseId || !live)
    return { ok: false as const, code: 'stale_lease' as const };
  return { ...ok, rank: 0 };
}

/** Renews the leases an agent still holds (its jobs' and its ranks'); returns those lost. */
export async function renewLeases(
  db: Db,
  agentId: string,
  held: { jobId: string; leaseId: string }[],
  leaseMs: number,
) {
  if (held.length === 0) return [];
  const renewed = await db
    .update(jobs)
    .set({ leaseExpiresAt: new Date(Date.now() + leaseMs) })
    .where(
      and(
        inArray(
          jobs.leaseId,
          held.map((h) => h.leaseId),
        ),
        eq(jobs.leaseOwner, agentId),
        inArray(jobs.status, [...ACTIVE]),
      ),
    )
    .returning({ leaseId: jobs.leaseId });
  // Ranks of a group, rank 0 included: its renewal above is then cut back to the group's
  // earliest lease.
  const members = await renewMembers(
    db,
    agentId,
    held.map((h) => h.leaseId),
    leaseMs,
  );
  const live = new Set([...renewed.map((r) => r.leaseId), ...members]);
  return held.filter((h) => !live.has(h.leaseId));
}

export async function markRunning(db: Db, jobId: string, leaseId: string) {
  await db.transaction(async (tx) => {
    const [job] = await tx
      .update(jobs)
      .set({ status: 'running', updatedAt: new Date() })
      .where(and(eq(jobs.id, jobId), eq(jobs.leaseId, leaseId), inArray(jobs.status, [...ACTIVE])))
      .returning({ id: jobs.id });
    if (job) await tx.update(runs).set({ status: 'running' }).where(eq(runs.jobId, jobId));
  });
}

/**
 * Ends a job under its lease: `succeeded`, `failed` (for good), or `retry` (back to the
 * queue while attempts remain). Refused (false) when the lease is no longer the job's.
 */
export async function finishJob(
  db: Db,
  jobId: string,
  leaseId: string,
  outcome: 'succeeded' | 'failed' | 'retry',
  error: string | null = null,
  /** A failed attempt's last output lines, appended to the run's logs after its reason. */
  log: string[] = [],
): Promise<{ status: string } | null> {
  return db.transaction(async (tx) => {
    const [job] = await tx
      .select()
      .from(jobs)
      .where(and(eq(jobs.id, jobId), eq(jobs.leaseId, leaseId), inArray(jobs.status, [...ACTIVE])))
      .for('update');
    if (!job) return null;
    const status =
      outcome === 'retry' ? (job.attempts < job.maxAttempts ? 'queued' : 'failed') : outcome;
    const reason =
      outcome === 'retry' && status === 'failed'
        ? `failed after ${job.attempts} attempts: ${error}`
        : error;
    await tx
      .update(jobs)
      .set({ status, leaseId: null, leaseExpiresAt: null, error: reason, updatedAt: new Date() })
      .where(eq(jobs.id, jobId));
    await tx
      .update(runs)
      .set({
        status: status === 'queued' ? 'queued' : status,
        endedAt: status === 'queued' ? null : new Date(),
      })
      .where(eq(runs.jobId, jobId));
    // The attempt's end in the run's logs, with its last output lines when there are any (a
    // child that printed nothing, a rank of a group, still says why its attempt ended).
    if (outcome !== 'succeeded' && (log.length > 0 || error)) {
      // Once per lease (the row lock above refuses a replay), after the run's other lines.
      const [run] = await tx.select({ id: runs.id }).from(runs).where(eq(runs.jobId, jobId));
      if (run) {
        const [last] = await tx
          .select({ seq: sql<number | null>`max(${runLogs.seq})` })
          .from(runLogs)
          .where(eq(runLogs.runId, run.id));
        const base = (last?.seq ?? -1) + 1;
        const lines = [`attempt ${job.attempts} failed: ${error ?? 'no reason given'}`, ...log];
        await tx
          .insert(runLogs)
          .values(lines.map((line, i) => ({ runId: run.id, seq: base + i, line })))
          .onConflictDoNothing();
      }
    }
    return { status };
  });
}

/**
 * Puts jobs whose lease ran out back in the queue (attempts were counted when leased);
 * past the limit they fail with the reason. Returns the jobs touched, for the logs.
 */
export async function expireLeases(db: Db) {
  return db.transaction(async (tx) => {
    const expired = await tx.execute<{ id: string; attempts: number; max_attempts: number }>(sql`
      select id, attempts, max_attempts from jobs
      where status in ('leased', 'running') and lease_expires_at < now()
      for update skip locked`);
    for (const job of expired) {
      const status = job.attempts < job.max_attempts ? 'queued' : 'failed';
      await tx
        .update(jobs)
        .set({
          status,
          leaseId: null,
          leaseExpiresAt: null,
          error:
            status === 'failed'
              ? `the lease expired on all ${job.attempts} attempts (the agent stopped answering)`
              : 'the lease expired; requeued',
          updatedAt: new Date(),
        })
        .where(eq(jobs.id, job.id));
      await tx
        .update(runs)
        .set({ status, endedAt: status === 'failed' ? new Date() : null })
        .where(eq(runs.jobId, job.id));
    }
    return expired.map((j) => j.id);
  });
}

/** Records that a run's checkpoint at `step` is fully uploaded under CHECKPOINT_PREFIX. */
export async function recordCheckpoint(db: Db, runId: string, step: number) {
  await db.update(runs).set({ checkpointStep: step }).where(eq(runs.id, runId));
}
