import {
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  real,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { agents, jobs } from './agents.ts';
import { users } from './orgs.ts';
import { projects } from './projects.ts';
import { modelVersions, registeredModels } from './registry.ts';
import { runs } from './runs.ts';

export const deploymentStatusEnum = pgEnum('deployment_status', [
  'pending',
  'serving',
  'stopped',
  'failed',
]);

/**
 * A model version served by agents: pinned to `modelVersionId`, or following `alias` of its
 * registered model (then `modelVersionId` is the version the alias pointed at when last seen,
 * the one new replicas load). `desiredReplicas` replicas run on distinct agents when there are
 * that many; requests beyond `queueLimit` waiting are refused (429).
 */
export const deployments = pgTable(
  'deployments',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    modelId: uuid('model_id')
      .notNull()
      .references(() => registeredModels.id, { onDelete: 'cascade' }),
    alias: text('alias'),
    modelVersionId: uuid('model_version_id')
      .notNull()
      .references(() => modelVersions.id, { onDelete: 'cascade' }),
    status: deploymentStatusEnum('status').notNull().default('pending'),
    /** Why the deployment is pending or failed, in words. */
    detail: text('detail'),
    desiredReplicas: integer('desired_replicas').notNull().default(1),
    queueLimit: integer('queue_limit').notNull().default(16),
    /** The served sampling (the protocol's servedSamplingSchema). */
    config: jsonb('config').$type<Record<string, unknown>>().notNull().default({}),
    /**
     * Quality probes on a schedule (domain/deployments/probes.ts probeConfigSchema): every
     * `every_s` an evaluate job of the served version and sampling; null: on demand only.
     */
    probe: jsonb('probe').$type<Record<string, unknown>>(),
    /**
     * Alert rules on the probes and where alerts go (domain/deployments/alerts.ts
     * alertingSchema): {rules, webhook: {url}}; null: no alerts.
     */
    alerting: jsonb('alerting').$type<Record<string, unknown>>(),
    /** The HMAC-SHA256 key webhook deliveries are signed with (set with the webhook). */
    webhookSecret: text('webhook_secret'),
    /** The probe rules compare against (the first one that succeeded, unless set). */
    baselineProbeId: uuid('baseline_probe_id'),
    /** Who deployed it: scheduled probes run as their jobs. */
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('deployments_project_name_unique').on(t.projectId, t.name)],
);

export const replicaStatusEnum = pgEnum('replica_status', [
  /** Asked of the agent, loading. */
  'starting',
  'ready',
  /** Replaced by a replica of a newer version: finishes its request, takes no new one. */
  'draining',
  'stopped',
  'failed',
]);

/** One copy of a deployment's model loaded on one agent. */
export const deploymentReplicas = pgTable(
  'deployment_replicas',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    deploymentId: uuid('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    agentId: uuid('agent_id').references(() => agents.id, { onDelete: 'set null' }),
    modelVersionId: uuid('model_version_id')
      .notNull()
      .references(() => modelVersions.id, { onDelete: 'cascade' }),
    status: replicaStatusEnum('status').notNull().default('starting'),
    detail: text('detail'),
    loadMs: real('load_ms'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    readyAt: timestamp('ready_at', { withTimezone: true }),
    stoppedAt: timestamp('stopped_at', { withTimezone: true }),
  },
  (t) => [index('deployment_replicas_deployment').on(t.deploymentId, t.status)],
);

export const generationStatusEnum = pgEnum('generation_status', [
  'succeeded',
  'failed',
  'rejected',
]);

/** Every generation request a deployment answered: its latency, outcome and images. */
export const generationRequests = pgTable(
  'generation_requests',
  {
    id: uuid('id').primaryKey(),
    deploymentId: uuid('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    replicaId: uuid('replica_id').references(() => deploymentReplicas.id, {
      onDelete: 'set null',
    }),
    modelVersionId: uuid('model_version_id').references(() => modelVersions.id, {
      onDelete: 'set null',
    }),
    status: generationStatusEnum('status').notNull(),
    /** The resolved request (the protocol's replicaRequestSchema). */
    params: jsonb('params').$type<Record<string, unknown>>().notNull(),
    /** sha256 of each image, in order. */
    images: jsonb('images').$type<string[]>().notNull().default([]),
    /** sha256 of the images tiled as one grid PNG (n > 1). */
    grid: text('grid'),
    /** Waiting for a free replica; the whole request as the server saw it; the child's part. */
    queueMs: real('queue_ms'),
    latencyMs: real('latency_ms'),
    generateMs: real('generate_ms'),
    nfe: integer('nfe'),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('generation_requests_deployment_time').on(t.deploymentId, t.createdAt)],
);

export const probeStatusEnum = pgEnum('probe_status', ['queued', 'succeeded', 'failed']);

/**
 * One quality probe of a deployment: an evaluate job of the version it served and its served
 * sampling, scored with the metric pipeline against the version's held-out data; `metrics`
 * are the job's numbers with their floors.
 */
export const deploymentProbes = pgTable(
  'deployment_probes',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    deploymentId: uuid('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    modelVersionId: uuid('model_version_id')
      .notNull()
      .references(() => modelVersions.id, { onDelete: 'cascade' }),
    jobId: uuid('job_id').references(() => jobs.id, { onDelete: 'set null' }),
    runId: uuid('run_id').references(() => runs.id, { onDelete: 'set null' }),
    trigger: text('trigger').notNull(),
    status: probeStatusEnum('status').notNull().default('queued'),
    metrics: jsonb('metrics').$type<Record<string, number>>().notNull().default({}),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [index('deployment_probes_deployment_time').on(t.deploymentId, t.createdAt)],
);

export const alertSeverityEnum = pgEnum('alert_severity', ['info', 'warning', 'critical']);

export const alertStatusEnum = pgEnum('alert_status', ['open', 'acknowledged', 'resolved']);

/**
 * An alert: a deployment's probe broke one of its rules (evidence: the metric, its floor, the
 * baseline or the trailing window, the probes). One stays open per deployment and rule key
 * until resolved: a later breach updates it instead of raising another.
 */
export const alerts = pgTable(
  'alerts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    runId: uuid('run_id').references(() => runs.id, { onDelete: 'cascade' }),
    deploymentId: uuid('deployment_id').references(() => deployments.id, { onDelete: 'cascade' }),
    ruleKey: text('rule_key'),
    severity: alertSeverityEnum('severity').notNull(),
    status: alertStatusEnum('status').notNull().default('open'),
    message: text('message').notNull(),
    evidence: jsonb('evidence').$type<Record<string, unknown>>().notNull().default({}),
    /** What to do about it, computed from the registry (domain/deployments/alerts.ts). */
    suggestion: jsonb('suggestion').$type<Record<string, unknown>>(),
    /** Webhook delivery: attempts, when it was delivered, the last error. */
    delivery: jsonb('delivery').$type<Record<string, unknown>>().notNull().default({}),
    acknowledgedAt: timestamp('acknowledged_at', { withTimezone: true }),
    acknowledgedBy: uuid('acknowledged_by').references(() => users.id, { onDelete: 'set null' }),
    resolvedAt: timestamp('resolved_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('alerts_deployment_rule').on(t.deploymentId, t.ruleKey, t.status)],
);
