import {
  type AnyPgColumn,
  bigint,
  bigserial,
  doublePrecision,
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
import { z } from 'zod';
import { jobs } from './agents.ts';
import { datasetVersions } from './datasets.ts';
import { users } from './orgs.ts';
import { projects } from './projects.ts';

export const runStatusEnum = pgEnum('run_status', [
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
]);
export const RUN_STATUSES = runStatusEnum.enumValues;

export type ParamValue = string | number | boolean | null;

/**
 * An MLflow DatasetInput as its JSON has it (the dataset and the input's tags), with MLflow's
 * limits: what runs/log-inputs accepts, runs.mlflow_inputs keeps and the REST API returns.
 */
export const mlflowDatasetInputSchema = z.object({
  tags: z
    .array(z.object({ key: z.string().max(255), value: z.string().max(500) }))
    .max(100)
    .default([]),
  dataset: z.object({
    name: z.string().min(1).max(500),
    digest: z.string().min(1).max(36),
    source_type: z.string().min(1).max(36),
    source: z.string().max(65_535),
    schema: z.string().max(1_048_575).optional(),
    profile: z.string().max(16_777_215).optional(),
  }),
});
export type MlflowDatasetInput = z.infer<typeof mlflowDatasetInputSchema>;

export const runs = pgTable(
  'runs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    status: runStatusEnum('status').notNull().default('running'),
    params: jsonb('params').$type<Record<string, ParamValue>>().notNull().default({}),
    tags: jsonb('tags').$type<Record<string, string>>().notNull().default({}),
    parentRunId: uuid('parent_run_id').references((): AnyPgColumn => runs.id, {
      onDelete: 'set null',
    }),
    datasetVersionId: uuid('dataset_version_id').references(() => datasetVersions.id, {
      onDelete: 'set null',
    }),
    /** A built-in dataset (`mnist`, `shapes`) when no stored version is used. */
    datasetBuiltin: text('dataset_builtin'),
    jobId: uuid('job_id').references(() => jobs.id, { onDelete: 'set null' }),
    /**
     * The step of the run's last complete uploaded checkpoint, where a re-leased job resumes.
     * System state, kept apart from the user's tags so that no tag update can move it.
     */
    checkpointStep: integer('checkpoint_step'),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    endedAt: timestamp('ended_at', { withTimezone: true }),
    /**
     * What MLflow's runs/log-inputs recorded: dataset inputs (deduplicated by name and
     * digest, as MLflow does) and logged-model inputs, in MLflow's JSON shapes.
     */
    mlflowInputs: jsonb('mlflow_inputs')
      .$type<{ datasets: MlflowDatasetInput[]; models: { model_id: string }[] }>()
      .notNull()
      .default({ datasets: [], models: [] }),
    /** Soft-deleted through MLflow (its lifecycle_stage "deleted"): hidden, restorable. */
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
  },
  (t) => [index('runs_project_idx').on(t.projectId, t.startedAt)],
);

/** Delivery is at least once, so (run, key, step) is unique and writes upsert. */
export const metrics = pgTable(
  'metrics',
  {
    runId: uuid('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    step: bigint('step', { mode: 'number' }).notNull(),
    value: doublePrecision('value').notNull(),
    time: timestamp('time', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.key, t.step] })],
);

/** Bytes live content-addressed in the artifact store; rows name them per run. */
export const artifacts = pgTable(
  'artifacts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    runId: uuid('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    path: text('path').notNull(),
    sha256: text('sha256').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    contentType: text('content_type').notNull().default('application/octet-stream'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('artifacts_run_path_unique').on(t.runId, t.path),
    index('artifacts_sha256_idx').on(t.sha256),
  ],
);

export const runLogs = pgTable(
  'run_logs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    runId: uuid('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    /** The sender's sequence number: replays after a reconnect do not duplicate lines. */
    seq: integer('seq').notNull(),
    line: text('line').notNull(),
    time: timestamp('time', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('run_logs_run_seq_unique').on(t.runId, t.seq)],
);
