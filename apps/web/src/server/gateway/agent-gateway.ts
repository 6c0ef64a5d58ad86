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
import { type AgentRoom, agentBudget, fitsAgent } from '../domain/jobs/requirements.ts';
import { logMetrics } from '../domain/runs/metrics.ts';
import type { RunEvents } from '../events.ts';
import type { ServingRouter } from '../serving/router.ts';
import { GroupOffers } from './group-offers.ts';

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

/** One agent socket, and what the gateway knows of the agent behind it. */
export interface Connection {
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
  readonly #groups: GroupOffers;
  /** Deployment replicas on the agents; set by the services that create both. */
  serving: ServingRouter | null = null;

  constructor(
    private readonly db: Db,
    private readonly events: RunEvents,
    readonly options: GatewayOptions,
  ) {
    this.#log = options.log ?? ((line) => console.error(`[anneal-server] agents: ${line}`));
    this.#groups = new GroupOffers({
      db,
      events,
      options,
      log: this.#log,
      connections: this.#connections,
      send: (conn, message) => this.#send(conn, message),
      sendOffer: (conn, lease, group) => this.#sendOffer(conn, lease, group),
      sendTo: (agentId, message) => this.sendTo(agentId, message),
      cancelRank: (jobId, leaseId, agentId, reason) =>
        this.#cancelRank(jobId, leaseId, agentId, reason),
      offer: (conn) => this.#offer(conn),
    });
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
    await this.#groups.resendStarts(agentId, held);
    if (hello.features.includes('serve'))
      await this.serving?.agentReady(agentId, hello.name, hello.replicas, helloAt);
    await this.#groups.offerGroups();
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
    if (message.type === 'job_group_ready') return this.#groups.ready(message, runId);
    if (lease.rank > 0) return this.#groups.rankMessage(conn, message, lease);
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
    if (done && outcome !== 'succeeded') {
      const why = reason ?? 'rank 0 stopped';
      await this.#groups.end(lease.jobId, lease.leaseId, why, [lease.leaseId]);
    }
    const status = done?.status ?? (outcome === 'retry' ? 'failed' : outcome);
    this.events.emit({ type: 'status', runId, status });
    this.events.emitJob({ projectId, jobId: lease.jobId, status });
    conn.capacity += 1;
    await this.#groups.offerGroups();
    await this.#offer(conn);
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
      await this.#groups.endStalled();
      await this.#groups.offerGroups();
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
    void this.#groups
      .end(jobId, leaseId, reason, [leaseId])
      .catch((err) =>
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
