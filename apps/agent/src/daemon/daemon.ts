import { join } from 'node:path';
import type { HardwareProfile } from '@anneal/engine/config';
import {
  AGENT_FEATURES,
  type AgentMessageInput,
  type JobOffer,
  PROTOCOL_VERSION,
  type ServerMessage,
} from '@anneal/protocol';
import { AgentConnection, ConnectionState } from './connection.ts';
import { ServerApi } from './http.ts';
import { Journal } from './journal.ts';
import { ReplicaHost } from './replicas.ts';
import { JobSupervisor, spawnAnneal } from './supervisor.ts';

export const AGENT_VERSION = '0.1.0';

export interface DaemonOptions {
  server: string;
  token: string;
  name: string;
  home: string;
  hardware: HardwareProfile;
  /** The memory budget jobs get here, told to the server so it offers only jobs that fit. */
  memoryBudgetBytes?: number;
  capacity?: number;
  log?: (line: string) => void;
  backoff?: { baseMs: number; maxMs: number };
  /**
   * The address the other ranks of a data-parallel group reach this agent at (MLX's ring
   * backend); default: this side of the connection to the server.
   */
  groupHost?: string;
}

/**
 * `anneal agent`: holds the connection, runs offered jobs in child processes, and sends
 * what they report through the on-disk journal, so nothing is lost across reconnects or
 * a restart of the agent itself.
 */
export class AgentDaemon {
  readonly connection: AgentConnection;
  readonly journal: Journal;
  readonly api: ServerApi;
  readonly jobs = new Map<string, JobSupervisor>();
  /** Deployment replicas; they do not take job capacity (a served model idles between requests). */
  readonly replicas: ReplicaHost;
  readonly #log: (line: string) => void;
  readonly #capacity: number;

  constructor(private readonly options: DaemonOptions) {
    this.#log = options.log ?? ((line) => process.stderr.write(`[anneal agent] ${line}\n`));
    this.#capacity = options.capacity ?? 1;
    this.api = new ServerApi(options.server, options.token);
    this.journal = new Journal(join(options.home, 'agent', 'journal.jsonl'));
    this.replicas = new ReplicaHost(
      this.api,
      join(options.home, 'agent', 'replicas'),
      (message) => this.connection.send(message),
      this.#log,
    );
    this.connection = new AgentConnection({
      url: options.server,
      token: options.token,
      backoff: options.backoff,
      log: this.#log,
      hello: () => ({
        type: 'hello',
        agentVersion: AGENT_VERSION,
        protocolVersion: PROTOCOL_VERSION,
        name: options.name,
        hardware: options.hardware,
        memoryBudgetBytes: options.memoryBudgetBytes,
        capacity: this.#free(),
        features: [...AGENT_FEATURES],
        leases: [...this.jobs.values()].map((j) => j.lease),
        replicas: this.replicas.held(),
      }),
      heartbeat: (seq) => ({
        type: 'heartbeat',
        seq,
        capacity: this.#free(),
        leases: [...this.jobs.values()].map((j) => j.lease),
      }),
      onMessage: (m) => this.#receive(m),
      onStateChange: (state, detail) => {
        this.#log(`${state}${detail ? `: ${detail}` : ''}`);
        if (state === ConnectionState.Ready) this.#replay();
      },
    });
  }

  start(): void {
    this.connection.connect();
  }

  /** Stops every job and the connection (manual disconnect: no reconnect). */
  async stop(): Promise<void> {
    for (const job of this.jobs.values()) job.stop('agent stopping');
    await Promise.all([
      ...[...this.jobs.values()].map((j) => j.done),
      this.replicas.stopAll('agent stopping'),
    ]);
    this.connection.disconnect();
  }

  #free(): number {
    return Math.max(0, this.#capacity - this.jobs.size);
  }

  /** Journals a message that must arrive, and sends it now if the socket is up. */
  #report = (message: AgentMessageInput): void => {
    // Progress is a hint, superseded by the next one, and a waiting rank says it is ready
    // again every few seconds: both are sent, never journaled.
    if (message.type === 'job_progress' || message.type === 'job_group_ready') {
      this.connection.send(message);
      return;
    }
    this.connection.send(this.journal.append(message));
  };

  #replay(): void {
    const pending = this.journal.pending();
    if (pending.length) this.#log(`replaying ${pending.length} journaled messages`);
    for (const message of pending) this.connection.send(message);
  }

  #receive(message: ServerMessage): void {
    if (this.replicas.receive(message)) return;
    switch (message.type) {
      case 'ack':
        this.journal.ack(message.ref);
        return;
      case 'job_offer':
        this.#accept(message);
        return;
      case 'job_cancel':
        this.#held(message)?.stop(`cancelled: ${message.reason}`);
        return;
      case 'job_group_start':
        this.#held(message)?.startGroup(message.hosts);
        return;
      case 'heartbeat_ack':
        for (const lost of message.lost) this.#held(lost)?.stop('lease lost');
        return;
      case 'error':
        this.#log(`server: ${message.code}: ${message.message}`);
        return;
      default:
        return;
    }
  }

  /**
   * The job a message names, when this agent runs it under that lease: a message about an
   * earlier lease of the same job (a group's last attempt) leaves the new one alone.
   */
  #held(lease: { jobId: string; leaseId: string }): JobSupervisor | undefined {
    const job = this.jobs.get(lease.jobId);
    return job?.offer.leaseId === lease.leaseId ? job : undefined;
  }

  #accept(offer: JobOffer): void {
    if (this.jobs.has(offer.jobId)) {
      // A re-lease of a job still running here (after a reconnect): the old lease is gone.
      this.jobs.get(offer.jobId)?.stop('re-leased');
    }
    this.connection.send({ type: 'job_accept', jobId: offer.jobId, leaseId: offer.leaseId });
    const job = new JobSupervisor(
      offer,
      this.api,
      join(this.options.home, 'agent', 'jobs'),
      this.#report,
      this.#log,
      this.options.home,
      spawnAnneal,
      () => this.options.groupHost ?? this.connection.localAddress() ?? '127.0.0.1',
    );
    this.jobs.set(offer.jobId, job);
    this.#log(`job ${offer.jobId} (${offer.job.type}, attempt ${offer.attempt}) started`);
    job.start();
    void job.done.then(() => {
      if (this.jobs.get(offer.jobId) === job) this.jobs.delete(offer.jobId);
    });
  }
}
