import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Db } from '@anneal/db/client';
import {
  type AgentMessage,
  CLOSE_CODES,
  CLOSE_REASONS,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  parseAgentMessage,
  type ServerMessage,
} from '@anneal/protocol';
import { type WebSocket, WebSocketServer } from 'ws';
import { tokenPrincipal } from '../domain/accounts/tokens.ts';
import { registerAgent, revokedTokenIds, touchAgent } from '../domain/agents/agents.ts';
import { recordCompletion } from '../domain/jobs/complete.ts';
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
import { CHECKPOINT_PREFIX } from '../domain/jobs/jobs.ts';
import {
  checkLease,
  expireLeases,
  finishJob,
  type Lease,
  leaseNextJob,
  markRunning,
  recordCheckpoint,
  renewLeases,
} from '../domain/jobs/leases.ts';
import {
  type AgentRoom,
  agentBudget,
  fitsAgent,
  type QueuedJob,
} from '../domain/jobs/requirements.ts';
import { logMetrics } from '../domain/runs/metrics.ts';
import type { RunEvents } from '../events.ts';
import type { ServingRouter } from '../serving/router.ts';

export interface GatewayOptions {
  /** How long a lease lasts without a heartbeat. */
  leaseMs: number;
  /** How often the gateway sweeps expired leases and offers queued jobs. */
  tickMs: number;
  /** Malformed frames tolerated per connection per minute before it is closed. */
  malformedPerMinute: number;
  /**
   * How long the ranks of a group lease have to fetch their inputs and say where they
   * listen before the attempt ends for all of them (ANNEAL_GROUP_START_MS).
   */
  groupStartMs: number;
  log?: (line: string) => void;
}

interface Connection {
  ws: WebSocket;
  tokenId: string;
  orgId: string;
  agentId: string | null;
  capacity: number;
  /** Hardware and memory budget from hello: jobs that need more are not offered. */
  room: AgentRoom | null;
  malformed: { count: number; since: number };
  /**
   * Offers in flight (this connection's own, or a group's it is a member of), so one free
   * slot is never leased twice.
   */
  offering: boolean;
  chain: Promise<void>;
  pending: number;
  /**
   * Leases offered that the agent's heartbeats do not list yet: a heartbeat sent before
   * an offer arrived reports capacity the offer already took.
   */
  offered: Map<string, number>;
}

const MAX_PENDING = 2000;

/**
 * The agents' WebSocket at `/agent`: authenticates agent tokens, keeps each agent's
 * hardware and liveness, leases queued jobs to agents with free capacity, renews leases on
 * heartbeats, and stores what agents report under their lease. Every handler catches its
 * own errors: a bad frame is answered with `error`, never a crash.
 */
export class AgentGateway {
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  readonly #connections = new Set<Connection>();
  readonly #timer: NodeJS.Timeout;
  #ticking = false;
  readonly #startedAt = Date.now();
  #closed = false;
  readonly #log: (line: string) => void;
  /** Deployment replicas on the agents; set by the services that create both. */
  serving: ServingRouter | null = null;

  constructor(
    private readonly db: Db,
    private readonly events: RunEvents,
    readonly options: GatewayOptions,
  ) {
    this.#log = options.log ?? ((line) => console.error(`[anneal-server] agents: ${line}`));
    this.#timer = setInterval(() => void this.#tick(), options.tickMs);
    this.#timer.unref();
  }

