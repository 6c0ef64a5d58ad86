import { datasetRefSchema } from '@anneal/datasets/ref';
import { hardwareProfileSchema } from '@anneal/engine/config';
import { z } from 'zod';
import { jobSpecSchema } from './jobs.ts';
import {
  generateFailedSchema,
  generateResultSchema,
  generateSchema,
  heldReplicaSchema,
  replicaStartSchema,
  replicaStatusSchema,
  replicaStopSchema,
} from './serving.ts';
import { INT4_MAX, storable } from './storable.ts';

/**
 * Bumped on any incompatible change. Agent and server must agree exactly; a mismatch
 * closes the socket with CLOSE_CODES.versionMismatch.
 */
export const PROTOCOL_VERSION = 1;

/** Frames above this are refused unread; bytes go over HTTP, never the socket. */
export const MAX_FRAME_BYTES = 1024 * 1024;

const id = z.uuid();
const lease = { jobId: id, leaseId: id };
/** Journaled messages carry the agent's sequence number; the server acks it once stored. */
const journaled = { ...lease, ref: z.number().int().min(0).optional() };

export const metricPointSchema = z.object({
  key: z.string().min(1).max(250),
  step: z.number().int().min(0),
  value: z.number().refine(Number.isFinite, { message: 'must be a finite number' }),
});
export type MetricPoint = z.infer<typeof metricPointSchema>;

export const artifactRefSchema = z.object({
  path: z.string().min(1).max(1000),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().min(0),
});
export type ArtifactRef = z.infer<typeof artifactRefSchema>;

// Agent -> server.

/**
 * What this build's agent can run beyond protocol 1's first specs, named `<kind>.<field>`:
 * a spec field added later is one more name here, and the server leases a spec that uses it
 * only to agents that said they know it (an older agent's strict spec schema would drop the
 * offer as malformed). Append only; a name keeps its meaning.
 */
export const AGENT_FEATURES = [
  'train.sample_every',
  'plan',
  'evaluate.resolutions',
  'train.resolutions',
  /** Hosts deployment replicas (`anneal serve`) and answers generation requests. */
  'serve',
  /** Runs one rank of a data-parallel group (job_offer.group, job_group_ready/start). */
  'train.ranks',
  /** The same for distill jobs (`anneal distill --ranks`). */
  'distill.ranks',
  /** Runs search jobs (`anneal search`): an older agent would drop the offer as unknown. */
  'search',
  /** Evaluates at aspect buckets: evaluate.resolutions entries "HxW" beside square sides. */
  'evaluate.shapes',
] as const;

export const helloSchema = z.object({
  type: z.literal('hello'),
  agentVersion: z.string().min(1).max(100),
  protocolVersion: z.number().int(),
  name: z.string().min(1).max(200),
  hardware: hardwareProfileSchema,
  /**
   * Bytes a job may use on this agent (ANNEAL_MEMORY_BUDGET, or the engine's default share
   * of the working set); jobs estimated above it are not offered. Absent: the default.
   */
  memoryBudgetBytes: z.number().int().positive().optional(),
  /** How many more jobs this agent takes now (0 while it is busy). */
  capacity: z.number().int().min(0).max(64),
  /** AGENT_FEATURES of the agent's build; absent (an agent from before them): none. */
  features: z.array(z.string().min(1).max(100)).max(100).default([]),
  /** Leases still held from before a reconnect: renewed at once, before any sweep. */
  leases: z.array(z.object(lease)).max(64).default([]),
  /** Deployment replicas still running from before a reconnect: the server re-adopts them. */
  replicas: z.array(heldReplicaSchema).max(64).default([]),
});

export const heartbeatSchema = z.object({
  type: z.literal('heartbeat'),
  seq: z.number().int().min(0),
  capacity: z.number().int().min(0).max(64),
  /** The leases this agent holds; each is renewed, the ones the server refuses come back. */
  leases: z.array(z.object(lease)).max(64),
});

