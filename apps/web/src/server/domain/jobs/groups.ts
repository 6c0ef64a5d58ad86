// Group leases: a data-parallel job (spec.ranks >= 2) is leased to that many agents at once,
// all or nothing, one rank each, and its attempt is one for the whole group. Rank 0 holds the
// job's own lease and reports for it; every rank holds a lease of its own in job_ranks,
// renewed by its heartbeats, and the job's lease runs out with the first of them. The ranks
// start when all of them have said where they listen (job_group_ready); one that does not
// within the start timeout, or fails, or stops answering, ends the attempt for all, and the
// job is leased again, to a new group that resumes from the last checkpoint.

import { randomUUID } from 'node:crypto';
import type { Db } from '@anneal/db/client';
import { agents, jobRanks, jobs } from '@anneal/db/schema';
import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import { getRun } from '../runs/runs.ts';
import { versionClassesSql } from './jobs.ts';
import { type Lease, leaseOf } from './leases.ts';
import type { QueuedJob, SourceTraining } from './requirements.ts';

const ACTIVE = ['leased', 'running'] as const;

/** The ranks a queued job asks for (1: an ordinary job). */
export function ranksOf(spec: unknown): number {
  const ranks = (spec as { ranks?: unknown } | null)?.ranks;
  return typeof ranks === 'number' && Number.isInteger(ranks) && ranks >= 2 ? ranks : 1;
}

/** Queued data-parallel jobs of an organization, oldest first, as assignment sees them. */
export async function queuedGroupJobs(
  db: Db,
  orgId: string,
  limit = 50,
): Promise<(QueuedJob & { id: string; ranks: number })[]> {
  const rows = await db.execute<{
    id: string;
    type: string;
    spec: unknown;
    version_classes: number | null;
    source: SourceTraining | null;
  }>(sql`
    select j.id, j.type, j.spec, ${versionClassesSql(sql`j.spec`)} as version_classes,
      null as source
    from jobs j join projects p on p.id = j.project_id
    where j.status = 'queued' and p.org_id = ${orgId} and p.deleted_at is null
      and (j.spec->'ranks') is not null
    order by j.created_at, j.id
    limit ${limit}`);
  return rows.map((r) => ({
    id: r.id,
    type: r.type,
    spec: r.spec,
    versionClasses: r.version_classes === null ? null : Number(r.version_classes),
    source: r.source,
    ranks: ranksOf(r.spec),
  }));
}

/**
 * Leases job `id` to `agentIds` (rank = position) if it is still queued: the job's lease is
 * rank 0's, and every rank gets a row in job_ranks with a lease of its own. One transaction:
 * the group is leased whole or not at all. Returns each rank's lease, or null.
 */
export async function leaseGroup(
  db: Db,
  id: string,
  agentIds: readonly string[],
  leaseMs: number,
): Promise<Lease[] | null> {
  const leased = await db.transaction(async (tx) => {
    const [row] = await tx.execute<{ id: string }>(sql`
      select id from jobs where id = ${id} and status = 'queued' for update skip locked`);
    if (!row) return null;
    const groupLeaseId = randomUUID();
    const leaseExpiresAt = new Date(Date.now() + leaseMs);
    const [job] = await tx
      .update(jobs)
      .set({
        status: 'leased',
        leaseId: groupLeaseId,
        leaseOwner: agentIds[0],
        leaseExpiresAt,
        attempts: sql`${jobs.attempts} + 1`,
        updatedAt: new Date(),
      })
      .where(eq(jobs.id, id))
      .returning();
    if (!job) return null;
    const members = agentIds.map((agentId, rank) => ({
      jobId: id,
      attempt: job.attempts,
      rank,
      groupLeaseId,
      leaseId: rank === 0 ? groupLeaseId : randomUUID(),
      agentId,
      leaseExpiresAt,
    }));
    await tx.insert(jobRanks).values(members);
    return { job, members };
  });
  if (!leased) return null;
  const lease = await leaseOf(db, { ...leased.job, source: null });
  if (!lease) return null;
  return leased.members.map((m) => ({ ...lease, leaseId: m.leaseId }));
}

/** The rank a member lease names, when it is one of the job's current group. */
export async function memberOf(db: Db, jobId: string, leaseId: string) {
  const [row] = await db
    .select({
      rank: jobRanks.rank,
      agentId: jobRanks.agentId,
      groupLeaseId: jobRanks.groupLeaseId,
      finishedAt: jobRanks.finishedAt,
    })
    .from(jobRanks)
    .where(and(eq(jobRanks.jobId, jobId), eq(jobRanks.leaseId, leaseId)));
  return row ?? null;
}

/**
 * Renews the member leases an agent still holds (of groups that are still their job's
 * attempt), then sets each touched job's lease to its group's earliest. Returns the lease
 * ids renewed.
 */
export async function renewMembers(
  db: Db,
  agentId: string,
  leaseIds: readonly string[],
  leaseMs: number,
): Promise<Set<string>> {
  if (leaseIds.length === 0) return new Set();
  const renewed = await db.execute<{ lease_id: string; job_id: string }>(sql`
    update job_ranks r set lease_expires_at = ${new Date(Date.now() + leaseMs).toISOString()}::timestamptz
    from jobs j
    where r.lease_id in (${sql.join(
      leaseIds.map((l) => sql`${l}::uuid`),
      sql`, `,
    )})
      and r.agent_id = ${agentId} and r.finished_at is null
      and j.id = r.job_id and j.lease_id = r.group_lease_id
      and j.status in ('leased', 'running')
    returning r.lease_id, r.job_id`);
  const jobIds = [...new Set(renewed.map((r) => r.job_id))];
  if (jobIds.length) await syncGroupExpiry(db, jobIds);
  return new Set(renewed.map((r) => r.lease_id));
}