  #heartbeatMs(): number {
    return Math.max(50, Math.floor(this.options.leaseMs / 3));
  }

  /** For the upgrade router: `upgrades.register('/agent', gateway.upgrade)`. */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    void this.#authenticate(req).then(
      (auth) => {
        if (!auth) {
          socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
          return;
        }
        this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, auth));
      },
      (err) => {
        this.#log(`upgrade failed: ${(err as Error).message}`);
        socket.destroy();
      },
    );
  };

  async #authenticate(req: IncomingMessage) {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) return null;
    const principal = await tokenPrincipal(this.db, match[1]);
    if (principal?.via !== 'agent') return null;
    return { tokenId: principal.credentialId, orgId: principal.orgId };
  }

  #accept(ws: WebSocket, auth: { tokenId: string; orgId: string }): void {
    const conn: Connection = {
      ws,
      ...auth,
      agentId: null,
      capacity: 0,
      room: null,
      malformed: { count: 0, since: Date.now() },
      offering: false,
      chain: Promise.resolve(),
      pending: 0,
      offered: new Map(),
    };
    this.#connections.add(conn);
    const helloTimer = setTimeout(() => {
      if (!conn.agentId)
        ws.close(CLOSE_CODES.helloTimeout, CLOSE_REASONS[CLOSE_CODES.helloTimeout]?.message);
    }, 10_000);
    helloTimer.unref();
    // One message at a time per connection, in order: metrics must land before the
    // `job_complete` that follows them. A client that outruns the database is cut off.
    ws.on('message', (data, isBinary) => {
      if (++conn.pending > MAX_PENDING) {
        ws.close(CLOSE_CODES.malformedFlood, 'too many messages in flight');
        return;
      }
      conn.chain = conn.chain
        .then(() => {
          if (ws.readyState !== ws.OPEN || this.#closed) return;
          return this.#receive(conn, isBinary ? null : (data as Buffer));
        })
        .catch((err) => {
          this.#log(`handler error: ${(err as Error).stack ?? err}`);
          this.#send(conn, { type: 'error', code: 'internal', message: 'internal error' });
        })
        .finally(() => {
          conn.pending -= 1;
        });
    });
    ws.on('error', (err) => this.#log(`socket error: ${err.message}`));
    ws.on('close', () => {
      clearTimeout(helloTimer);
      this.#connections.delete(conn);
      const agentId = conn.agentId;
      if (agentId && ![...this.#connections].some((c) => c.agentId === agentId))
        this.serving?.agentGone(agentId);
    });
  }

  #send(conn: Connection, message: ServerMessage): void {
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(JSON.stringify(message));
  }

  #malformed(conn: Connection, error: string, jobId?: string): void {
    const now = Date.now();
    if (now - conn.malformed.since > 60_000) conn.malformed = { count: 0, since: now };
    conn.malformed.count += 1;
    // Logged, but not without bound: a flood would drown the server's log.
    if (conn.malformed.count <= 10)
      this.#log(`malformed message from agent ${conn.agentId ?? '(no hello)'}: ${error}`);
    this.#send(conn, { type: 'error', code: 'malformed', message: error, jobId });
    if (conn.malformed.count > this.options.malformedPerMinute)
      conn.ws.close(CLOSE_CODES.malformedFlood, CLOSE_REASONS[CLOSE_CODES.malformedFlood]?.message);
  }

  async #receive(conn: Connection, data: Buffer | null): Promise<void> {
    if (!data) return this.#malformed(conn, 'binary frames are not part of the protocol');
    const parsed = parseAgentMessage(data);
    if (!parsed.ok) return this.#malformed(conn, parsed.error);
    const message = parsed.message;
    if (message.type === 'hello') return this.#hello(conn, message);
    if (!conn.agentId) return this.#malformed(conn, `${message.type} before hello`);
    const agentId = conn.agentId;
    if (
      message.type === 'replica_status' ||
      message.type === 'generate_result' ||
      message.type === 'generate_failed'
    )
      return this.serving?.receive(agentId, message);
    if (message.type === 'heartbeat') {
      // A heartbeat sent a full interval after an offer reflects it either way (the job
      // is listed, or already over): only younger offers still count against capacity.
      const settled = Date.now() - this.#heartbeatMs();
      for (const [leaseId, at] of conn.offered) if (at < settled) conn.offered.delete(leaseId);
      for (const held of message.leases) conn.offered.delete(held.leaseId);
      conn.capacity = Math.max(0, message.capacity - conn.offered.size);
      const lost = await renewLeases(this.db, agentId, message.leases, this.options.leaseMs);
      await touchAgent(this.db, agentId);
      this.#send(conn, { type: 'heartbeat_ack', seq: message.seq, lost });
      return;
    }
    const lease = await checkLease(this.db, agentId, message.jobId, message.leaseId);
    if (!lease.ok) {
      this.#log(`refused ${message.type} for job ${message.jobId}: ${lease.code}`);
      this.#send(conn, {
        type: 'error',
        code: lease.code,
        message: `${message.type}: ${lease.code.replace('_', ' ')} for job ${message.jobId}`,
        jobId: message.jobId,
      });
      // A stale journal entry is settled too: the agent must not replay it forever.
      if ('ref' in message && message.ref !== undefined)
        this.#send(conn, { type: 'ack', ref: message.ref });
      return;
    }
    await this.#leased(conn, message, lease);
    if ('ref' in message && message.ref !== undefined)
      this.#send(conn, { type: 'ack', ref: message.ref });
  }

  async #hello(conn: Connection, hello: Extract<AgentMessage, { type: 'hello' }>) {
    const helloAt = Date.now();
    if (hello.protocolVersion !== PROTOCOL_VERSION) {
      conn.ws.close(
        CLOSE_CODES.versionMismatch,
        `protocol ${hello.protocolVersion} is not the server's ${PROTOCOL_VERSION}`,
      );
      return;
    }
    // One agent per token: a reconnect finds its row and takes over from a stale socket.
    const memoryBudgetBytes = agentBudget(hello.hardware, hello.memoryBudgetBytes);
    const agentId = await registerAgent(this.db, {
      tokenId: conn.tokenId,
      orgId: conn.orgId,
      name: hello.name,
      version: hello.agentVersion,
      // The budget and features are kept beside the probe so job pages can say which agent
      // could take a job.
      hardware: {
        ...hello.hardware,
        memoryBudgetBytes,
        features: hello.features,
      } as unknown as Record<string, unknown>,
    });
    for (const other of this.#connections) {
      if (other !== conn && other.agentId === agentId)
        other.ws.close(CLOSE_CODES.replaced, CLOSE_REASONS[CLOSE_CODES.replaced]?.message);
    }
    conn.agentId = agentId;
    conn.capacity = hello.capacity;
    conn.room = {
      id: agentId,
      name: hello.name,
      hardware: hello.hardware,
      memoryBudgetBytes,
      version: hello.agentVersion,
      features: hello.features,
    };
    await renewLeases(this.db, agentId, hello.leases, this.options.leaseMs);
    this.#send(conn, {
      type: 'welcome',
      agentId,
      protocolVersion: PROTOCOL_VERSION,
      heartbeatMs: this.#heartbeatMs(),
      leaseMs: this.options.leaseMs,
    });
    // A group's start sent while this agent was away (or before a restart) comes again.
    const held = hello.leases.map((l) => l.leaseId);
    for (const start of await startsFor(this.db, agentId, held))
      this.#sendStarts(start.jobId, start);
    if (hello.features.includes('serve'))
      await this.serving?.agentReady(agentId, hello.name, hello.replicas, helloAt);
    await this.#offerGroups();
    await this.#offer(conn);
  }

  async #leased(
    conn: Connection,
    message: Exclude<
      AgentMessage,
      { type: 'hello' | 'heartbeat' | 'replica_status' | 'generate_result' | 'generate_failed' }
    >,
    lease: {
      runId: string;
      orgId: string;
      rank: number;
      job: {
        id: string;
        type: string;
        projectId: string;
        spec: unknown;
        leaseId: string | null;
      };
    },
  ) {
    const { runId } = lease;
    const agentId = conn.agentId ?? '';
    const job = { projectId: lease.job.projectId, jobId: message.jobId };
    if (message.type === 'job_group_ready') return this.#ready(message, runId);
    if (lease.rank > 0) return this.#rank(conn, message, lease);
    switch (message.type) {
      case 'job_accept':
        await markRunning(this.db, message.jobId, message.leaseId);
        this.events.emit({ type: 'status', runId, status: 'running' });
        this.events.emitJob({ ...job, status: 'running' });
        return;
      case 'job_progress':
        this.events.emit({ type: 'status', runId, status: 'running' });
        this.events.emitJob({
          ...job,
          status: 'running',
          step: message.step,
          total: message.total,
          ...(message.message ? { phase: message.message } : {}),
          ...(message.etaS !== undefined
            ? { etaS: message.etaS, etaLowerBound: message.etaLowerBound ?? false }
            : {}),
        });
        return;
      case 'job_metrics':
        await logMetrics(this.db, lease.orgId, runId, message.points);
        this.events.emit({
          type: 'metrics',
          runId,
          keys: [...new Set(message.points.map((p) => p.key))],
        });
        return;
      case 'job_artifact':
        if (
          message.checkpointStep !== undefined &&
          message.artifact.path.startsWith(CHECKPOINT_PREFIX)
        )
          await recordCheckpoint(this.db, runId, message.checkpointStep);
        this.events.emit({ type: 'artifacts', runId });
        return;
      case 'job_complete': {
        // Recorded before the job reads as succeeded, so whoever waits on the job finds its
        // model or result (the lease was checked just above; registration is once per run).
        const refused = await recordCompletion(this.db, {
          orgId: lease.orgId,
          agentId,
          job: lease.job,
          runId,
          summary: message.summary,
        });
        const outcome = refused ? 'failed' : 'succeeded';
        return this.#finished(conn, message, runId, job.projectId, outcome, refused);
      }
      case 'job_fail': {
        const outcome = message.retryable ? 'retry' : 'failed';
        return this.#finished(
          conn,
          message,
          runId,
          job.projectId,
          outcome,
          message.reason,
          message.log,
        );
      }
    }
  }

  /** A lease ended (complete or fail): finish the job, tell watchers, offer the freed slot. */
  async #finished(
    conn: Connection,
    lease: { jobId: string; leaseId: string },
    runId: string,
    projectId: string,
    outcome: 'succeeded' | 'failed' | 'retry',
    reason: string | null,
    log: string[] = [],
  ) {
    conn.offered.delete(lease.leaseId);
    const done = await finishJob(this.db, lease.jobId, lease.leaseId, outcome, reason, log);
    if (done && outcome !== 'succeeded') this.events.emit({ type: 'logs', runId });
    // A group's other ranks cannot go on without this one: their attempt is over too.
    if (done && outcome !== 'succeeded')
      await this.#endGroup(lease.jobId, lease.leaseId, reason ?? 'rank 0 stopped', [lease.leaseId]);
    const status = done?.status ?? (outcome === 'retry' ? 'failed' : outcome);
    this.events.emit({ type: 'status', runId, status });
    this.events.emitJob({ projectId, jobId: lease.jobId, status });
    conn.capacity += 1;
    await this.#offerGroups();
    await this.#offer(conn);
  }

  /** A rank said where it listens; the last of its group to say starts them all. */
  async #ready(message: Extract<AgentMessage, { type: 'job_group_ready' }>, runId: string) {
    const { recorded, start } = await markReady(
      this.db,
      message.jobId,
      message.leaseId,
      message.address,
    );
    // The run page's Ranks card shows who is ready.
    if (recorded) this.events.emit({ type: 'group', runId });
    if (!start) return;
    if (recorded)
      this.#log(`group of job ${message.jobId} ready: ${start.hosts.map((h) => h[0]).join(' ')}`);
    this.#sendStarts(message.jobId, start);
  }

  #sendStarts(jobId: string, start: GroupStart) {
    for (const m of start.members)
      if (m.agentId)
        this.sendTo(m.agentId, {
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
  async #rank(
    conn: Connection,
    message: Exclude<
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
    >,
    lease: { runId: string; rank: number; job: { projectId: string; leaseId: string | null } },
  ) {
    switch (message.type) {
      case 'job_accept':
      case 'job_progress':
        return;
      case 'job_complete':
        conn.offered.delete(message.leaseId);
        conn.capacity += 1;
        await finishMember(this.db, message.leaseId);
        await this.#offerGroups();
        await this.#offer(conn);
        return;
      case 'job_fail': {
        conn.offered.delete(message.leaseId);
        conn.capacity += 1;
        const group = lease.job.leaseId;
        if (!group) return;
        const reason = `rank ${lease.rank}: ${message.reason}`;
        const done = await finishJob(
          this.db,
          message.jobId,
          group,
          message.retryable ? 'retry' : 'failed',
          reason,
          message.log?.map((l) => `[rank ${lease.rank}] ${l}`),
        );
        if (!done) return;
        this.events.emit({ type: 'logs', runId: lease.runId });
        this.events.emit({ type: 'status', runId: lease.runId, status: done.status });
        this.events.emitJob({
          projectId: lease.job.projectId,
          jobId: message.jobId,
          status: done.status,
        });
        await this.#endGroup(message.jobId, group, reason, [message.leaseId]);
        await this.#offerGroups();
        await this.#offer(conn);
        return;
      }
      default:
        // Metrics, artifacts and the like are rank 0's to send.
        this.#send(conn, {
          type: 'error',
          code: 'not_yours',
          message: `${message.type}: rank ${lease.rank} of job ${message.jobId} reports only its end; rank 0 reports for the job`,
          jobId: message.jobId,
        });
    }
  }

  /** Tells a group's ranks (but `except`) that their attempt is over. */
  async #endGroup(jobId: string, groupLeaseId: string, reason: string, except: string[]) {
    for (const m of await groupMembers(this.db, groupLeaseId)) {
      if (!m.agentId || except.includes(m.leaseId)) continue;
      this.#cancelRank(jobId, m.leaseId, m.agentId, `the group's attempt ended: ${reason}`);
    }
  }

  /**
   * Leases data-parallel jobs, oldest first, to groups of connected agents that are free at
   * once and can each take a rank (all or nothing); the ranks' offers go out together.
   */
  async #offerGroups(): Promise<void> {
    const free = [...this.#connections].filter(
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
        await this.#offerGroupsOf(orgId, conns);
      } catch (err) {
        // One organization's failure must not stop the others, nor the ordinary offers after.
        this.#log(`leasing groups in organization ${orgId} failed: ${(err as Error).message}`);
      }
    }
  }

  /** The free agents `conns` of one organization, leased to its oldest group jobs that fit. */
  async #offerGroupsOf(orgId: string, conns: Connection[]): Promise<void> {
    let after: { createdAt: string; id: string } | null = null;
    for (;;) {
      const free = conns.filter((c) => c.capacity > 0 && c.ws.readyState === c.ws.OPEN);
      if (free.length < 2) return;
      const page = await queuedGroupJobs(this.db, orgId, free.length, after);
      for (const job of page) await this.#offerGroup(job, conns);
      const last = page.at(-1);
      if (!last || page.length < GROUP_PAGE) return;
      after = { createdAt: last.createdAt, id: last.id };
    }
  }

  async #offerGroup(job: QueuedJob & { id: string; ranks: number }, conns: Connection[]) {
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
        this.db,
        job.id,
        members.map((m) => m.agentId as string),
        this.options.leaseMs,
      );
    } catch (err) {
      // One job that cannot be leased must not stop the others (nor the ordinary jobs the
      // tick offers next).
      this.#log(`leasing job ${job.id} to a group failed: ${(err as Error).message}`);
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
          : [...this.#connections].find(
              (c) =>
                c.agentId === member.agentId && c.ws.readyState === c.ws.OPEN && c.capacity > 0,
            );
      if (!conn) return;
      conn.capacity -= 1;
      this.#sendOffer(conn, lease, { rank, size: job.ranks });
    });
    this.#log(
      `leased job ${job.id} (attempt ${leases[0]?.attempt}) to a group of ${job.ranks}: ${members.map((m) => m.room?.name ?? m.agentId).join(', ')}`,
    );
    const first = leases[0];
    if (first) this.events.emit({ type: 'group', runId: first.runId });
    this.events.emitJob({ projectId: first?.projectId ?? null, jobId: job.id, status: 'leased' });
  }

  #sendOffer(conn: Connection, lease: Lease, group?: { rank: number; size: number }) {
    conn.offered.set(lease.leaseId, Date.now());
    this.#send(conn, {
      type: 'job_offer',
      jobId: lease.jobId,
      leaseId: lease.leaseId,
      runId: lease.runId,
      projectId: lease.projectId,
      leaseExpiresAt: lease.leaseExpiresAt.toISOString(),
      attempt: lease.attempt,
      job: lease.job,
      resume: lease.resume,
      sourceDataset: lease.sourceDataset,
      ...(group ? { group } : {}),
    });
  }

  /** Ends the attempts of groups whose ranks did not all become ready in time. */
  async #stalled(): Promise<void> {
    const limit = this.options.groupStartMs;
    for (const g of await stalledGroups(this.db, limit)) {
      const reason = `rank ${g.rank} (${g.agent ?? 'an agent since removed'}) was not ready within ${Math.round(limit / 1000)} s`;
      const done = await finishJob(this.db, g.jobId, g.groupLeaseId, 'retry', reason);
      if (!done) continue;
      this.#log(`job ${g.jobId}: ${reason}`);
      this.events.emit({ type: 'status', runId: g.runId, status: done.status });
      this.events.emit({ type: 'group', runId: g.runId });
      this.events.emitJob({ projectId: g.projectId, jobId: g.jobId, status: done.status });
      await this.#endGroup(g.jobId, g.groupLeaseId, reason, []);
    }
  }

  /** Leases queued jobs to a connection while it has free capacity. */
  async #offer(conn: Connection): Promise<void> {
    if (conn.offering || !conn.agentId) return;
    conn.offering = true;
    try {
      while (conn.capacity > 0 && conn.ws.readyState === conn.ws.OPEN) {
        const room = conn.room;
        const lease = await leaseNextJob(
          this.db,
          { id: conn.agentId, orgId: conn.orgId },
          this.options.leaseMs,
          (job) => !room || fitsAgent(job, room),
        );
        if (!lease) return;
        conn.capacity -= 1;
        this.#sendOffer(conn, lease);
        this.#log(`leased job ${lease.jobId} (attempt ${lease.attempt}) to agent ${conn.agentId}`);
        this.events.emitJob({ projectId: lease.projectId, jobId: lease.jobId, status: 'leased' });
      }
    } finally {
      conn.offering = false;
    }
  }

  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      // A server that just started gives agents one lease length to reconnect and renew
      // before it takes their jobs back: a restart alone loses no work.
      const expired =
        Date.now() - this.#startedAt >= this.options.leaseMs ? await expireLeases(this.db) : [];
      if (expired.length) {
        this.#log(`leases expired: ${expired.join(', ')}`);
        this.events.emitJob({ projectId: null, jobId: null });
      }
      await this.#closeRevoked();
      await this.#stalled();
      await this.#offerGroups();
      for (const conn of this.#connections) await this.#offer(conn);
    } catch (err) {
      this.#log(`tick failed: ${(err as Error).message}`);
    } finally {
      this.#ticking = false;
    }
  }

  /** Closes sockets whose token was revoked, also by another server process or the CLI. */
  async #closeRevoked(): Promise<void> {
    const ids = [...new Set([...this.#connections].map((c) => c.tokenId))];
    for (const id of await revokedTokenIds(this.db, ids)) this.revokeToken(id);
  }

  /** Closes every socket of a token at once; called where tokens are revoked. */
  revokeToken(tokenId: string): void {
    for (const conn of this.#connections) {
      if (conn.tokenId === tokenId) {
        conn.ws.close(CLOSE_CODES.revoked, CLOSE_REASONS[CLOSE_CODES.revoked]?.message);
        conn.ws.terminate();
      }
    }
  }

  /**
   * Tells the agent holding a job to stop it (cancel from the dashboard), and, when the lease
   * is a group's, every other rank of it.
   */
  cancel(jobId: string, leaseId: string | null, agentId: string | null, reason: string): void {
    if (!leaseId) return;
    if (agentId) this.#cancelRank(jobId, leaseId, agentId, reason);
    void this.#endGroup(jobId, leaseId, reason, [leaseId]).catch((err) =>
      this.#log(`cancelling the ranks of job ${jobId} failed: ${(err as Error).message}`),
    );
  }

  #cancelRank(jobId: string, leaseId: string, agentId: string, reason: string): void {
    for (const conn of this.#connections) {
      if (conn.agentId !== agentId) continue;
      conn.offered.delete(leaseId);
      this.#send(conn, { type: 'job_cancel', jobId, leaseId, reason });
    }
  }

  /** Sends to an agent's live socket (serving); false when it has none. */
  sendTo(agentId: string, message: ServerMessage): boolean {
    for (const conn of this.#connections)
      if (conn.agentId === agentId && conn.ws.readyState === conn.ws.OPEN) {
        this.#send(conn, message);
        return true;
      }
    return false;
  }

  /** Connected agents that host deployment replicas. */
  servingAgents(): { id: string; name: string }[] {
    return [...this.#connections].flatMap((c) =>
      c.agentId && c.room?.features.includes('serve') ? [{ id: c.agentId, name: c.room.name }] : [],
    );
  }

  /** Agent ids with a live socket. */
  connectedAgents(): Set<string> {
    return new Set([...this.#connections].flatMap((c) => (c.agentId ? [c.agentId] : [])));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.serving?.close();
    clearInterval(this.#timer);
    for (const conn of this.#connections) conn.ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}
