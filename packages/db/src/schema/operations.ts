import { jsonb, pgEnum, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { agents } from './agents.ts';
import { projects } from './projects.ts';
import { modelVersions } from './registry.ts';
import { runs } from './runs.ts';

export const deploymentStatusEnum = pgEnum('deployment_status', [
  'pending',
  'serving',
  'stopped',
  'failed',
]);

/** A model version served by an agent. */
export const deployments = pgTable('deployments', {
  id: uuid('id').primaryKey().defaultRandom(),
  projectId: uuid('project_id')
    .notNull()
    .references(() => projects.id, { onDelete: 'cascade' }),
  modelVersionId: uuid('model_version_id')
    .notNull()
    .references(() => modelVersions.id, { onDelete: 'cascade' }),
  agentId: uuid('agent_id').references(() => agents.id, { onDelete: 'set null' }),
  status: deploymentStatusEnum('status').notNull().default('pending'),
  config: jsonb('config').$type<Record<string, unknown>>().notNull().default({}),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export const alertSeverityEnum = pgEnum('alert_severity', ['info', 'warning', 'critical']);

export const alerts = pgTable('alerts', {
  id: uuid('id').primaryKey().defaultRandom(),
  projectId: uuid('project_id')
    .notNull()
    .references(() => projects.id, { onDelete: 'cascade' }),
  runId: uuid('run_id').references(() => runs.id, { onDelete: 'cascade' }),
  severity: alertSeverityEnum('severity').notNull(),
  message: text('message').notNull(),
  resolvedAt: timestamp('resolved_at', { withTimezone: true }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});
