// The serving router: which replica answers which generation request. It keeps each
// deployment's bounded queue and each replica's one request in flight in memory, and
// reconciles the replicas in PostgreSQL with what each deployment asks for (how many, which
// version: an alias that moved gets new replicas, warm before the old ones drain and stop).
import { randomInt, randomUUID } from 'node:crypto';
import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import { deploymentReplicas, deployments, generationRequests } from '@anneal/db/schema';
import {
  type AgentMessage,
  type GenerateParams,
  type ImageRef,
  type ReplicaRequest,
  resolveSampling,
  type ServedSampling,
  type ServerMessage,
} from '@anneal/protocol';
import { and, eq, inArray } from 'drizzle-orm';
import { activeDeployments, aliasTarget, LIVE_REPLICA } from '../domain/deployments/deployments.ts';
import { createProbe, dueProbes, settleProbes } from '../domain/deployments/probes.ts';
import { monitorProbes } from './monitor.ts';

/** How the router reaches agents: the gateway. */
export interface ServingTransport {
  /** Sends to the agent's live socket; false when it has none. */
  sendTo(agentId: string, message: ServerMessage): boolean;
  /** Connected agents that host replicas (the `serve` feature). */
  servingAgents(): { id: string; name: string }[];
}

export interface ServingOptions {
  /** How often replicas are reconciled with the deployments. */
  tickMs: number;
  /** How long a request may wait and run before it fails (503). */
  generateTimeoutMs: number;
  /**
   * How long a replica whose agent is not connected (a server restart, a dropped socket) is
   * kept for the agent to re-announce it before it is replaced.
   */
  adoptGraceMs: number;
  /** The first wait before a failed webhook delivery is retried (doubling). */
  webhookBackoffMs?: number;
  log?: (line: string) => void;
}

export interface GenerateOutcome {
  requestId: string;
  replicaId: string;
  modelVersionId: string;
  request: ReplicaRequest;
  images: ImageRef[];
  grid?: ImageRef;
  queueMs: number;
  latencyMs: number;
  generateMs: number;
  nfe: number;
  steps: number;
  sampler: string;
}

type Deployment = typeof deployments.$inferSelect;
type ReplicaMessage = Extract<
  AgentMessage,
  { type: 'replica_status' | 'generate_result' | 'generate_failed' }
>;

interface Waiting {
  id: string;
  deploymentId: string;
  request: ReplicaRequest;
  enqueuedAt: number;
  dispatchedAt: number | null;
  replica: Live | null;
  resolve(outcome: GenerateOutcome): void;
  reject(err: AppError): void;
  timer: NodeJS.Timeout;
}

interface Live {
  id: string;
  deploymentId: string;
  agentId: string;
  agentName: string;
  versionId: string;
  state: 'starting' | 'ready' | 'draining';
  busy: Waiting | null;
  /** Since when its agent has not been connected (null: connected). */
  orphanSince: number | null;
  /** When this server asked for it, or loaded it after a restart. */
  startedAt: number;
}

export class ServingRouter {
  #transport: ServingTransport | null = null;
  readonly #replicas = new Map<string, Live>();
  readonly #queues = new Map<string, Waiting[]>();
  readonly #inflight = new Map<string, Waiting>();
  /** The version each deployment serves next (its alias's, or its pinned one). */
  readonly #targets = new Map<string, string>();
  /** A moving mean of each deployment's request latency, for Retry-After. */
  readonly #latency = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;
  #reconciling: Promise<void> | null = null;
  #loaded: Promise<void>;
  #closed = false;
  readonly #log: (line: string) => void;

