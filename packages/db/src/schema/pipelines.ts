import {
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { jobs } from './agents.ts';
import { alerts, deployments } from './operations.ts';
import { users } from './orgs.ts';
import { projects } from './projects.ts';
import { runs } from './runs.ts';

/**
 * A pipeline: a named DAG of nodes (job kinds, registering an alias, deploying) with
 * conditions and retries, kept per project and triggered by REST, the dashboard or an alert.
 * `spec` is apps/web's pipelineSpecSchema (domain/pipelines/spec.ts).
 */
export const pipelines = pgTable(
  'pipelines',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description'),
    spec: jsonb('spec').$type<Record<string, unknown>>().notNull(),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('pipelines_project_name_unique').on(t.projectId, t.name)],
);

export const pipelineRunStatusEnum = pgEnum('pipeline_run_status', [
  'running',
  'succeeded',
  'failed',
  'cancelled',
]);

/**
 * One run of a pipeline: the spec as it was when triggered and the params it was given. The
 * server advances it (domain/pipelines/advance.ts) from what PostgreSQL holds, so a restart
 * picks it up where it was.
 */
export const pipelineRuns = pgTable(
  'pipeline_runs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    pipelineId: uuid('pipeline_id').references(() => pipelines.id, { onDelete: 'set null' }),
    name: text('name').notNull(),
    spec: jsonb('spec').$type<Record<string, unknown>>().notNull(),
    params: jsonb('params').$type<Record<string, unknown>>().notNull().default({}),
    status: pipelineRunStatusEnum('status').notNull().default('running'),
    /** api, dashboard or alert. */
    trigger: text('trigger').notNull(),
    /** The alert whose suggestion this run carries out. */
    alertId: uuid('alert_id').references(() => alerts.id, { onDelete: 'set null' }),
    error: text('error'),
    /** The nodes' jobs run as this user. */
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [
    index('pipeline_runs_status').on(t.status),
    index('pipeline_runs_pipeline_time').on(t.pipelineId, t.createdAt),
  ],
);

export const pipelineNodeStatusEnum = pgEnum('pipeline_node_status', [
  'pending',
  'running',
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
]);

/**
 * One node of a pipeline run: its current attempt's job (a job kind) or deployment (a deploy
 * node), what it produced (`outputs`, which later nodes’ specs and conditions read) and why
 * it is waiting, was skipped or failed (`detail`).
 */
export const pipelineNodes = pgTable(
  'pipeline_nodes',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    pipelineRunId: uuid('pipeline_run_id')
      .notNull()
      .references(() => pipelineRuns.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    kind: text('kind').notNull(),
    status: pipelineNodeStatusEnum('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    jobId: uuid('job_id').references(() => jobs.id, { onDelete: 'set null' }),
    runId: uuid('run_id').references(() => runs.id, { onDelete: 'set null' }),
    deploymentId: uuid('deployment_id').references(() => deployments.id, {
      onDelete: 'set null',
    }),
    outputs: jsonb('outputs').$type<Record<string, unknown>>().notNull().default({}),
    detail: text('detail'),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('pipeline_nodes_run_key_unique').on(t.pipelineRunId, t.key)],
);
