// Group leases: a data-parallel job (spec.ranks >= 2) is leased to that many agents at once,
// all or nothing, one rank each, and its attempt is one for the whole group. Rank 0 holds the
// job's own lease and reports for it; every rank holds a lease of its own in job_ranks,
// renewed by its heartbeats, and the job's lease runs out with the first of them. The ranks
// start when all of them have said where they listen (job_group_ready); one that does not
// within the start timeout, or fails, or stops answering, ends the attempt for all, and the
// job is leased again, to a new group that resumes from the last checkpoint.

import { randomUUID } from 'node:crypto';
import type { Db } from '@anneal/db/client';
import { agents, jobRanks, jobs, runs } from '@anneal/db/schema';
import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import { getRun } from '../runs/runs.ts';
import { versionClassesSql } from './jobs.ts';
import { type Lease, leaseOf } from './leases.ts';
import type { QueuedJob } from './requirements.ts';

const ACTIVE = ['leased', 'running'] as const;

/** The ranks a queued job asks for (1: an ordinary job). */
export function ranksOf(spec: unknown): number {
  const ranks = (spec as { ranks?: unknown } | null)?.ranks;
  return typeof ranks === 'number' && Number.isInteger(ranks) && ranks >= 2 ? ranks : 1;
}

/** Queued group jobs read per query. */
export const GROUP_PAGE = 50;

/**
 * Queued data-parallel jobs of an organization that ask for no more than `free` agents (the
 * ones free now), oldest first, as assignment sees them, a page at a time: the next page
 * starts after `after`. A job for more agents than are free cannot be leased now, and must
 * not hide the ones behind it.
 */