/** A group job's lease lasts as long as its ranks' that have not finished, the first to go. */
async function syncGroupExpiry(db: Db, jobIds: readonly string[]) {
  await db.execute(sql`
    update jobs j set lease_expires_at = g.expires
    from (
      select r.job_id, min(r.lease_expires_at) as expires
      from job_ranks r join jobs jj on jj.id = r.job_id and jj.lease_id = r.group_lease_id
      where r.job_id in (${sql.join(
        jobIds.map((id) => sql`${id}::uuid`),
        sql`, `,
      )}) and r.finished_at is null
      group by r.job_id
    ) g
    where j.id = g.job_id and j.status in ('leased', 'running')`);
}

/**
 * Records where a rank listens. When it was the last rank to say, returns the group's hosts
 * in rank order (MLX's ring hostfile) and its members, so the caller starts them all; else
 * null. A rank that says twice (a replayed message) changes nothing.
 */
export async function markReady(
  db: Db,
  jobId: string,
  leaseId: string,
  address: string,
): Promise<{ hosts: string[][]; members: { agentId: string | null; leaseId: string }[] } | null> {
  return db.transaction(async (tx) => {
    const [member] = await tx
      .select({ groupLeaseId: jobRanks.groupLeaseId })
      .from(jobRanks)
      .where(and(eq(jobRanks.jobId, jobId), eq(jobRanks.leaseId, leaseId)));
    if (!member) return null;
    // The group's rows, locked: two ranks ready at once cannot both miss the other.
    const rows = await tx
      .select()
      .from(jobRanks)
      .where(eq(jobRanks.groupLeaseId, member.groupLeaseId))
      .orderBy(asc(jobRanks.rank))
      .for('update');
    const mine = rows.find((r) => r.leaseId === leaseId);
    if (!mine || mine.readyAt) return null;
    await tx
      .update(jobRanks)
      .set({ address, readyAt: new Date() })
      .where(eq(jobRanks.leaseId, leaseId));
    mine.address = address;
    if (rows.some((r) => r.address === null)) return null;
    return {
      hosts: rows.map((r) => [r.address as string]),
      members: rows.map((r) => ({ agentId: r.agentId, leaseId: r.leaseId })),
    };
  });
}

/** A rank other than 0 finished its part: it renews nothing more, and is not waited on. */
export async function finishMember(db: Db, leaseId: string) {
  await db
    .update(jobRanks)
    .set({ finishedAt: new Date() })
    .where(and(eq(jobRanks.leaseId, leaseId), isNull(jobRanks.finishedAt)));
}

/** The members of a group lease (to tell them the attempt is over). */
export async function groupMembers(db: Db, groupLeaseId: string) {
  return db
    .select({ rank: jobRanks.rank, agentId: jobRanks.agentId, leaseId: jobRanks.leaseId })
    .from(jobRanks)
    .where(eq(jobRanks.groupLeaseId, groupLeaseId))
    .orderBy(asc(jobRanks.rank));
}

/**
 * Current groups with a rank that has not said where it listens `startMs` after the lease:
 * each with the first such rank and its agent's name, for the reason the attempt ends.
 */
export async function stalledGroups(db: Db, startMs: number) {
  const rows = await db
    .select({
      jobId: jobRanks.jobId,
      groupLeaseId: jobRanks.groupLeaseId,
      rank: jobRanks.rank,
      agent: agents.name,
    })
    .from(jobRanks)
    .innerJoin(jobs, and(eq(jobs.id, jobRanks.jobId), eq(jobs.leaseId, jobRanks.groupLeaseId)))
    .leftJoin(agents, eq(agents.id, jobRanks.agentId))
    .where(
      and(
        inArray(jobs.status, [...ACTIVE]),
        isNull(jobRanks.readyAt),
        sql`${jobRanks.leasedAt} < ${new Date(Date.now() - startMs).toISOString()}::timestamptz`,
      ),
    )
    .orderBy(asc(jobRanks.rank));
  const first = new Map<string, (typeof rows)[number]>();
  for (const r of rows) if (!first.has(r.jobId)) first.set(r.jobId, r);
  return [...first.values()];
}

/**
 * A run's data-parallel group, attempt by attempt (the newest first), for the run page:
 * each rank's agent, where it listened, and when it was leased, ready and finished. Null
 * for a run whose job is not data-parallel.
 */
export async function runGroup(db: Db, orgId: string, runId: string) {
  const run = await getRun(db, orgId, runId);
  if (!run.jobId) return null;
  const [job] = await db.select({ spec: jobs.spec }).from(jobs).where(eq(jobs.id, run.jobId));
  const ranks = ranksOf(job?.spec);
  if (ranks < 2) return null;
  const rows = await db
    .select({
      attempt: jobRanks.attempt,
      rank: jobRanks.rank,
      agentId: jobRanks.agentId,
      agent: agents.name,
      address: jobRanks.address,
      leasedAt: jobRanks.leasedAt,
      readyAt: jobRanks.readyAt,
      finishedAt: jobRanks.finishedAt,
    })
    .from(jobRanks)
    .leftJoin(agents, eq(agents.id, jobRanks.agentId))
    .where(eq(jobRanks.jobId, run.jobId))
    .orderBy(sql`${jobRanks.attempt} desc`, asc(jobRanks.rank));
  const attempts = new Map<number, typeof rows>();
  for (const r of rows) attempts.set(r.attempt, [...(attempts.get(r.attempt) ?? []), r]);
  return {
    ranks,
    attempts: [...attempts].map(([attempt, members]) => ({
      attempt,
      members: members.map(({ attempt: _, ...m }) => m),
    })),
  };
}
