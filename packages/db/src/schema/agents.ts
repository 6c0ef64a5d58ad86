import {
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
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

/**
 * Leased to one agent at a time (a data-parallel job: to a group, rank 0 holding the job's
 * lease; job_ranks); an expired lease puts the job back in the queue.
 */
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

/**
 * The ranks of a data-parallel job's attempt, leased as one group (`groupLeaseId`, the job's
 * lease for that attempt): every rank's agent holds a lease of its own (`leaseId`; rank 0's is
 * the group's), renewed by its heartbeats, and the job's lease runs out when the first of them
 * does. `address` is where the rank listens on MLX's ring backend, set when its agent is
 * ready; `finishedAt` when a rank other than 0 has finished its part (it renews nothing after
 * that). Kept after the attempt, for the run page; `attempt` is the job's count when leased
 * (a retried job counts again from 1, so it does not name a group on its own).
 */
export const jobRanks = pgTable(
  'job_ranks',
  {
    jobId: uuid('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    attempt: integer('attempt').notNull(),
    rank: integer('rank').notNull(),
    /** The job's lease for this attempt (rank 0's). */
    groupLeaseId: uuid('group_lease_id').notNull(),
    leaseId: uuid('lease_id').notNull(),
    agentId: uuid('agent_id').references(() => agents.id, { onDelete: 'set null' }),
    leaseExpiresAt: timestamp('lease_expires_at', { withTimezone: true }).notNull(),
    address: text('address'),
    readyAt: timestamp('ready_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    leasedAt: timestamp('leased_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.groupLeaseId, t.rank] }),
    uniqueIndex('job_ranks_lease_unique').on(t.leaseId),
    index('job_ranks_job_idx').on(t.jobId),
  ],
);
