// Group offers: the agent gateway's part in data-parallel jobs, leased to several connected
// agents at once as one group (all or nothing, one rank each). It offers queued group jobs to
// free agents, starts a group's ranks once all of them are ready, hears what the ranks other
// than 0 report, and ends a group's attempt for every rank when one fails, rank 0 stops, a
// rank is not ready in time, or the job is cancelled. The gateway owns the sockets; what a
// group lease is in the database is domain/jobs/groups.ts.

import type { Db } from '@anneal/db/client';
import type { AgentMessage, ServerMessage } from '@anneal/protocol';
import {
  finishMember,
  GROUP_PAGE,
  type GroupStart,
  groupMembers,
  leaseGroup,
  markReady,
  queuedGroupJobs,
  stalledGroups,
  startsFor,
} from '../domain/jobs/groups.ts';
import { finishJob, type Lease } from '../domain/jobs/leases.ts';
import { fitsAgent, type QueuedJob } from '../domain/jobs/requirements.ts';
import type { RunEvents } from '../events.ts';
import type { Connection, GatewayOptions } from './agent-gateway.ts';

/** What group offers may use of the gateway that owns them. */
export interface GroupOffersHost {
  db: Db;
  events: RunEvents;
  options: Pick<GatewayOptions, 'leaseMs' | 'groupStartMs'>;
  log: (line: string) => void;
  /** The gateway's live connections: read here, added and removed only by the gateway. */
  connections: ReadonlySet<Connection>;
  send: (conn: Connection, message: ServerMessage) => void;
  /** Sends a lease's `job_offer` and counts it against the connection until heartbeats list it. */
  sendOffer: (conn: Connection, lease: Lease, group: { rank: number; size: number }) => void;
  /** Sends to an agent's live socket; false when it has none. */
  sendTo: (agentId: string, message: ServerMessage) => boolean;
  /** Tells an agent to stop one lease (`job_cancel`). */
  cancelRank: (jobId: string, leaseId: string, agentId: string, reason: string) => void;
  /** Leases ordinary queued jobs to a connection while it has free capacity. */
  offer: (conn: Connection) => Promise<void>;
}

/** What a rank other than 0 may send under its lease (readiness is handled apart). */
type RankMessage = Exclude<
  AgentMessage,
  {
    type:
      | 'hello'
      | 'heartbeat'
      | 'replica_status'
      | 'generate_result'
      | 'generate_failed'
      | 'job_group_ready';
  }
>;

export class GroupOffers {
  constructor(private readonly host: GroupOffersHost) {}

  /** A rank said where it listens; the last of its group to say starts them all. */
  async ready(message: Extract<AgentMessage, { type: 'job_group_ready' }>, runId: string) {
    const { db, events, log } = this.host;
    const { recorded, start } = await markReady(
      db,
      message.jobId,
      message.leaseId,
      message.address,
    );
    // The run page's Ranks card shows who is ready.
    if (recorded) events.emit({ type: 'group', runId });
    if (!start) return;
    if (recorded)
      log(`group of job ${message.jobId} ready: ${start.hosts.map((h) => h[0]).join(' ')}`);
    this.#sendStarts(message.jobId, start);
  }

  /** A group's start sent while this agent was away (or before a restart) comes again. */
  async resendStarts(agentId: string, heldLeaseIds: string[]): Promise<void> {
    for (const start of await startsFor(this.host.db, agentId, heldLeaseIds))
      this.#sendStarts(start.jobId, start);
  }