export const jobAcceptSchema = z.object({ type: z.literal('job_accept'), ...lease });

/** The longest phase text and the largest ETA a job_progress carries (agents clamp to them). */
export const PROGRESS_MESSAGE_MAX = 1000;
export const ETA_MAX_S = 1e9;

export const jobProgressSchema = z.object({
  type: z.literal('job_progress'),
  ...journaled,
  step: z.number().int().min(0),
  total: z.number().int().min(1),
  /** The phase `step` counts in (evaluate: extractor, sample, scoring, reference). */
  message: z.string().max(PROGRESS_MESSAGE_MAX).optional(),
  /** Seconds left of the whole job, from the child; at least that when etaLowerBound. */
  etaS: z.number().min(0).max(ETA_MAX_S).optional(),
  etaLowerBound: z.boolean().optional(),
});

export const jobMetricsSchema = z.object({
  type: z.literal('job_metrics'),
  ...journaled,
  points: z.array(metricPointSchema).min(1).max(10_000),
});

export const jobArtifactSchema = z.object({
  type: z.literal('job_artifact'),
  ...journaled,
  artifact: artifactRefSchema,
  /** Set on the last file of a checkpoint: the checkpoint at this step is complete. */
  checkpointStep: z.number().int().min(0).max(INT4_MAX).optional(),
});

/** How many of a failed job's last output lines travel with its failure. */
export const JOB_LOG_TAIL_LINES = 50;

export const jobCompleteSchema = z.object({
  type: z.literal('job_complete'),
  ...journaled,
  summary: z.record(z.string(), z.unknown()).default({}),
});

export const jobFailSchema = z.object({
  type: z.literal('job_fail'),
  ...journaled,
  reason: z.string().min(1).max(4000),
  /** False when retrying cannot help (a bad spec); the job fails without a new attempt. */
  retryable: z.boolean().default(true),
  /** The child's last output lines (stderr and non-JSON stdout), kept as the run's logs. */
  log: z.array(z.string().max(2000)).max(JOB_LOG_TAIL_LINES).optional(),
});

/**
 * A rank of a group lease has its inputs (checkpoint, dataset) and a port to listen on:
 * `address` is the "host:port" the other ranks reach it at on MLX's ring backend.
 */
export const jobGroupReadySchema = z.object({
  type: z.literal('job_group_ready'),
  ...journaled,
  address: z
    .string()
    .max(300)
    .regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port (an IPv4 address or a host name)'),
});

