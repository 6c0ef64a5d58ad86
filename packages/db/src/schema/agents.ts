import { index, integer, jsonb, pgEnum, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { tokens } from './auth.ts';
import { organizations } from './orgs.ts';
import { projects } from './projects.ts';

export const agents = pgTable('agents', {
  id: uuid('id').primaryKey().defaultRandom(),
  orgId: uuid('org_id')
    .notNull()
    .references(() => organizations.id, { onDelete: 'cascade' }),
  tokenId: uuid('token_id').references(() => tokens.id, { onDelete: 'set null' }),
  name: text('name').notNull(),
  version: text('version').notNull().default(''),
  /** The agent's hardware probe: backend, chip, memory, cores. */
  hardware: jsonb('hardware').$type<Record<string, unknown>>().notNull().default({}),
  /** The last bench job's result on this agent (the protocol's agentBenchmarkSchema). */
  benchmark: jsonb('benchmark').$type<Record<string, unknown>>(),
  lastSeenAt: timestamp('last_seen_at', { withTimezone: true }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

export const jobStatusEnum = pgEnum('job_status', [
  'queued',
  'leased',
  'running',
  'succeeded',
  'failed',
  'cancelled',
]);

/** Leased to one agent at a time; an expired lease puts the job back in the queue. */
export const jobs = pgTable(
  'jobs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    spec: jsonb('spec').$type<Record<string, unknown>>().notNull(),
    status: jobStatusEnum('status').notNull().default('queued'),
    leaseId: uuid('lease_id'),
    leaseOwner: uuid('lease_owner').references(() => agents.id, { onDelete: 'set null' }),
    leaseExpiresAt: timestamp('lease_expires_at', { withTimezone: true }),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(3),
    /** Pipelines are DAGs of jobs; a job waits for these. */
    dependsOn: jsonb('depends_on').$type<string[]>().notNull().default([]),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('jobs_status_idx').on(t.status, t.createdAt)],
);