  constructor(
    private readonly db: Db,
    readonly options: ServingOptions,
  ) {
    this.#log = options.log ?? ((line) => console.error(`[anneal-server] serving: ${line}`));
    this.#loaded = this.#load().catch((err) =>
      this.#log(`could not load the replicas from before a restart: ${(err as Error).message}`),
    );
    this.#timer = setInterval(() => void this.reconcile(), options.tickMs);
    this.#timer.unref();
  }

  attach(transport: ServingTransport): void {
    this.#transport = transport;
  }

  /** Replicas live in PostgreSQL from before a restart wait for their agents to re-announce them. */
  async #load(): Promise<void> {
    const rows = await this.db
      .select()
      .from(deploymentReplicas)
      .where(inArray(deploymentReplicas.status, [...LIVE_REPLICA]));
    const now = Date.now();
    for (const r of rows) {
      if (!r.agentId) continue;
      this.#replicas.set(r.id, {
        id: r.id,
        deploymentId: r.deploymentId,
        agentId: r.agentId,
        agentName: '',
        versionId: r.modelVersionId,
        state: r.status as Live['state'],
        busy: null,
        orphanSince: now,
        startedAt: 0,
      });
    }
  }

  /** Queues a request and resolves with the replica's answer; refuses when the queue is full. */
  async generate(deployment: Deployment, params: GenerateParams): Promise<GenerateOutcome> {
    await this.#loaded;
    if (deployment.status === 'stopped' || deployment.status === 'failed')
      throw new AppError('CONFLICT', `deployment ${deployment.name} is ${deployment.status}`);
    const request: ReplicaRequest = {
      ...resolveSampling(deployment.config as ServedSampling, params),
      seed: params.seed ?? randomInt(0, 2 ** 31 - 1),
    };
    const queue = this.#queues.get(deployment.id) ?? [];
    this.#queues.set(deployment.id, queue);
    const free = this.#candidates(deployment.id).length > 0;
    if (!free && queue.length >= deployment.queueLimit) {
      const ready = [...this.#replicas.values()].filter(
        (r) => r.deploymentId === deployment.id && r.state === 'ready',
      ).length;
      const meanMs = this.#latency.get(deployment.id) ?? 1000;
      const retryAfterS = Math.max(
        1,
        Math.ceil((meanMs * (queue.length + 1)) / Math.max(1, ready) / 1000),
      );
      const message = `deployment ${deployment.name}: ${queue.length} requests are waiting (the queue limit is ${deployment.queueLimit}); retry in ${retryAfterS} s`;
      await this.#record(deployment.id, randomUUID(), 'rejected', request, { error: message });
      throw new AppError('RATE_LIMITED', message, { retryAfterS });
    }
    return new Promise<GenerateOutcome>((resolve, reject) => {
      const waiting: Waiting = {
        id: randomUUID(),
        deploymentId: deployment.id,
        request,
        enqueuedAt: performance.now(),
        dispatchedAt: null,
        replica: null,
        resolve,
        reject,
        timer: setTimeout(() => {
          const s = Math.round(this.options.generateTimeoutMs / 1000);
          const replica = waiting.replica;
          if (replica) {
            // A replica that does not answer in time is not trusted with the next request
            // (it would queue behind the abandoned one): it is stopped and replaced.
            void this.#stopReplica(replica, `did not answer a request within ${s} s`, 'failed');
            return;
          }
          this.#fail(
            waiting,
            new AppError(
              'UNAVAILABLE',
              `no replica of deployment ${deployment.name} was free within ${s} s${this.#hasReplicas(deployment.id) ? '' : ' (none is ready: is an agent with serving connected?)'}`,
            ),
          );
        }, this.options.generateTimeoutMs),
      };
      queue.push(waiting);
      this.#dispatch(deployment.id);
    });
  }

  #hasReplicas(deploymentId: string): boolean {
    return [...this.#replicas.values()].some(
      (r) => r.deploymentId === deploymentId && r.state === 'ready',
    );
  }

  /** Ready, free, connected replicas of a deployment, those on its target version first. */
  #candidates(deploymentId: string): Live[] {
    const target = this.#targets.get(deploymentId);
    return [...this.#replicas.values()]
      .filter(
        (r) =>
          r.deploymentId === deploymentId &&
          r.state === 'ready' &&
          !r.busy &&
          r.orphanSince === null,
      )
      .sort((a, b) => Number(b.versionId === target) - Number(a.versionId === target));
  }

  #dispatch(deploymentId: string): void {
    const queue = this.#queues.get(deploymentId);
    while (queue?.length) {
      const replica = this.#candidates(deploymentId)[0];
      if (!replica) return;
      const waiting = queue.shift() as Waiting;
      replica.busy = waiting;
      waiting.replica = replica;
      waiting.dispatchedAt = performance.now();
      this.#inflight.set(waiting.id, waiting);
      const sent = this.#transport?.sendTo(replica.agentId, {
        type: 'generate',
        requestId: waiting.id,
        replicaId: replica.id,
        request: waiting.request,
      });
      if (!sent) {
        // Never delivered: back to the front of the queue for another replica.
        replica.busy = null;
        waiting.replica = null;
        waiting.dispatchedAt = null;
        this.#inflight.delete(waiting.id);
        queue.unshift(waiting);
        this.agentGone(replica.agentId);
      }
    }
  }

  /** Settles a request with an error, wherever it is (queued or in flight). */
  #fail(waiting: Waiting, err: AppError): void {
    clearTimeout(waiting.timer);
    const queue = this.#queues.get(waiting.deploymentId);
    const i = queue?.indexOf(waiting) ?? -1;
    if (i >= 0) queue?.splice(i, 1);
    if (!this.#inflight.delete(waiting.id) && i < 0) return;
    if (waiting.replica?.busy === waiting) waiting.replica.busy = null;
    const now = performance.now();
    void this.#record(waiting.deploymentId, waiting.id, 'failed', waiting.request, {
      replica: waiting.replica,
      error: err.message,
      queueMs: (waiting.dispatchedAt ?? now) - waiting.enqueuedAt,
      latencyMs: now - waiting.enqueuedAt,
    }).finally(() => waiting.reject(err));
    if (waiting.replica) this.#afterRequest(waiting.replica);
  }

  async #record(
    deploymentId: string,
    id: string,
    status: 'succeeded' | 'failed' | 'rejected',
    request: ReplicaRequest,
    o: {
      replica?: Live | null;
      error?: string;
      images?: string[];
      grid?: string;
      queueMs?: number;
      latencyMs?: number;
      generateMs?: number;
      nfe?: number;
    },
  ): Promise<void> {
    try {
      await this.db.insert(generationRequests).values({
        id,
        deploymentId,
        replicaId: o.replica?.id ?? null,
        modelVersionId: o.replica?.versionId ?? null,
        status,
        params: request,
        images: o.images ?? [],
        grid: o.grid ?? null,
        queueMs: o.queueMs ?? null,
        latencyMs: o.latencyMs ?? null,
        generateMs: o.generateMs ?? null,
        nfe: o.nfe ?? null,
        error: o.error?.slice(0, 4000) ?? null,
      });
    } catch (err) {
      this.#log(`could not record request ${id}: ${(err as Error).message}`);
    }
  }

  /** A message from an agent about its replicas or their requests. */
  async receive(agentId: string, message: ReplicaMessage): Promise<void> {
    await this.#loaded;
    if (message.type === 'replica_status') return this.#status(agentId, message);
    const waiting = this.#inflight.get(message.requestId);
    // Late (timed out, or its agent was declared gone) or not this agent's: dropped.
    if (
      !waiting ||
      waiting.replica?.id !== message.replicaId ||
      waiting.replica.agentId !== agentId
    )
      return;
    const replica = waiting.replica;
    if (message.type === 'generate_failed') {
      if (/^replica \S+ is not (hosted on this agent|ready)$/.test(message.reason)) {
        // The agent no longer has it (its failure report was lost): replaced, not retried.
        await this.#lose(replica, 'failed', `the agent says: ${message.reason}`);
        void this.reconcile();
        return;
      }
      const bad = message.reason.startsWith('bad request');
      this.#fail(
        waiting,
        new AppError(
          bad ? 'BAD_REQUEST' : 'UNAVAILABLE',
          bad ? message.reason : `replica ${replica.id} failed the request: ${message.reason}`,
        ),
      );
      return;
    }
    clearTimeout(waiting.timer);
    this.#inflight.delete(waiting.id);
    replica.busy = null;
    const now = performance.now();
    const queueMs = (waiting.dispatchedAt ?? now) - waiting.enqueuedAt;
    const latencyMs = now - waiting.enqueuedAt;
    const mean = this.#latency.get(waiting.deploymentId);
    this.#latency.set(
      waiting.deploymentId,
      mean === undefined ? latencyMs : 0.8 * mean + 0.2 * latencyMs,
    );
    await this.#record(waiting.deploymentId, waiting.id, 'succeeded', waiting.request, {
      replica,
      images: message.images.map((i) => i.sha256),
      grid: message.grid?.sha256,
      queueMs,
      latencyMs,
      generateMs: message.generateMs,
      nfe: message.nfe,
    });
    waiting.resolve({
      requestId: waiting.id,
      replicaId: replica.id,
      modelVersionId: replica.versionId,
      request: waiting.request,
      images: message.images,
      ...(message.grid ? { grid: message.grid } : {}),
      queueMs,
      latencyMs,
      generateMs: message.generateMs,
      nfe: message.nfe,
      steps: message.steps,
      sampler: message.sampler,
    });
    this.#afterRequest(replica);
  }

  /** A replica finished a request: a draining one stops now, a free one takes the next. */
  #afterRequest(replica: Live): void {
    if (replica.state === 'draining')
      void this.#stopReplica(replica, 'replaced by a newer version');
    else this.#dispatch(replica.deploymentId);
  }

  async #status(agentId: string, m: Extract<ReplicaMessage, { type: 'replica_status' }>) {
    const replica = this.#replicas.get(m.replicaId);
    if (!replica || replica.agentId !== agentId) {
      // One this server does not count (stopped, replaced): it must not keep a model loaded.
      if (m.state === 'ready')
        this.#transport?.sendTo(agentId, {
          type: 'replica_stop',
          replicaId: m.replicaId,
          reason: 'the server no longer counts this replica',
        });
      return;
    }
    if (m.state === 'ready') {
      if (replica.state === 'starting') replica.state = 'ready';
      await this.db
        .update(deploymentReplicas)
        .set({ status: replica.state, readyAt: new Date(), loadMs: m.loadMs ?? null })
        .where(eq(deploymentReplicas.id, replica.id));
      this.#log(`replica ${replica.id} ready on agent ${replica.agentName || agentId}`);
      await this.reconcile();
      this.#dispatch(replica.deploymentId);
      return;
    }
    await this.#lose(replica, m.state, m.detail ?? m.state);
    void this.reconcile();
  }

  /** Ends a replica: its in-flight request fails, the row records why. */
  async #lose(replica: Live, status: 'failed' | 'stopped', detail: string): Promise<void> {
    // Once: a replica already lost (its row says why) is not overwritten by a later reason.
    if (!this.#replicas.delete(replica.id)) return;
    if (replica.busy)
      this.#fail(
        replica.busy,
        new AppError(
          'UNAVAILABLE',
          `replica ${replica.id} on agent ${replica.agentName || replica.agentId} was lost mid-request: ${detail}`,
        ),
      );
    await this.db
      .update(deploymentReplicas)
      .set({ status, detail, stoppedAt: new Date() })
      .where(eq(deploymentReplicas.id, replica.id));
  }

  async #stopReplica(
    replica: Live,
    reason: string,
    status: 'stopped' | 'failed' = 'stopped',
  ): Promise<void> {
    this.#transport?.sendTo(replica.agentId, {
      type: 'replica_stop',
      replicaId: replica.id,
      reason,
    });
    await this.#lose(replica, status, reason);
  }

  /**
   * An agent connected (hello): its replicas are adopted again; one it holds that this server
   * no longer counts is stopped, and one this server counted that it no longer holds is lost.
   */
  async agentReady(
    agentId: string,
    name: string,
    held: {
      replicaId: string;
      deploymentId: string;
      ready: boolean;
      ended?: 'failed' | 'stopped';
      detail?: string;
    }[],
    /** When the agent's hello arrived: replicas started since are not in its list yet. */
    helloAt: number = Date.now(),
  ): Promise<void> {
    await this.#loaded;
    const listed = new Set(held.map((h) => h.replicaId));
    for (const h of held) {
      const replica = this.#replicas.get(h.replicaId);
      if (h.ended) {
        // It ended while the agent was away: recorded with its own reason.
        if (replica?.agentId === agentId) await this.#lose(replica, h.ended, h.detail ?? h.ended);
        continue;
      }
      if (!replica || replica.agentId !== agentId) {
        this.#transport?.sendTo(agentId, {
          type: 'replica_stop',
          replicaId: h.replicaId,
          reason: 'the server no longer counts this replica',
        });
        continue;
      }
      replica.orphanSince = null;
      replica.agentName = name;
      if (h.ready && replica.state === 'starting') replica.state = 'ready';
    }
    for (const replica of [...this.#replicas.values()])
      if (replica.agentId === agentId && !listed.has(replica.id) && replica.startedAt < helloAt)
        await this.#lose(replica, 'failed', `agent ${name} came back without it (restarted)`);
    void this.reconcile();
  }

  /**
   * An agent's socket closed: the request each of its replicas was running fails now (its
   * answer can no longer arrive), and the next goes to another replica. The replicas wait
   * adoptGraceMs for the agent to come back before they are replaced.
   */
  agentGone(agentId: string): void {
    for (const replica of this.#replicas.values()) {
      if (replica.agentId !== agentId || replica.orphanSince !== null) continue;
      replica.orphanSince = Date.now();
      if (replica.busy)
        this.#fail(
          replica.busy,
          new AppError(
            'UNAVAILABLE',
            `agent ${replica.agentName || agentId} disconnected mid-request (replica ${replica.id}); retry: the next request goes to another replica`,
          ),
        );
    }
  }

  /** One reconcile pass at a time; callers may await it. */
  reconcile(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#reconciling ??= this.#reconcile()
      .catch((err) => {
        // A pass cut short by close() (its pool ends) is not a failure worth a stack.
        if (!this.#closed) this.#log(`reconcile failed: ${(err as Error).stack ?? err}`);
      })
      .finally(() => {
        this.#reconciling = null;
      });
    return this.#reconciling;
  }

  async #reconcile(): Promise<void> {
    await this.#loaded;
    const transport = this.#transport;
    if (!transport) return;
    const now = Date.now();
    for (const replica of [...this.#replicas.values()])
      if (replica.orphanSince !== null && now - replica.orphanSince > this.options.adoptGraceMs)
        await this.#lose(replica, 'failed', 'its agent did not come back in time');
    const active = await activeDeployments(this.db);
    const activeIds = new Set(active.map((d) => d.id));
    // Stopped deployments: their replicas stop, their queued requests fail.
    for (const replica of [...this.#replicas.values()])
      if (!activeIds.has(replica.deploymentId) && !replica.busy)
        await this.#stopReplica(replica, 'the deployment was stopped');
    for (const [id, queue] of this.#queues)
      if (!activeIds.has(id))
        for (const w of [...queue])
          this.#fail(w, new AppError('CONFLICT', 'the deployment was stopped'));
    const agents = transport.servingAgents();
    for (const d of active) await this.#reconcileOne(d, agents);
    await monitorProbes(this.db, {
      log: this.#log,
      webhookBackoffMs: this.options.webhookBackoffMs,
    });
  }

  async #reconcileOne(d: Deployment, agents: { id: string; name: string }[]): Promise<void> {
    let target = d.modelVersionId;
    let detail: string | null = null;
    if (d.alias) {
      const aliased = await aliasTarget(this.db, d.modelId, d.alias);
      if (aliased) target = aliased;
      else detail = `alias ${d.alias} points at no version; serving the last one it did`;
    }
    this.#targets.set(d.id, target);
    const live = [...this.#replicas.values()].filter((r) => r.deploymentId === d.id);
    const onTarget = live.filter((r) => r.versionId === target && r.state !== 'draining');
    // New replicas on agents not already serving this version, least loaded first.
    const load = (agentId: string) =>
      [...this.#replicas.values()].filter((r) => r.agentId === agentId).length;
    const free = agents
      .filter((a) => !onTarget.some((r) => r.agentId === a.id))
      .sort((a, b) => load(a.id) - load(b.id));
    for (const agent of free.slice(0, Math.max(0, d.desiredReplicas - onTarget.length))) {
      const [row] = await this.db
        .insert(deploymentReplicas)
        .values({ deploymentId: d.id, agentId: agent.id, modelVersionId: target })
        .returning({ id: deploymentReplicas.id });
      if (!row) continue;
      const replica: Live = {
        id: row.id,
        deploymentId: d.id,
        agentId: agent.id,
        agentName: agent.name,
        versionId: target,
        state: 'starting',
        busy: null,
        orphanSince: null,
        startedAt: Date.now(),
      };
      this.#replicas.set(row.id, replica);
      onTarget.push(replica);
      this.#log(`replica ${row.id} of ${d.name} starting on agent ${agent.name}`);
      if (
        !this.#transport?.sendTo(agent.id, {
          type: 'replica_start',
          replicaId: row.id,
          deploymentId: d.id,
          modelVersionId: target,
        })
      )
        this.agentGone(agent.id);
    }
    // Read again: replicas may have been lost while the inserts above awaited the database.
    const now = [...this.#replicas.values()].filter((r) => r.deploymentId === d.id);
    const ready = now.filter(
      (r) => r.versionId === target && r.state === 'ready' && r.orphanSince === null,
    ).length;
    // The old version's replicas drain once the new version has all the replicas it can get.
    const wanted = Math.min(d.desiredReplicas, Math.max(1, agents.length));
    if (ready >= wanted)
      for (const old of now.filter((r) => r.versionId !== target && r.state !== 'draining')) {
        old.state = 'draining';
        // Only a live row: a request that ends while this write waits stops a draining
        // replica (#afterRequest), and the pool may commit that 'stopped' first; a late
        // 'draining' over it would leave the row live for good.
        await this.db
          .update(deploymentReplicas)
          .set({ status: 'draining' })
          .where(
            and(
              eq(deploymentReplicas.id, old.id),
              inArray(deploymentReplicas.status, [...LIVE_REPLICA]),
            ),
          );
      }
    // Draining replicas stop once idle (also those a restarted server found draining).
    for (const r of [...this.#replicas.values()])
      if (r.deploymentId === d.id && r.state === 'draining' && !r.busy && r.orphanSince === null)
        await this.#stopReplica(r, 'replaced by a newer version');
    const left = [...this.#replicas.values()].filter((r) => r.deploymentId === d.id);
    const serving = left.some((r) => r.state === 'ready' && r.orphanSince === null);
    if (!serving && !detail)
      detail =
        agents.length === 0
          ? 'waiting for an agent that serves (anneal agent) to connect'
          : `loading on ${onTarget.map((r) => r.agentName || r.agentId).join(', ')}`;
    else if (serving && !detail && left.some((r) => r.versionId !== target))
      detail = 'rolling out a new version: the old replicas serve until the new ones are ready';
    const status = serving ? 'serving' : 'pending';
    if (status !== d.status || detail !== d.detail || target !== d.modelVersionId)
      await this.db
        .update(deployments)
        .set({ status, detail, modelVersionId: target, updatedAt: new Date() })
        .where(and(eq(deployments.id, d.id), inArray(deployments.status, ['pending', 'serving'])));
    this.#dispatch(d.id);
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const w of [...this.#inflight.values(), ...[...this.#queues.values()].flat()])
      this.#fail(w, new AppError('UNAVAILABLE', 'the server is shutting down'));
  }
}