export async function queuedGroupJobs(
  db: Db,
  orgId: string,
  free: number,
  after: { createdAt: string; id: string } | null = null,
  limit = GROUP_PAGE,
): Promise<(QueuedJob & { id: string; ranks: number; createdAt: string })[]> {
  const rows = await db.execute<{
    id: string;
    type: string;
    spec: unknown;
    created_at: string;
    version_classes: number | null;
  }>(sql`
    select j.id, j.type, j.spec, j.created_at::text as created_at,
      ${versionClassesSql(sql`j.spec`)} as version_classes
    from jobs j join projects p on p.id = j.project_id
    where j.status = 'queued' and p.org_id = ${orgId} and p.deleted_at is null
      and (case when jsonb_typeof(j.spec->'ranks') = 'number'
        then (j.spec->'ranks')::text::numeric end) <= ${free}
      ${after ? sql`and (j.created_at, j.id) > (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
    order by j.created_at, j.id
    limit ${limit}`);
  return rows.map((r) => ({
    id: r.id,
    type: r.type,
    spec: r.spec,
    createdAt: r.created_at,
    versionClasses: r.version_classes === null ? null : Number(r.version_classes),
    source: null,
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
 * Records where a rank listens (`recorded`: this was its first word). When every rank of its
 * group has said (this one last, or this one again: a start that may not have arrived is sent
 * again), `start` has the group's hosts in rank order (MLX's ring hostfile) and the members to
 * send them to. Nothing when the group is no longer its job's attempt.
 */
export async function markReady(
  db: Db,
  jobId: string,
  leaseId: string,
  address: string,
): Promise<{ recorded: boolean; start: GroupStart | null }> {
  const none = { recorded: false, start: null };
  return db.transaction(async (tx) => {
    const [member] = await tx
      .select({ groupLeaseId: jobRanks.groupLeaseId })
      .from(jobRanks)
      .where(and(eq(jobRanks.jobId, jobId), eq(jobRanks.leaseId, leaseId)));
    if (!member) return none;
    // The job's row, locked: an attempt that ended meanwhile starts nothing, and the group's
    // ranks say they are ready one at a time, so two at once cannot both miss the other.
    const [current] = await tx.execute<{ id: string }>(sql`
      select id from jobs where id = ${jobId} and lease_id = ${member.groupLeaseId}
        and status in ('leased', 'running') for no key update`);
    if (!current) return none;
    const rows = await tx
      .select()
      .from(jobRanks)
      .where(eq(jobRanks.groupLeaseId, member.groupLeaseId))
      .orderBy(asc(jobRanks.rank));
    const mine = rows.find((r) => r.leaseId === leaseId);
    if (!mine) return none;
    const again = mine.readyAt !== null;
    if (!again) {
      await tx
        .update(jobRanks)
        .set({ address, readyAt: new Date() })
        .where(eq(jobRanks.leaseId, leaseId));
      mine.address = address;
    }
    if (rows.some((r) => r.address === null)) return { recorded: !again, start: null };
    const hosts = rows.map((r) => [r.address as string]);
    const members = rows.map((r) => ({ agentId: r.agentId, leaseId: r.leaseId }));
    return {
      recorded: !again,
      start: { hosts, members: again ? members.filter((m) => m.leaseId === leaseId) : members },
    };
  });
}

export interface GroupStart {
  hosts: string[][];
  members: { agentId: string | null; leaseId: string }[];
}

/**
 * The starts owed to an agent that (re)connects holding these leases: for each of them a rank
 * of a current group whose ranks are all ready, the group's hosts. A start sent while the
 * agent was between sockets, or before the server restarted, is not lost.
 */
export async function startsFor(
  db: Db,
  agentId: string,
  leaseIds: readonly string[],
): Promise<(GroupStart & { jobId: string })[]> {
  if (leaseIds.length === 0) return [];
  const mine = await db
    .select({
      jobId: jobRanks.jobId,
      groupLeaseId: jobRanks.groupLeaseId,
      leaseId: jobRanks.leaseId,
    })
    .from(jobRanks)
    .innerJoin(jobs, and(eq(jobs.id, jobRanks.jobId), eq(jobs.leaseId, jobRanks.groupLeaseId)))
    .where(
      and(
        inArray(jobRanks.leaseId, [...leaseIds]),
        eq(jobRanks.agentId, agentId),
        inArray(jobs.status, [...ACTIVE]),
      ),
    );
  const out: (GroupStart & { jobId: string })[] = [];
  for (const m of mine) {
    const rows = await db
      .select({ rank: jobRanks.rank, address: jobRanks.address })
      .from(jobRanks)
      .where(eq(jobRanks.groupLeaseId, m.groupLeaseId))
      .orderBy(asc(jobRanks.rank));
    if (rows.some((r) => r.address === null)) continue;
    out.push({
      jobId: m.jobId,
      hosts: rows.map((r) => [r.address as string]),
      members: [{ agentId, leaseId: m.leaseId }],
    });
  }
  return out;
}

/** A rank other than 0 finished its part: it renews nothing more, and is not waited on. */
export async function finishMember(db: Db, leaseId: string) {
  const [row] = await db
    .update(jobRanks)
    .set({ finishedAt: new Date() })
    .where(and(eq(jobRanks.leaseId, leaseId), isNull(jobRanks.finishedAt)))
    .returning({ jobId: jobRanks.jobId });
  if (row) await syncGroupExpiry(db, [row.jobId]);
}

/** The members of a group lease (to tell them the attempt is over). */
export async function groupMembers(db: Db, groupLeaseId: string) {
  return db
    .select({ agentId: jobRanks.agentId, leaseId: jobRanks.leaseId })
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
      projectId: jobs.projectId,
      runId: runs.id,
      groupLeaseId: jobRanks.groupLeaseId,
      rank: jobRanks.rank,
      agent: agents.name,
    })
    .from(jobRanks)
    .innerJoin(jobs, and(eq(jobs.id, jobRanks.jobId), eq(jobs.leaseId, jobRanks.groupLeaseId)))
    .innerJoin(runs, eq(runs.jobId, jobs.id))
    .leftJoin(agents, eq(agents.id, jobRanks.agentId))
    .where(
      and(
        inArray(jobs.status, [...ACTIVE]),
        isNull(jobRanks.readyAt),
        // Both times on the database's clock (leased_at is its now()).
        sql`${jobRanks.leasedAt} < now() - make_interval(secs => ${startMs / 1000})`,
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
      groupLeaseId: jobRanks.groupLeaseId,
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
    .orderBy(sql`${jobRanks.leasedAt} desc`, asc(jobRanks.rank));
  // One group per attempt, the newest first (a retried job's attempts count from 1 again).
  const groups = new Map<string, typeof rows>();
  for (const r of rows) groups.set(r.groupLeaseId, [...(groups.get(r.groupLeaseId) ?? []), r]);
  return {
    ranks,
    // Numbered in order, oldest 1 (a retried job's own count starts again at 1).
    attempts: [...groups.values()].map((members, i) => ({
      attempt: groups.size - i,
      members: members.map(({ attempt: _, groupLeaseId: __, ...m }) => m),
    })),
  };
}