  #sendStarts(jobId: string, start: GroupStart) {
    for (const m of start.members)
      if (m.agentId)
        this.host.sendTo(m.agentId, {
          type: 'job_group_start',
          jobId,
          leaseId: m.leaseId,
          hosts: start.hosts,
        });
  }

  /**
   * What a rank other than 0 reports: only its end. Rank 0 speaks for the job; a rank that
   * fails ends the attempt for the whole group (retried as the failure says), one that
   * finished is no longer waited on.
   */
  async rankMessage(
    conn: Connection,
    message: RankMessage,
    lease: { runId: string; rank: number; job: { projectId: string; leaseId: string | null } },
  ) {
    const { db, events } = this.host;
    switch (message.type) {
      case 'job_accept':
      case 'job_progress':
        return;
      case 'job_complete':
        conn.offered.delete(message.leaseId);
        conn.capacity += 1;
        await finishMember(db, message.leaseId);
        await this.offerGroups();
        await this.host.offer(conn);
        return;
      case 'job_fail': {
        conn.offered.delete(message.leaseId);
        conn.capacity += 1;
        const group = lease.job.leaseId;
        if (!group) return;
        const reason = `rank ${lease.rank}: ${message.reason}`;
        const done = await finishJob(
          db,
          message.jobId,
          group,
          message.retryable ? 'retry' : 'failed',
          reason,
          message.log?.map((l) => `[rank ${lease.rank}] ${l}`),
        );
        if (!done) return;
        events.emit({ type: 'logs', runId: lease.runId });
        events.emit({ type: 'status', runId: lease.runId, status: done.status });
        events.emitJob({
          projectId: lease.job.projectId,
          jobId: message.jobId,
          status: done.status,
        });
        await this.end(message.jobId, group, reason, [message.leaseId]);
        await this.offerGroups();
        await this.host.offer(conn);
        return;
      }
      default:
        // Metrics, artifacts and the like are rank 0's to send.
        this.host.send(conn, {
          type: 'error',
          code: 'not_yours',
          message: `${message.type}: rank ${lease.rank} of job ${message.jobId} reports only its end; rank 0 reports for the job`,
          jobId: message.jobId,
        });
    }
  }

  /** Tells a group's ranks (but `except`) that their attempt is over. */
  async end(jobId: string, groupLeaseId: string, reason: string, except: string[]) {
    for (const m of await groupMembers(this.host.db, groupLeaseId)) {
      if (!m.agentId || except.includes(m.leaseId)) continue;
      this.host.cancelRank(jobId, m.leaseId, m.agentId, `the group's attempt ended: ${reason}`);
    }
  }

  /** Ends the attempts of groups whose ranks did not all become ready in time. */
  async endStalled(): Promise<void> {
    const { db, events, log } = this.host;
    const limit = this.host.options.groupStartMs;
    for (const g of await stalledGroups(db, limit)) {
      const reason = `rank ${g.rank} (${g.agent ?? 'an agent since removed'}) was not ready within ${Math.round(limit / 1000)} s`;
      const done = await finishJob(db, g.jobId, g.groupLeaseId, 'retry', reason);
      if (!done) continue;
      log(`job ${g.jobId}: ${reason}`);
      events.emit({ type: 'status', runId: g.runId, status: done.status });
      events.emit({ type: 'group', runId: g.runId });
      events.emitJob({ projectId: g.projectId, jobId: g.jobId, status: done.status });
      await this.end(g.jobId, g.groupLeaseId, reason, []);
    }
  }

  /**
   * Leases data-parallel jobs, oldest first, to groups of connected agents that are free at
   * once and can each take a rank (all or nothing); the ranks' offers go out together.
   */
  async offerGroups(): Promise<void> {
    const free = [...this.host.connections].filter(
      (c) =>
        c.agentId &&
        c.room?.features.includes('train.ranks') &&
        c.capacity > 0 &&
        !c.offering &&
        c.ws.readyState === c.ws.OPEN,
    );
    // One rank per agent: an agent's second socket is not a second agent.
    const byOrg = new Map<string, Connection[]>();
    for (const c of free) {
      const list = byOrg.get(c.orgId) ?? [];
      if (!list.some((o) => o.agentId === c.agentId)) list.push(c);
      byOrg.set(c.orgId, list);
    }
    for (const [orgId, conns] of byOrg) {
      if (conns.length < 2) continue;
      try {
        await this.#offerInOrg(orgId, conns);
      } catch (err) {
        // One organization's failure must not stop the others, nor the ordinary offers after.
        this.host.log(`leasing groups in organization ${orgId} failed: ${(err as Error).message}`);
      }
    }
  }

  /** The free agents `conns` of one organization, leased to its oldest group jobs that fit. */
  async #offerInOrg(orgId: string, conns: Connection[]): Promise<void> {
    let after: { createdAt: string; id: string } | null = null;
    for (;;) {
      const free = conns.filter((c) => c.capacity > 0 && c.ws.readyState === c.ws.OPEN);
      if (free.length < 2) return;
      const page = await queuedGroupJobs(this.host.db, orgId, free.length, after);
      for (const job of page) await this.#offerJob(job, conns);
      const last = page.at(-1);
      if (!last || page.length < GROUP_PAGE) return;
      after = { createdAt: last.createdAt, id: last.id };
    }
  }

  /** Leases one group job to the first `job.ranks` of `conns` that are free and fit it. */
  async #offerJob(job: QueuedJob & { id: string; ranks: number }, conns: Connection[]) {
    const { db, events, log, options } = this.host;
    const members = conns
      .filter(
        (c) =>
          c.capacity > 0 &&
          !c.offering &&
          c.ws.readyState === c.ws.OPEN &&
          (!c.room || fitsAgent(job, c.room)),
      )
      .slice(0, job.ranks);
    if (members.length < job.ranks) return;
    for (const m of members) m.offering = true;
    let leases: Lease[] | null = null;
    try {
      leases = await leaseGroup(
        db,
        job.id,
        members.map((m) => m.agentId as string),
        options.leaseMs,
      );
    } catch (err) {
      // One job that cannot be leased must not stop the others (nor the ordinary jobs the
      // tick offers next).
      log(`leasing job ${job.id} to a group failed: ${(err as Error).message}`);
    } finally {
      for (const m of members) m.offering = false;
    }
    if (!leases) return;
    leases.forEach((lease, rank) => {
      // The member's socket, or the one it reconnected on while the lease was written (if it
      // has room): an offer to neither is not lost for long (the lease runs out, the job is
      // leased again).
      const member = members[rank] as Connection;
      const conn =
        member.ws.readyState === member.ws.OPEN
          ? member
          : [...this.host.connections].find(
              (c) =>
                c.agentId === member.agentId && c.ws.readyState === c.ws.OPEN && c.capacity > 0,
            );
      if (!conn) return;
      conn.capacity -= 1;
      this.host.sendOffer(conn, lease, { rank, size: job.ranks });
    });
    log(
      `leased job ${job.id} (attempt ${leases[0]?.attempt}) to a group of ${job.ranks}: ${members.map((m) => m.room?.name ?? m.agentId).join(', ')}`,
    );
    const first = leases[0];
    if (first) events.emit({ type: 'group', runId: first.runId });
    events.emitJob({ projectId: first?.projectId ?? null, jobId: job.id, status: 'leased' });
  }
}