export const agentMessageSchema = z.discriminatedUnion('type', [
  helloSchema,
  heartbeatSchema,
  jobAcceptSchema,
  jobProgressSchema,
  jobMetricsSchema,
  jobArtifactSchema,
  jobCompleteSchema,
  jobFailSchema,
  jobGroupReadySchema,
  replicaStatusSchema,
  generateResultSchema,
  generateFailedSchema,
]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;
export type AgentMessageInput = z.input<typeof agentMessageSchema>;

// Server -> agent.

export const welcomeSchema = z.object({
  type: z.literal('welcome'),
  agentId: id,
  protocolVersion: z.number().int(),
  heartbeatMs: z.number().int().positive(),
  leaseMs: z.number().int().positive(),
});

export const heartbeatAckSchema = z.object({
  type: z.literal('heartbeat_ack'),
  seq: z.number().int().min(0),
  /** Leases the server no longer honours: the agent stops those jobs. */
  lost: z.array(z.object(lease)),
});

export const jobOfferSchema = z.object({
  type: z.literal('job_offer'),
  ...lease,
  runId: id,
  projectId: id,
  leaseExpiresAt: z.iso.datetime(),
  attempt: z.number().int().min(1),
  job: jobSpecSchema,
  /** The run's last uploaded checkpoint, when a re-leased job resumes. */
  resume: z
    .object({ step: z.number().int().min(0), artifacts: z.array(artifactRefSchema) })
    .nullable(),
  /**
   * For sample and evaluate jobs, the dataset of the train job behind their checkpoint, so
   * the agent can fetch a version before evaluating; null when no train job is known (an
   * imported checkpoint). Optional: servers before it send none.
   */
  sourceDataset: datasetRefSchema.nullable().optional(),
  /**
   * One rank of a data-parallel group (offered only to agents with 'train.ranks'): the
   * agent fetches the job's inputs, answers job_group_ready with its address, and starts
   * the rank when job_group_start brings every rank's. Rank 0 reports for the job (metrics,
   * checkpoints, the summary); the other ranks report only their failure or completion.
   */
  group: z.object({ rank: z.number().int().min(0), size: z.number().int().min(2) }).optional(),
});

/** Every rank of a group is ready: the ranks' addresses in rank order (MLX's ring hostfile). */
export const jobGroupStartSchema = z.object({
  type: z.literal('job_group_start'),
  ...lease,
  hosts: z.array(z.array(z.string().min(1).max(300)).length(1)).min(2),
});

export const jobCancelSchema = z.object({
  type: z.literal('job_cancel'),
  ...lease,
  reason: z.string(),
});

export const errorCodes = [
  'malformed',
  'stale_lease',
  'not_yours',
  'unknown_job',
  'internal',
] as const;

export const errorSchema = z.object({
  type: z.literal('error'),
  code: z.enum(errorCodes),
  message: z.string(),
  /** The job the refused message was about, when it named one. */
  jobId: id.optional(),
});

/** Answers a message that needs it (progress, metrics, complete...), so the journal may drop it. */
export const ackSchema = z.object({ type: z.literal('ack'), ref: z.number().int().min(0) });

export const serverMessageSchema = z.discriminatedUnion('type', [
  welcomeSchema,
  heartbeatAckSchema,
  jobOfferSchema,
  jobCancelSchema,
  jobGroupStartSchema,
  errorSchema,
  ackSchema,
  replicaStartSchema,
  replicaStopSchema,
  generateSchema,
]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;
export type JobOffer = z.infer<typeof jobOfferSchema>;

/** WebSocket close codes (4000-4999 are the application's) and what the agent does next. */
export const CLOSE_CODES = {
  badToken: 4001,
  versionMismatch: 4002,
  revoked: 4003,
  malformedFlood: 4004,
  helloTimeout: 4005,
  replaced: 4006,
} as const;

export const CLOSE_REASONS: Record<number, { message: string; reconnect: boolean }> = {
  [CLOSE_CODES.badToken]: { message: 'unknown or revoked agent token', reconnect: false },
  [CLOSE_CODES.versionMismatch]: {
    message: `protocol version mismatch: upgrade the agent or the server`,
    reconnect: false,
  },
  [CLOSE_CODES.revoked]: { message: 'the agent token was revoked', reconnect: false },
  [CLOSE_CODES.malformedFlood]: { message: 'too many malformed messages', reconnect: true },
  [CLOSE_CODES.helloTimeout]: { message: 'no hello in time', reconnect: true },
  [CLOSE_CODES.replaced]: { message: 'another connection took over this agent', reconnect: false },
};

export type Parsed<T> = { ok: true; message: T } | { ok: false; error: string };

function parseWith<T>(schema: z.ZodType<T>, raw: string | Buffer): Parsed<T> {
  let data: unknown;
  try {
    data = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      error: `${issue?.path.join('.') || 'message'}: ${issue?.message ?? 'invalid'}`,
    };
  }
  return { ok: true, message: parsed.data };
}

/** Parses one frame from an agent (refusing what PostgreSQL cannot store); never throws. */
export const parseAgentMessage = (raw: string | Buffer) =>
  parseWith(storable(agentMessageSchema), raw);
/** Parses one frame from the server; never throws. */
export const parseServerMessage = (raw: string | Buffer) => parseWith(serverMessageSchema, raw);
